# -*- test-case-name: tests.redis.test_slot -*-
"""
One place of a Redis pool (L{cocaine.redis.client.Redis}): a connection
kept up for good, its lifecycle one machine (L{RedisSlotMachine},
docs/machines.md).

A slot connects, sends the URL's password and database (the handshake),
and only then gives its connection to the pool; when the connection is
lost it connects again after a delay that grows with the failures in a
row (from 0.2 s, doubling, up to 5 s). A refused handshake (a wrong
password) is a failure like a refused connection: the connection is
dropped and the slot tries again at that pace. Each outage and each
refusal is logged once, not once an attempt.
"""

from typing import Protocol

from automat import TypeMachineBuilder
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from cocaine.backoff import backoffDelay
from cocaine.redis.connection import RedisConnection, RedisConnectionFactory
from cocaine.statemachine import build, nameStates

log = Logger()

#: seconds before the first retry, the factor, and the most
INITIAL_DELAY, FACTOR, MAX_DELAY = 0.2, 2.0, 5.0


def retryDelay(failures):
    """
    @param failures: failures in a row, at least 1.
    @return: seconds to wait before the next attempt: from
        L{INITIAL_DELAY}, times L{FACTOR} a failure, at most L{MAX_DELAY},
        plus up to a tenth of it at random (a pool's slots spread out).
    """
    return backoffDelay(failures, INITIAL_DELAY, MAX_DELAY, FACTOR)


class RedisSlotInputs(Protocol):
    """
    What happens to one place of the pool.
    """

    def start(self) -> None:
        "Connect, and keep connecting."

    def connected(self, connection: RedisConnection) -> None:
        "A connection is up; the handshake goes."

    def connectFailed(self, reason: str) -> None:
        "The attempt to connect failed."

    def ready(self) -> None:
        "Redis accepted the handshake."

    def refused(self, reason: str) -> None:
        "Redis refused the handshake, or did not answer it in time."

    def lost(self, reason: str) -> None:
        "The connection closed, for C{reason}."

    def due(self) -> None:
        "The delay before the next attempt passed."

    def stop(self) -> None:
        "Close the connection and connect no more."

    def stateName(self) -> str:
        "The name of the state it is in."


class RedisSlot:
    """
    One place of a pool: its connection, and what its machine's outputs
    do. Everything that happens to it goes to L{machine}.

    @ivar connection: the L{RedisConnection} once connected, else L{None}.
    @ivar failures: failed attempts (or refused handshakes) in a row.
    """

    def __init__(self, pool, endpoint, reactor, timeout,
                 protocol=RedisConnection):
        """
        @param pool: the L{cocaine.redis.client.Redis} it belongs to: it
            is told when the connection can take calls (C{_add}), when it
            can no more (C{_remove}), and why an attempt failed
            (C{_failed}, which logs each outage once).
        @param endpoint: where to connect.
        @param timeout: seconds a reply may take.
        @param protocol: the connections' class.
        """
        self.pool = pool
        self.endpoint = endpoint
        self.factory = RedisConnectionFactory(reactor, pool.address.safe,
                                              timeout, self, protocol)
        self.reactor = reactor
        self.connection = None
        self.failures = 0
        self._connecting = None
        self._timer = None
        self.stopped = Deferred()
        self.machine = RedisSlotMachine(self)

    # -- the ways in --------------------------------------------------------

    def connectionDropping(self, connection):
        """
        C{connection} takes no more calls (it is being dropped, or lost):
        out of the pool now, before its calls fail, so that a caller
        trying again goes to another connection.
        """
        self.pool._remove(connection)

    def connectionLost(self, connection, reason):
        self.pool._remove(connection)
        if connection is self.connection:
            self.machine.lost(reason)

    # -- what the outputs do ------------------------------------------------

    def _connect(self):
        d = self._connecting = self.endpoint.connect(self.factory)
        d.addCallbacks(self._madeConnection, self._failedConnection)

    def _madeConnection(self, connection):
        self._connecting = None
        if connection.lost:
            # closed before the endpoint handed it over
            self.machine.connectFailed("the connection was closed at once")
        else:
            self.machine.connected(connection)

    def _failedConnection(self, failure):
        self._connecting = None
        self.machine.connectFailed(failure.getErrorMessage())

    def _handshake(self, connection):
        self.connection = connection
        a = self.pool.address
        d = connection.handshake(a.password, a.username, a.db)
        d.addCallbacks(lambda _: self.machine.ready(),
                       lambda f: self.machine.refused(f.getErrorMessage()))

    def _serve(self):
        self.failures = 0
        self.pool._add(self.connection)

    def _drop(self):
        self.connection.drop()

    def _wait(self, reason=None):
        """
        Try again after the delay; C{reason} is why the attempt failed
        (L{None}: a connection that served was lost).
        """
        self.connection = None
        if reason is not None:
            self.failures += 1
            self.pool._failed(reason)
        self._timer = self.reactor.callLater(
            retryDelay(max(self.failures, 1)), self.machine.due)

    def _cancel(self):
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        connecting, self._connecting = self._connecting, None
        if connecting is not None:
            connecting.cancel()

    def _close(self):
        self.connection.drop()

    def _discard(self, connection):
        # connected as the slot stopped: nobody wants it
        connection.drop()

    def _done(self):
        self.connection = None
        if not self.stopped.called:
            self.stopped.callback(None)


_builder = TypeMachineBuilder(RedisSlotInputs, RedisSlot)
_idle = _builder.state("idle")
_connecting = _builder.state("connecting")
_handshaking = _builder.state("handshaking")
_up = _builder.state("up")
_closing = _builder.state("closing")
_waiting = _builder.state("waiting")
_stopping = _builder.state("stopping")
_stopped = _builder.state("stopped")

nameStates([_idle, _connecting, _handshaking, _up, _closing, _waiting,
            _stopping, _stopped], RedisSlotInputs.stateName)


@_idle.upon(RedisSlotInputs.start).to(_connecting)
@_waiting.upon(RedisSlotInputs.due).to(_connecting)
def _connect(inputs, slot):
    slot._connect()


@_connecting.upon(RedisSlotInputs.connected).to(_handshaking)
def _handshake(inputs, slot, connection):
    slot._handshake(connection)


@_connecting.upon(RedisSlotInputs.connectFailed).to(_waiting)
def _connectFailed(inputs, slot, reason):
    slot._wait(reason)


@_handshaking.upon(RedisSlotInputs.ready).to(_up)
def _serve(inputs, slot):
    slot._serve()


@_handshaking.upon(RedisSlotInputs.refused).to(_closing)
def _refused(inputs, slot, reason):
    slot.pool._failed(reason)
    slot.failures += 1
    slot._drop()


@_handshaking.upon(RedisSlotInputs.lost).to(_waiting)
def _lostEarly(inputs, slot, reason):
    # a failed attempt: counted, and logged once an outage
    slot._wait(reason)


@_up.upon(RedisSlotInputs.lost).to(_waiting)
@_closing.upon(RedisSlotInputs.lost).to(_waiting)
def _lost(inputs, slot, reason):
    slot._wait()


@_idle.upon(RedisSlotInputs.stop).to(_stopped)
@_connecting.upon(RedisSlotInputs.stop).to(_stopped)
@_waiting.upon(RedisSlotInputs.stop).to(_stopped)
def _stopNow(inputs, slot):
    slot._cancel()
    slot._done()


@_handshaking.upon(RedisSlotInputs.stop).to(_stopping)
@_up.upon(RedisSlotInputs.stop).to(_stopping)
@_closing.upon(RedisSlotInputs.stop).to(_stopping)
def _stopConnection(inputs, slot):
    slot._close()


@_stopping.upon(RedisSlotInputs.lost).to(_stopped)
def _stoppedNow(inputs, slot, reason):
    slot._done()


@_stopped.upon(RedisSlotInputs.connected).loop()
def _late(inputs, slot, connection):
    slot._discard(connection)


# late news: what a state no longer waits for changes nothing
for _state, _inputs in (
        (_connecting, [RedisSlotInputs.start]),
        (_handshaking, [RedisSlotInputs.start]),
        (_up, [RedisSlotInputs.start, RedisSlotInputs.refused]),
        (_closing, [RedisSlotInputs.start, RedisSlotInputs.ready,
                    RedisSlotInputs.refused]),
        (_waiting, [RedisSlotInputs.start, RedisSlotInputs.ready,
                    RedisSlotInputs.refused]),
        (_stopping, [RedisSlotInputs.start, RedisSlotInputs.ready,
                     RedisSlotInputs.refused, RedisSlotInputs.stop]),
        (_stopped, [RedisSlotInputs.start,
                    RedisSlotInputs.connectFailed, RedisSlotInputs.ready,
                    RedisSlotInputs.refused, RedisSlotInputs.lost,
                    RedisSlotInputs.due, RedisSlotInputs.stop])):
    for _input in _inputs:
        _state.upon(_input).loop().returns(None)

RedisSlotMachine = build(_builder)
