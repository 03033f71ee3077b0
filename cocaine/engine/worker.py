# -*- test-case-name: tests.engine.test_worker -*-
"""
One worker: its process, its control connection and its lifecycle.

The lifecycle is one Automat machine; the transition table at the bottom of
L{Worker} is its documentation. The engine owns the policy (when to spawn,
what to assign, when to stop); a L{Worker} enforces the protocol's timers
(startup, heartbeat, idle, termination) and reports back to the engine.
"""

import collections
import signal

from automat import MethodicalMachine
from twisted.internet.protocol import Factory, ProcessProtocol, Protocol
from twisted.logger import Logger

from cocaine.errors import FramingError
from cocaine.protocol.framing import Decoder, Encoder
from cocaine.rpc import writes

#: The control channel and its messages (PROTOCOL.md section 6).
CONTROL_CHANNEL = 1
HEARTBEAT = 0
TERMINATE = 1
#: terminate codes
NORMAL = 1
ABNORMAL = 2

#: The longest output line kept; longer lines are cut.
MAX_LINE = 4096


class OutputRing:
    """
    The last C{limit} lines of a worker's output, kept as text, whatever
    the worker writes (a flood only ever costs C{limit} lines).
    """

    def __init__(self, limit, onLine=None):
        self.lines = collections.deque(maxlen=max(limit, 0) or None)
        self._keep = limit > 0
        self._partial = {1: b"", 2: b""}
        self._onLine = onLine

    def feed(self, fd, data):
        buffered = self._partial[fd] + data
        *complete, rest = buffered.split(b"\n")
        if len(rest) > MAX_LINE:
            complete.append(rest[:MAX_LINE])
            rest = b""
        self._partial[fd] = rest
        for raw in complete:
            self._add(raw)

    def flush(self):
        for fd in (1, 2):
            if self._partial[fd]:
                self._add(self._partial[fd])
                self._partial[fd] = b""

    def _add(self, raw):
        line = raw[:MAX_LINE].decode("utf-8", "replace").rstrip("\r")
        if self._keep:
            self.lines.append(line)
        if self._onLine is not None:
            self._onLine(line)


class WorkerProcess(ProcessProtocol):
    """
    The process side of a L{Worker}: output and exit.
    """

    def __init__(self, worker):
        self.worker = worker

    def outReceived(self, data):
        self.worker.output.feed(1, data)

    def errReceived(self, data):
        self.worker.output.feed(2, data)

    def processEnded(self, reason):
        self.worker.output.flush()
        self.worker.processEnded(reason.value)


class WorkerConnection(Protocol):
    """
    A worker's connection to its app's UNIX socket. The first message must
    be the handshake C{[1, 0, [uuid]]} of a worker the engine spawned;
    anything else closes the connection.
    """

    log = Logger()

    def __init__(self, engine):
        self.engine = engine
        self.worker = None
        self._decoder = Decoder(engine.maxMessage)
        self._encoder = Encoder()

    def send(self, channel, mtype, args):
        writes.write(self.transport,
                     self._encoder.encode(channel, mtype, args))

    @writes.batched
    def dataReceived(self, data):
        try:
            messages = self._decoder.feed(data)
        except FramingError as e:
            messages = e.messages
            self.log.warn("app {app}: framing error from worker {uuid}: "
                          "{reason}", app=self.engine.name,
                          uuid=getattr(self.worker, "uuid", "?"),
                          reason=str(e))
            self._deliver(messages)
            self.transport.abortConnection()
            return
        self._deliver(messages)

    def _deliver(self, messages):
        for channel, mtype, args, _ in messages:
            worker = self.worker
            if worker is None:
                uuid = args[0] if args else None
                if isinstance(uuid, bytes):
                    uuid = uuid.decode("utf-8", "replace")
                if channel == CONTROL_CHANNEL and mtype == HEARTBEAT and (
                        isinstance(uuid, str)):
                    worker = self.engine.workerByUuid(uuid)
                if worker is None:
                    self.log.warn("app {app}: connection without a valid "
                                  "handshake (uuid {uuid!r}); closing",
                                  app=self.engine.name, uuid=uuid)
                    self.transport.abortConnection()
                    return
                self.worker = worker
                worker.handshake(self)
                continue
            try:
                worker.received(channel, mtype, args)
            except Exception:
                self.log.failure("app {app}: worker {uuid} message",
                                 app=self.engine.name, uuid=worker.uuid)

    def connectionLost(self, reason):
        # Forget the worker: it and this connection referred to each other,
        # a cycle only a full garbage collection freed, and it kept this
        # connection's msgpack buffers (over half a MiB) alive per recycled
        # worker until then.
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.connectionLost()


class WorkerListener(Factory):
    """
    Accepts worker connections on the app's socket.
    """

    noisy = False

    def __init__(self, engine):
        self.engine = engine

    def buildProtocol(self, addr):
        return WorkerConnection(self.engine)


class Worker:
    """
    One worker process under supervision.

    @ivar uuid: given on its command line; it must handshake with it.
    @ivar pid: its process id (its own process group).
    @ivar sessions: C{{channel: session}} assigned to it.
    @ivar state: C{starting}, C{active}, C{stopping} or C{dead}.
    @ivar output: the L{OutputRing} of its stdout and stderr.
    """

    _machine = MethodicalMachine()
    log = Logger()

    def __init__(self, engine, uuid, clock, profile, isolate):
        self.engine = engine
        self.uuid = uuid
        self._clock = clock
        self.profile = profile
        self._isolate = isolate
        self.pid = None
        self.transport = None
        self.connection = None
        self.sessions = {}
        self._nextChannel = 2
        self.state = "starting"
        self.abnormal = None
        self.reason = None
        self.exitStatus = None
        self._timers = {}
        self.output = OutputRing(profile.crashlogLimit,
                                 engine.workerOutputLine if profile.logOutput
                                 else None)
        self.accepted = 0
        self.handshaken = False
        self.onGone = None
        self._lastSeen = 0.0
        self._idleSince = 0.0
        self._termSent = False

    @property
    def load(self):
        return len(self.sessions)

    # -- timers ------------------------------------------------------------

    def _arm(self, name, seconds, callback, *args):
        self._disarm(name)
        if seconds and seconds > 0:
            self._timers[name] = self._clock.callLater(seconds, callback,
                                                       *args)

    def _disarm(self, name):
        call = self._timers.pop(name, None)
        if call is not None and call.active():
            call.cancel()

    def _disarmAll(self):
        for name in list(self._timers):
            self._disarm(name)

    # -- what the engine calls ---------------------------------------------

    def started(self, transport):
        """
        The process was spawned: wait for the handshake.
        """
        self.transport = transport
        self.pid = transport.pid
        self._arm("startup", self.profile.startupTimeout,
                  self.startupTimedOut)

    def assign(self, session):
        """
        Open a channel to this worker for C{session}.

        @return: the channel id.
        """
        channel = self._nextChannel
        self._nextChannel = channel + 1
        self.sessions[channel] = session
        self.accepted += 1
        self.connection.send(channel, 0, [session.event])
        return channel

    def send(self, channel, mtype, args):
        if self.connection is not None and self.state == "active":
            self.connection.send(channel, mtype, args)

    def finished(self, channel):
        """
        The session on C{channel} is over on the worker's side.
        """
        self.sessions.pop(channel, None)
        if not self.sessions and self.state == "active":
            self._armIdle()

    def _armIdle(self):
        # Called each time the worker runs out of sessions: only note the
        # time; one timer per idle period checks it, so busy workers cost
        # no timer churn per request.
        self._idleSince = self._clock.seconds()
        timeout = self.profile.idleTimeout
        if timeout > 0 and "idle" not in self._timers:
            self._arm("idle", timeout, self._checkIdle)

    def _checkIdle(self):
        self._timers.pop("idle", None)
        timeout = self.profile.idleTimeout
        if self.sessions or not self.engine.idleAllowed(self):
            # busy (or pinned) now: look again one timeout from now
            self._arm("idle", timeout, self._checkIdle)
            return
        idle = self._clock.seconds() - self._idleSince
        if idle >= timeout:
            self.idleTimedOut()
        else:
            self._arm("idle", timeout - idle, self._checkIdle)

    # -- inputs ------------------------------------------------------------

    @_machine.state(initial=True)
    def _starting(self):
        "Spawned, waiting for the handshake."

    @_machine.state()
    def _active(self):
        "Handshaken: takes sessions, heartbeats."

    @_machine.state()
    def _stopping(self):
        "Told to go, or lost: waiting for the process to end."

    @_machine.state()
    def _dead(self):
        "The process has ended."

    @_machine.input()
    def handshake(self, connection):
        "The worker connected with its uuid."

    @_machine.input()
    def heartbeat(self):
        "Any sign of life on the control channel."

    @_machine.input()
    def startupTimedOut(self):
        "No handshake within startup-timeout."

    @_machine.input()
    def heartbeatTimedOut(self):
        "No heartbeat within heartbeat-timeout."

    @_machine.input()
    def idleTimedOut(self):
        "No session for idle-timeout."

    @_machine.input()
    def stop(self, reason):
        "The engine wants it gone (pool shrink, pause, node stop)."

    @_machine.input()
    def terminated(self, code, reason):
        "The worker sent terminate."

    @_machine.input()
    def connectionLost(self):
        "Its control connection dropped."

    @_machine.input()
    def processEnded(self, reason):
        "Its process ended."

    @_machine.input()
    def killTimedOut(self):
        "It did not leave within termination-timeout."

    # -- outputs -----------------------------------------------------------

    @_machine.output()
    def _attach(self, connection):
        self.connection = connection
        self.handshaken = True
        if getattr(self.transport, "inProcess", False):
            self.transport.connection = connection
        self.state = "active"
        self._disarm("startup")
        self._armHeartbeat()
        self._armIdle()
        self.engine.workerActive(self)

    @_machine.output()
    def _refuse(self, connection):
        connection.transport.abortConnection()

    @_machine.output()
    def _answerHeartbeat(self):
        self.connection.send(CONTROL_CHANNEL, HEARTBEAT, [])
        self._armHeartbeat()

    def _armHeartbeat(self):
        # Called on every message from the worker: only note the time; one
        # long-lived timer checks it (re-arming a timer per message cost a
        # quarter of the node's time under load).
        self._lastSeen = self._clock.seconds()
        if "heartbeat" not in self._timers:
            self._arm("heartbeat", self.profile.heartbeatTimeout,
                      self._checkHeartbeat)

    def _checkHeartbeat(self):
        self._timers.pop("heartbeat", None)
        silent = self._clock.seconds() - self._lastSeen
        timeout = self.profile.heartbeatTimeout
        if silent >= timeout:
            self.heartbeatTimedOut()
        else:
            self._arm("heartbeat", timeout - silent, self._checkHeartbeat)

    @_machine.output()
    def _startupFailed(self):
        self._fail("no handshake within {:g}s".format(
            self.profile.startupTimeout), abnormal=True)
        self._signal(signal.SIGKILL)

    @_machine.output()
    def _heartbeatFailed(self):
        self._fail("no heartbeat within {:g}s".format(
            self.profile.heartbeatTimeout), abnormal=True)
        self._signal(signal.SIGKILL)

    @_machine.output()
    def _noteReason(self, reason):
        self.reason = self.reason or reason

    @_machine.output()
    def _idleStop(self):
        self.reason = self.reason or "idle"

    @_machine.output()
    def _sendTerminate(self):
        self.state = "stopping"
        self._disarm("heartbeat")
        self._disarm("idle")
        if self.connection is not None:
            self.connection.send(CONTROL_CHANNEL, TERMINATE,
                                 [NORMAL, self.reason or "stopped"])
        self._arm("kill", self.profile.terminationTimeout, self.killTimedOut)

    @_machine.output()
    def _termProcess(self):
        self.state = "stopping"
        self._disarm("startup")
        self._termSent = True
        self._signal(signal.SIGTERM)
        self._arm("kill", self.profile.terminationTimeout, self.killTimedOut)

    @_machine.output()
    def _workerTerminated(self, code, reason):
        if code == ABNORMAL:
            self._fail("worker terminated abnormally: {}".format(
                reason.decode("utf-8", "replace")
                if isinstance(reason, bytes) else reason), abnormal=True)
            self.engine.workerBroken(self, reason)
        else:
            self._fail("worker terminated", abnormal=False)
        self._arm("kill", self.profile.terminationTimeout, self.killTimedOut)

    @_machine.output()
    def _lost(self):
        if self.state != "stopping":
            self._fail("worker lost its connection", abnormal=True)
            self._arm("kill", self.profile.terminationTimeout,
                      self.killTimedOut)
        self._dropSessions()

    @_machine.output()
    def _kill(self):
        # terminate was not enough: SIGTERM to the process group, then,
        # after half the grace again (at least a second), SIGKILL
        if not self._termSent:
            self._termSent = True
            self._signal(signal.SIGTERM)
            self._arm("kill", max(1.0, self.profile.terminationTimeout / 2),
                      self.killTimedOut)
        else:
            self._signal(signal.SIGKILL)

    @_machine.output()
    def _ended(self, reason):
        exitCode = getattr(reason, "exitCode", None)
        signalNumber = getattr(reason, "signal", None)
        self.exitStatus = ("signal {}".format(signalNumber)
                           if signalNumber else "exit {}".format(exitCode))
        if self.abnormal is None:
            if self.state == "stopping":
                # we asked it to go: however it went, that was expected
                self.abnormal = False
            else:
                # it left on its own: a crash unless it exited with 0
                self.abnormal = bool(signalNumber) or exitCode not in (0,
                                                                       None)
            reason = "process ended ({})".format(self.exitStatus)
            if self.state == "starting":
                last = self.output.lines[-1] if self.output.lines else ""
                reason += " before its handshake" + (
                    ": " + last if last else "")
            self.reason = self.reason or reason
        self.state = "dead"
        self._disarmAll()
        self._dropSessions()
        self.engine.workerGone(self)

    # -- helpers -----------------------------------------------------------

    def _fail(self, reason, abnormal):
        self.state = "stopping"
        if self.abnormal is None:
            self.abnormal = abnormal
            self.reason = reason
        self._disarm("heartbeat")
        self._disarm("idle")
        self._disarm("startup")
        self._dropSessions()

    def _dropSessions(self):
        sessions, self.sessions = self.sessions, {}
        for session in sessions.values():
            session.workerLost(self)

    def _signal(self, signum):
        inThread = getattr(self.transport, "signalGroup", None)
        if inThread is not None:
            inThread(signum)
        elif self.pid is not None:
            self._isolate.signalGroup(self.pid, signum)

    def received(self, channel, mtype, args):
        """
        A message from the worker after its handshake.
        """
        if channel == CONTROL_CHANNEL:
            if mtype == HEARTBEAT:
                self.heartbeat()
            elif mtype == TERMINATE:
                code = args[0] if args else NORMAL
                self.terminated(code if type(code) is int else NORMAL,
                                args[1] if len(args) > 1 else "")
            return
        session = self.sessions.get(channel)
        if session is not None:
            if self.state == "active":
                self._armHeartbeat()
            session.fromWorker(self, channel, mtype, args)

    # -- the transition table ------------------------------------------------

    _starting.upon(handshake, enter=_active, outputs=[_attach])
    _starting.upon(startupTimedOut, enter=_stopping, outputs=[_startupFailed])
    _starting.upon(stop, enter=_stopping,
                   outputs=[_noteReason, _termProcess])
    _starting.upon(connectionLost, enter=_starting, outputs=[])
    _starting.upon(processEnded, enter=_dead, outputs=[_ended])

    _active.upon(heartbeat, enter=_active, outputs=[_answerHeartbeat])
    _active.upon(heartbeatTimedOut, enter=_stopping,
                 outputs=[_heartbeatFailed])
    _active.upon(idleTimedOut, enter=_stopping,
                 outputs=[_idleStop, _sendTerminate])
    _active.upon(stop, enter=_stopping, outputs=[_noteReason, _sendTerminate])
    _active.upon(terminated, enter=_stopping, outputs=[_workerTerminated])
    _active.upon(connectionLost, enter=_stopping, outputs=[_lost])
    _active.upon(processEnded, enter=_dead, outputs=[_ended])

    _stopping.upon(handshake, enter=_stopping, outputs=[_refuse])
    _stopping.upon(heartbeat, enter=_stopping, outputs=[])
    _stopping.upon(startupTimedOut, enter=_stopping, outputs=[])
    _stopping.upon(heartbeatTimedOut, enter=_stopping, outputs=[])
    _stopping.upon(idleTimedOut, enter=_stopping, outputs=[])
    _stopping.upon(stop, enter=_stopping, outputs=[])
    _stopping.upon(terminated, enter=_stopping, outputs=[])
    _stopping.upon(connectionLost, enter=_stopping, outputs=[_lost])
    _stopping.upon(killTimedOut, enter=_stopping, outputs=[_kill])
    _stopping.upon(processEnded, enter=_dead, outputs=[_ended])

    _dead.upon(handshake, enter=_dead, outputs=[_refuse])
    _dead.upon(heartbeat, enter=_dead, outputs=[])
    _dead.upon(stop, enter=_dead, outputs=[])
    _dead.upon(connectionLost, enter=_dead, outputs=[])
    _dead.upon(startupTimedOut, enter=_dead, outputs=[])
    _dead.upon(heartbeatTimedOut, enter=_dead, outputs=[])
    _dead.upon(idleTimedOut, enter=_dead, outputs=[])
    _dead.upon(killTimedOut, enter=_dead, outputs=[])
    _dead.upon(terminated, enter=_dead, outputs=[])
