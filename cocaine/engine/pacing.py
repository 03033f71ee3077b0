# -*- test-case-name: tests.engine.test_connection,tests.engine.test_session -*-
"""
Flow control from a client back to the worker that streams to it.

A client that reads an app's stream slower than the app writes it would
have the node buffer the difference. Instead, while the client's write
buffer is full, its session holds the worker: the node stops reading that
worker's connection until the client has read, so the worker's writes
wait in its own socket (an app that awaits C{drain} is paced). 0.12's
protocol has no flow control per channel, and a worker has one
connection, so its other sessions wait meanwhile; a hold is therefore
bounded (L{HOLD_LIMIT}), after which the client's replies are buffered
again and it is dropped past C{write-buffer-max}, as before.

L{WorkerHolds} is a worker connection's side (which sessions hold it, for
how long, the heartbeats sent meanwhile); the session's side is
L{cocaine.engine.session.Session}'s C{_pace}, C{_unhold} and
C{holdExpired}.
"""

from twisted.logger import Logger

from cocaine.protocol.worker import CONTROL_CHANNEL, HEARTBEAT

#: The longest a worker's connection is left unread for one session whose
#: client does not read its replies, in seconds; never more than a third
#: of the worker's heartbeat-timeout.
HOLD_LIMIT = 10.0

#: While a worker's connection is held, or was since the last beat, the
#: node sends the worker a heartbeat this often: the worker's own
#: heartbeats wait unread behind its output, and the real 0.12 framework
#: leaves when one goes unanswered for 5 s (any heartbeat it receives
#: stops that timer, ours too).
HOLD_HEARTBEAT = 1.0


class WorkerHolds:
    """
    The holds on one worker's connection
    (L{cocaine.engine.connection.WorkerConnection}): it is not read while
    any session holds it.

    It uses the connection's C{transport}, C{worker}, C{send} and its
    engine's C{name} and C{profile}.
    """

    log = Logger()

    def __init__(self, connection, reactor):
        self._connection = connection
        self._reactor = reactor
        #: C{{session: timer}}: the sessions whose clients' buffers are
        #: full
        self._holds = {}
        #: the next heartbeat sent while holds come and go
        self._keepAlive = None
        self._heldSinceBeat = False

    def hold(self, session):
        """
        Stop reading the worker while C{session}'s client does not take
        what it is sent, until L{release} or for L{HOLD_LIMIT} at most
        (a third of the heartbeat timeout if shorter), when the session
        is told (C{holdExpired}).
        """
        holds = self._holds
        if session in holds:
            return
        if not holds:
            self._setReading(False)
        engine = self._connection.engine
        limit = min(HOLD_LIMIT, engine.profile.heartbeatTimeout / 3.0)
        holds[session] = self._reactor.callLater(limit, self._expired,
                                                 session, limit)
        self._heldSinceBeat = True
        if self._keepAlive is None:
            self._keepAlive = self._reactor.callLater(HOLD_HEARTBEAT,
                                                      self._beat)

    def release(self, session):
        """
        End C{session}'s hold; the worker is read again once no session
        holds it.
        """
        timer = self._holds.pop(session, None)
        if timer is None:
            return
        if timer.active():
            timer.cancel()
        if not self._holds:
            self._setReading(True)

    def clear(self):
        """
        The connection is gone: forget the holds and their timers.
        """
        holds, self._holds = self._holds, {}
        if holds and self._connection.worker is not None:
            self._connection.worker.held = False
        timers = list(holds.values())
        if self._keepAlive is not None:
            timers.append(self._keepAlive)
            self._keepAlive = None
        for timer in timers:
            if timer.active():
                timer.cancel()

    def _setReading(self, reading):
        connection = self._connection
        if connection.worker is not None:
            connection.worker.held = not reading
        transport = connection.transport
        if transport is not None:
            if reading:
                transport.resumeProducing()
            else:
                transport.pauseProducing()

    def _expired(self, session, limit):
        del self._holds[session]
        connection = self._connection
        self.log.info("app {app}: a client has read nothing for {limit:g} "
                      "s of a stream from worker {uuid}; the worker is "
                      "read again and the client's replies are buffered "
                      "(up to write-buffer-max)", app=connection.engine.name,
                      limit=limit,
                      uuid=getattr(connection.worker, "uuid", "?"))
        if not self._holds:
            self._setReading(True)
        session.holdExpired()

    def _beat(self):
        """
        Send the worker a heartbeat while it is held, or was held since
        the last one: a slow client's holds come and go, and the worker's
        heartbeat can wait behind its output through many of them.
        """
        self._keepAlive = None
        if not (self._holds or self._heldSinceBeat):
            return
        self._heldSinceBeat = False
        if self._connection.worker is not None:
            self._connection.send(CONTROL_CHANNEL, HEARTBEAT, [])
        self._keepAlive = self._reactor.callLater(HOLD_HEARTBEAT,
                                                  self._beat)
