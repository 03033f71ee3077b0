# -*- test-case-name: tests.mesh.test_components -*-
"""
The L{Requester}: sends requests to matching responders, as cote's, with
a bounded queue, default timeouts, balancing and clear errors (ours).

A request is C{[j:{"type": ..., ...}, s:<id>]}; the reply carries the
same id part. While no responder is connected, requests queue and are
flushed on the first connection.

Its lifecycle is one machine, L{RequesterMachine}:

  - C{stopped}: not started, or stopped. Requests queue (a requester
    may be given requests before it starts).
  - C{waiting}: started, no responder link is up: requests queue.
  - C{serving}: at least one responder link is up: requests go to one
    (those no up responder may take, for their subset or C{where},
    queue); each link that comes up takes the queued requests it can.

Stopping fails every request waiting or in flight with C{ESTOPPED} and
closes the links at once; C{stopService}'s Deferred fires once their
sockets and discovery's are gone.

Sending and replies do not go through the machine (an input costs about
a microsecond): the outputs choose how L{Requester.send} picks a link
(none while no link is up), and replies are matched by their id.
"""

import collections
import itertools
import os
from typing import Protocol

from automat import TypeMachineBuilder
from twisted.application.service import Service
from twisted.internet import defer

from cocaine.mesh.client import Client
from cocaine.mesh.deadlines import Deadlines
from cocaine.mesh.errors import (
    MeshError, QueueFull, RemoteError, RequestTimeout, ResponderLost)
from cocaine.statemachine import build, nameStates

__all__ = ["Requester", "RequesterInputs", "RequesterMachine",
           "DEFAULT_TIMEOUT", "DEFAULT_QUEUE_LIMIT"]

#: Seconds a request waits for its reply unless told otherwise (ours).
DEFAULT_TIMEOUT = 10.0
#: How many requests may wait for a responder (ours).
DEFAULT_QUEUE_LIMIT = 1000
SUBSET_IDENTIFIER = "__subset"
#: Weight of the newest reply time in a responder's moving average.
LATENCY_WEIGHT = 0.3
BALANCES = ("round-robin", "pending", "latency")


class _Pending:
    """
    One request, from L{Requester.send} to its answer.
    """

    __slots__ = ("message", "deferred", "subset", "where", "timeout",
                 "queued", "link", "id", "sentAt")

    def __init__(self, message, deferred, subset, where=None):
        self.message = message
        self.deferred = deferred
        self.subset = subset
        self.where = where
        self.timeout = None
        self.queued = False
        self.link = None
        self.id = None
        self.sentAt = None


class RequesterInputs(Protocol):
    """
    What happens to a requester, besides its requests and replies.
    """

    def start(self) -> None:
        "The service starts: discovery, then links to responders."

    def stop(self, done: object) -> None:
        "The service stops; C{done} fires once its sockets are gone."

    def linkUp(self, link: object) -> None:
        "A link to a responder is up."

    def linkDown(self, link: object) -> None:
        "A link that was up is down: its requests in flight fail."

    def allLinksDown(self) -> None:
        "No link to a responder is up any more."

    def stateName(self) -> str:
        "The name of the state it is in."


class Requester(Client):
    """
    Sends requests to matching responders.

    @ivar timeout: the default timeout in seconds (L{None}: wait forever).
    @ivar queueLimit: how many requests may wait for a responder.
    @ivar balance: C{"round-robin"} (cote's), C{"pending"} (the responder
        with the fewest requests in flight) or C{"latency"} (the responder
        with the lowest moving average of reply times; unmeasured ones
        first). Ties go in round-robin order.
    @ivar queue: the requests waiting for a responder.
    @ivar inFlight: L{dict} of a request's id to the request, sent and not
        answered yet.
    @ivar machine: its L{RequesterMachine}.
    """

    axonType = "req"
    oppo = "rep"

    def __init__(self, name, requests=None, timeout=DEFAULT_TIMEOUT,
                 queueLimit=DEFAULT_QUEUE_LIMIT, balance="round-robin",
                 **kwargs):
        Client.__init__(self, name, **kwargs)
        if balance not in BALANCES:
            raise ValueError("balance is round-robin, pending or latency, "
                             "not {!r}".format(balance))
        if requests is not None:
            self.advertisement["requests"] = list(requests)
        self.timeout = timeout
        self.queueLimit = queueLimit
        self.balance = balance
        self.queue = collections.deque()
        self.inFlight = {}
        self._ids = itertools.count()
        self._n = 0
        self._identity = "{}-{}".format(os.getpid(), id(self))
        self._deadlines = Deadlines(self.clock, self._timedOut)
        # how send picks a link: set by the machine's outputs
        self._choose = self._noLink
        self.machine = RequesterMachine(self)

    def startService(self):
        """
        Start discovery; requests go out once a responder is linked.
        """
        self.machine.start()

    def stopService(self):
        """
        Fail every request waiting or in flight, close the links and stop
        discovery.

        @return: a Deferred that fires once their sockets are gone.
        """
        done = defer.Deferred()
        self.machine.stop(done)
        return done

    def send(self, message, timeout=None, where=None):
        """
        Send a request object (with a C{type}); C{__subset} directs it to
        responders advertising that subset.

        @param timeout: seconds, or the default L{timeout}.
        @param where: ours: only responders whose discovered peer passes
            C{where(peer)} (a L{cocaine.mesh.discovery.Peer}) may take it.
        @return: a L{Deferred} firing with the result, or failing with
            L{RemoteError}, L{RequestTimeout}, L{QueueFull} or
            L{ResponderLost}. It can be awaited.
        """
        if not isinstance(message, dict) or "type" not in message:
            return defer.fail(MeshError("a request is an object with a type",
                                        "EBADREQUEST"))
        message = dict(message)
        subset = message.pop(SUBSET_IDENTIFIER, None)
        d = defer.Deferred(lambda _: self._forget(pending))
        pending = _Pending(message, d, subset, where)
        if timeout is None:
            timeout = self.timeout
        link = self._choose(subset, where)
        if link is None:
            if len(self.queue) >= self.queueLimit:
                return defer.fail(QueueFull(
                    "no responder connected and {} requests queued".format(
                        len(self.queue))))
            self.queue.append(pending)
            pending.queued = True
        now = self.clock.seconds()
        if timeout is not None:
            self._deadlines.add(pending, timeout, now)
        if link is not None:
            self._write(link, pending, now)
        return d

    def _noLink(self, subset, where=None):
        """
        How L{send} picks a link while none is up: it does not.
        """
        return None

    def _chooseLink(self, subset, where=None):
        """
        How L{send} picks a link while some are up: among those that take
        C{subset} and pass C{where}, by the balance.

        @return: the link, or L{None} when none may take the request.
        """
        links = self._connected()
        if subset is not None:
            links = [l for l in links
                     if l.peer.advertisement.get("subset") == subset]
        if where is not None:
            links = [l for l in links if where(l.peer)]
        if not links:
            return None
        index = self._n % len(links)
        self._n += 1
        balance = self.balance
        if balance == "round-robin":
            return links[index]
        ordered = links[index:] + links[:index]
        if balance == "pending":
            return min(ordered, key=lambda l: l.pending)
        if balance == "latency":
            return min(ordered, key=lambda l: -1.0 if l.latency is None
                       else l.latency)
        return links[index]

    def _write(self, link, pending, now=None):
        pending.id = f"{self._identity}:{next(self._ids)}"
        pending.link = link
        pending.sentAt = self.clock.seconds() if now is None else now
        link.pending += 1
        self.inFlight[pending.id] = pending
        link.protocol.sendMessage([pending.message, pending.id])

    def _forget(self, pending):
        if pending.timeout is not None:
            self._deadlines.remove(pending)
        if (pending.id is not None
                and self.inFlight.pop(pending.id, None) is not None):
            pending.link.pending -= 1
        if pending.queued:
            pending.queued = False
            try:
                self.queue.remove(pending)
            except ValueError:
                pass

    def _timedOut(self, pending):
        timeout = pending.timeout
        queued = pending.queued
        self._forget(pending)
        message = "no reply to {!r} within {:g} s".format(
            pending.message.get("type"), timeout)
        failed = ["{}: {}".format(l.peer.advertisement.get("name"),
                                  l.lastError)
                  for l in self.links.values() if l.lastError is not None]
        if queued and failed:
            message += "; no responder connected (TLS failed with {})".format(
                "; ".join(failed))
        pending.deferred.errback(RequestTimeout(message))

    def linkUp(self, link):
        """
        A link to a responder is up: it takes the queued requests it
        may take.
        """
        self.machine.linkUp(link)

    def linkDown(self, link):
        """
        A link that was up is down: its requests in flight fail.
        """
        self.machine.linkDown(link)
        if not self._connected():
            self.machine.allLinksDown()

    # -- what the machine's outputs do ----------------------------------------

    def _flush(self):
        """
        Send each queued request that an up link may take now.
        """
        for pending in list(self.queue):
            chosen = self._chooseLink(pending.subset, pending.where)
            if chosen is None:
                continue
            self.queue.remove(pending)
            pending.queued = False
            self._write(chosen, pending)

    def _failInFlight(self, link):
        """
        Fail the requests in flight on C{link} with L{ResponderLost}.
        """
        for pending in [p for p in self.inFlight.values()
                        if p.link is link]:
            self._forget(pending)
            tls = "" if link.lastError is None else " (TLS: {})".format(
                link.lastError)
            pending.deferred.errback(ResponderLost(
                "lost the connection to responder {} while it handled "
                "{!r}{}".format(link.peer.advertisement.get("name"),
                                pending.message.get("type"), tls)))

    def _failAll(self):
        """
        Fail every request waiting or in flight with C{ESTOPPED}.
        """
        for pending in list(self.queue) + list(self.inFlight.values()):
            self._forget(pending)
            pending.deferred.errback(MeshError("requester stopped",
                                               "ESTOPPED"))
        self._deadlines.clear()

    def messageReceived(self, link, args, parts):
        """
        A reply: C{[error or None, result..., id]}; it answers the
        request of that id.
        """
        if not args or not isinstance(args[-1], str):
            return
        pending = self.inFlight.get(args[-1])
        if pending is None:
            return
        self._forget(pending)
        elapsed = self.clock.seconds() - pending.sentAt
        link.latency = elapsed if link.latency is None else (
            LATENCY_WEIGHT * elapsed + (1 - LATENCY_WEIGHT) * link.latency)
        error = args[0] if len(args) > 1 else None
        if error is not None:
            pending.deferred.errback(RemoteError(error))
        else:
            pending.deferred.callback(args[1] if len(args) > 2 else None)


_builder = TypeMachineBuilder(RequesterInputs, Requester)
_stopped = _builder.state("stopped")
_waiting = _builder.state("waiting")
_serving = _builder.state("serving")

nameStates([_stopped, _waiting, _serving], RequesterInputs.stateName)


@_stopped.upon(RequesterInputs.start).to(_waiting)
def _start(inputs, requester):
    Client.startService(requester)


@_stopped.upon(RequesterInputs.stop).to(_stopped)
@_waiting.upon(RequesterInputs.stop).to(_stopped)
@_serving.upon(RequesterInputs.stop).to(_stopped)
def _stop(inputs, requester, done):
    requester._choose = requester._noLink
    Service.stopService(requester)
    requester._failAll()
    requester._disconnect().chainDeferred(done)


@_waiting.upon(RequesterInputs.linkUp).to(_serving)
def _serve(inputs, requester, link):
    requester._choose = requester._chooseLink
    requester._flush()


@_serving.upon(RequesterInputs.linkUp).to(_serving)
def _anotherLinkUp(inputs, requester, link):
    requester._flush()


@_serving.upon(RequesterInputs.linkDown).to(_serving)
def _linkDown(inputs, requester, link):
    requester._failInFlight(link)


@_serving.upon(RequesterInputs.allLinksDown).to(_waiting)
def _wait(inputs, requester):
    requester._choose = requester._noLink


# what does not matter: starting again while started; links going down
# as a stop closes them (their requests have failed already)
_waiting.upon(RequesterInputs.start).loop().returns(None)
_serving.upon(RequesterInputs.start).loop().returns(None)
_stopped.upon(RequesterInputs.linkDown).loop().returns(None)
_stopped.upon(RequesterInputs.allLinksDown).loop().returns(None)

#: The lifecycle of a requester.
RequesterMachine = build(_builder)
