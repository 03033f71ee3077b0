# -*- test-case-name: tests.chrono.test_service -*-
"""
The C{chrono} service: Cocaine 0.12's timers on the reactor's clock.

C{notify_after(seconds, send_id=false)} writes the timer's id on its
stream when it fires, then closes the stream. C{notify_every(seconds,
send_id=false)} writes the id on every tick. With C{send_id} the id is
also written at once, so the client can C{cancel} or C{restart} it.
C{cancel(id)} closes the timer's stream (an unknown id is no error, as in
0.12); C{restart(id)} arms the timer again for its interval from now (0
for a C{notify_after} timer: it fires at once, as in 0.12); an unknown id
is an error. Ids are random in 0 to 2**31 - 1, as 0.12's C{rand()}, and
any client may cancel or restart any timer. A client that goes away
takes its timers with it.
"""

import math
import random

from twisted.application.service import Service
from twisted.logger import Logger
from zope.interface import implementer

from cocaine.errors import InvalidArgument, TimerNotFound
from cocaine.interfaces import IRPCService
from cocaine.protocol.chrono import CHRONO, CHRONO_VERSION

#: Ids are below this, as 0.12's C{rand()} gives them.
ID_LIMIT = 2 ** 31


class _Timer:
    """
    One timer: its stream, its interval (0: fires once) and its pending
    call.
    """

    __slots__ = ("id", "upstream", "interval", "call")

    def __init__(self, id, upstream, interval):
        self.id = id
        self.upstream = upstream
        self.interval = interval
        self.call = None


def _seconds(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            not math.isfinite(value)) or value < 0:
        raise InvalidArgument("chrono: argument 'time' must be a number of "
                              "seconds >= 0, got {!r}".format(value))
    return float(value)


def _flag(value):
    if type(value) is not bool:
        raise InvalidArgument("chrono: argument 'send_id' must be a "
                              "boolean, got {!r}".format(value))
    return value


@implementer(IRPCService)
class ChronoService(Service):
    """
    Serves C{notify_after}, C{notify_every}, C{cancel} and C{restart}.

    @ivar timers: C{{id: timer}} of the timers armed.
    """

    protocol = CHRONO
    version = CHRONO_VERSION
    log = Logger()

    def __init__(self, clock, randomness=None):
        """
        @param clock: an C{IReactorTime}.
        @param randomness: a L{random.Random} for the ids.
        """
        self._clock = clock
        self._random = randomness or random.Random()
        self.timers = {}

    def notifyAfter(self, upstream, time, send_id=False):
        """
        A timer that fires once, C{time} seconds from now.

        @param upstream: its stream (the id on firing, then close).
        @raise InvalidArgument: C{time} or C{send_id} is not what 0.12
            takes.
        """
        self._start(upstream, _seconds(time), 0.0, _flag(send_id))

    def notifyEvery(self, upstream, time, send_id=False):
        """
        A timer that fires every C{time} seconds (once when C{time} is 0).

        @param upstream: its stream (the id on every tick).
        @raise InvalidArgument: as L{notifyAfter}.
        """
        seconds = _seconds(time)
        self._start(upstream, seconds, seconds, _flag(send_id))

    def cancel(self, id):
        """
        End timer C{id} and close its stream; an unknown id is no error.
        """
        if id in self.timers:
            self._remove(id)
        else:
            self.log.info("cancel of timer {id}, which does not exist",
                          id=id)

    def restart(self, id):
        """
        Arm timer C{id} again for its interval from now.

        @raise TimerNotFound: no such timer.
        """
        timer = self.timers.get(id)
        if timer is None:
            raise TimerNotFound("chrono: no timer with id {}".format(id))
        self._arm(timer, timer.interval)

    def _start(self, upstream, first, interval, sendId):
        id = self._random.randrange(ID_LIMIT)
        while id in self.timers:
            id = self._random.randrange(ID_LIMIT)
        timer = self.timers[id] = _Timer(id, upstream, interval)
        self._arm(timer, first)
        if sendId:
            upstream.write(id)
        upstream.notifyClose(lambda: self._forget(timer))

    def _arm(self, timer, delay):
        if timer.call is not None and timer.call.active():
            timer.call.cancel()
        timer.call = self._clock.callLater(delay, self._fire, timer)

    def _fire(self, timer):
        timer.call = None
        if self.timers.get(timer.id) is not timer:
            return
        timer.upstream.write(timer.id)
        if self.timers.get(timer.id) is not timer:
            # the write found the client gone
            return
        if timer.interval:
            self._arm(timer, timer.interval)
        else:
            self._remove(timer.id)

    def _remove(self, id):
        timer = self.timers.pop(id)
        if timer.call is not None and timer.call.active():
            timer.call.cancel()
        timer.call = None
        timer.upstream.close()

    def _forget(self, timer):
        """
        The timer's stream can take no more (closed, or the client gone).
        """
        if self.timers.get(timer.id) is timer:
            del self.timers[timer.id]
        if timer.call is not None and timer.call.active():
            timer.call.cancel()
        timer.call = None

    def stopService(self):
        Service.stopService(self)
        for id in list(self.timers):
            self._remove(id)
