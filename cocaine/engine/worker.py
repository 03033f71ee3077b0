# -*- test-case-name: tests.engine.test_worker -*-
"""
One worker under supervision: its lifecycle is one machine,
L{WorkerMachine}, whose transition table (C{docs/machines.md}) is the spec.

The engine owns the policy (when to spawn, what to assign, when to stop);
a L{Worker} enforces the protocol's timers (startup, heartbeat, idle,
termination grace) and tells the engine when it can take sessions
(C{workerActive}), when it no longer can (C{workerLeaving}), when it sent
an abnormal terminate (C{workerBroken}) and when its process is gone
(C{workerGone}).

Leaving is escalated: a worker asked to go gets C{terminate} and a grace
period; then its process group gets SIGTERM and half that grace (at least
a second); then SIGKILL.
"""

import signal

from automat import TypeMachineBuilder
from twisted.logger import Logger

from cocaine.engine.output import OutputRing
from cocaine.engine.workerinputs import WorkerInputs
from cocaine.protocol.worker import (
    CONTROL_CHANNEL, HEARTBEAT, TERMINATE, TERMINATE_ABNORMAL,
    TERMINATE_NORMAL, text)
from cocaine.statemachine import build, nameStates


class Ending:
    """
    Why a worker is leaving, recorded by the first cause (later causes do
    not change it).

    @ivar reason: a line for logs and crashlogs.
    @ivar abnormal: whether it counts as a crash (a crashlog is written).
    @ivar cameUp: whether it had handshaken.
    """

    __slots__ = ("reason", "abnormal", "cameUp")

    def __init__(self, reason, abnormal, cameUp):
        self.reason = reason
        self.abnormal = abnormal
        self.cameUp = cameUp

    def __repr__(self):
        return "Ending({!r}, abnormal={!r}, cameUp={!r})".format(
            self.reason, self.abnormal, self.cameUp)


class Worker:
    """
    One worker process: its data, its timers and what its machine's
    outputs do. Everything that happens to it goes to L{machine}.

    @ivar uuid: given on its command line; it must handshake with it.
    @ivar pid: its process id (it leads its own process group).
    @ivar sessions: C{{channel: session}} assigned to it.
    @ivar connection: its L{cocaine.engine.connection.WorkerConnection}
        once it handshook, until that drops.
    @ivar output: the L{OutputRing} of its stdout and stderr.
    @ivar ending: the L{Ending} once it is leaving, else L{None}.
    @ivar exitStatus: C{"exit N"} or C{"signal N"} once it ended.
    @ivar accepted: sessions it was given.
    @ivar machine: its L{WorkerMachine}; every input goes there.
    @ivar held: whether a session's slow client holds its connection
        unread (L{cocaine.engine.pacing.WorkerHolds}): the pool gives it
        new sessions only when no other worker can take them.
    """

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
        self.held = False
        self._nextChannel = 2
        self.ending = None
        self.exitStatus = None
        self._timers = {}
        self.output = OutputRing(profile.crashlogLimit,
                                 engine.workerOutputLine if profile.logOutput
                                 else None)
        self.accepted = 0
        self._lastSeen = 0.0
        self._idleSince = 0.0
        # the current busy period (Pool.costs): since when, sessions
        # served, their events
        self._busySince = 0.0
        self._served = 0
        self._events = set()
        self.machine = WorkerMachine(self)

    @property
    def load(self):
        return len(self.sessions)

    @property
    def reason(self):
        """
        Why it is leaving, or L{None}.
        """
        return None if self.ending is None else self.ending.reason

    @property
    def state(self):
        """
        The name of its machine's state, for info maps and logs.
        """
        return self.machine.stateName()

    # -- what the engine calls (not lifecycle: no machine needed) ----------

    def started(self, transport):
        """
        The process was spawned: wait for the handshake.
        """
        self.transport = transport
        self.pid = transport.pid
        self._arm("startup", self.profile.startupTimeout,
                  self.machine.startupTimedOut)

    def assign(self, session, whole=None):
        """
        Open a channel to this worker for C{session} (the engine only
        assigns to workers it was told are active).

        @param whole: the args of the session's one chunk when its client
            sent its whole request at once: the chunk and the close go
            with the invoke, in one write.

        @return: the channel id.
        """
        channel = self._nextChannel
        self._nextChannel = channel + 1
        sessions = self.sessions
        if not sessions:
            # a busy period begins (Pool.costs)
            self._busySince = self._clock.seconds()
            self._served = 0
            self._events = {session.event}
        else:
            self._events.add(session.event)
        sessions[channel] = session
        self.accepted += 1
        if whole is None:
            self.connection.send(channel, 0, [session.event])
        else:
            self.connection.sendRequest(channel, session.event, whole)
        return channel

    def send(self, channel, mtype, args):
        """
        A message of a session's request stream: sent while the worker is
        connected (a leaving worker still gets what its sessions' clients
        send, so its handlers can finish).
        """
        connection = self.connection
        if connection is not None:
            connection.send(channel, mtype, args)

    def sendClosing(self, channel, mtype, args, endWith):
        """
        A message of a session's request stream and the end that followed
        it (L{send}'s two, in one write).
        """
        connection = self.connection
        if connection is not None:
            connection.sendClosing(channel, mtype, args, endWith)

    def finished(self, channel):
        """
        The session on C{channel} is over on the worker's side.
        """
        if self.sessions.pop(channel, None) is not None:
            self._served += 1
        if not self.sessions:
            now = self._idleSince = self._clock.seconds()
            served, self._served = self._served, 0
            if served:
                self.engine.workerBusyPeriod(now - self._busySince, served,
                                             self._events)

    def heard(self):
        """
        Bytes arrived from the worker (once per read, before its messages
        go to L{received}): it is alive now.
        """
        self._lastSeen = self._clock.seconds()

    def received(self, channel, mtype, args):
        """
        A message from the worker after its handshake.
        """
        self._lastSeen = self._clock.seconds()
        self.route(channel, mtype, args)

    def route(self, channel, mtype, args):
        """
        A message from the worker after its handshake, from a read already
        L{heard} (the connection's way: one timestamp per read).
        """
        if channel == CONTROL_CHANNEL:
            if mtype == HEARTBEAT:
                self.machine.heartbeat()
            elif mtype == TERMINATE:
                code = args[0] if args else TERMINATE_NORMAL
                self.machine.terminated(
                    code if type(code) is int else TERMINATE_NORMAL,
                    text(args[1]) if len(args) > 1 else "")
            return
        session = self.sessions.get(channel)
        if session is not None:
            session.fromWorker(self, channel, mtype, args)

    # -- lifecycle, delegated to the machine --------------------------------

    def handshake(self, connection):
        """
        @return: whether C{connection} is now this worker's (only the
            first handshake of a starting worker is).
        """
        return self.machine.handshake(connection)

    def stop(self, reason):
        self.machine.stop(reason)

    def connectionLost(self):
        self.connection = None
        self.machine.connectionLost()

    def processEnded(self, reason):
        self.machine.processEnded(reason)

    # -- timers --------------------------------------------------------------

    def _arm(self, name, seconds, callback):
        self._disarm(name)
        if seconds and seconds > 0:
            self._timers[name] = self._clock.callLater(seconds, self._fire,
                                                       name, callback)

    def _fire(self, name, callback):
        self._timers.pop(name, None)
        callback()

    def _disarm(self, name):
        call = self._timers.pop(name, None)
        if call is not None and call.active():
            call.cancel()

    def _disarmAll(self):
        for name in list(self._timers):
            self._disarm(name)

    def _checkHeartbeat(self):
        # One long-lived timer checks the time of the last message
        # (re-arming a timer per message cost a quarter of the node's time
        # under load).
        timeout = self.profile.heartbeatTimeout
        silent = self._clock.seconds() - self._lastSeen
        if silent >= timeout:
            self.machine.heartbeatTimedOut()
        else:
            self._arm("heartbeat", timeout - silent, self._checkHeartbeat)

    def _checkIdle(self):
        # Likewise one timer per idle period: busy workers cost no timer
        # churn per request.
        timeout = self.profile.idleTimeout
        if self.sessions or not self.engine.idleAllowed(self):
            self._arm("idle", timeout, self._checkIdle)
            return
        idle = self._clock.seconds() - self._idleSince
        if idle >= timeout:
            self.machine.idleTimedOut()
        else:
            self._arm("idle", timeout - idle, self._checkIdle)

    # -- what the outputs do -------------------------------------------------

    def _end(self, reason, abnormal, cameUp=True):
        if self.ending is None:
            self.ending = Ending(reason, abnormal, cameUp)

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

    def _graceAfter(self, seconds):
        self._arm("grace", seconds, self.machine.graceExpired)

    def _leaving(self):
        # no more sessions for it; its timers of an active worker stop
        for name in ("startup", "heartbeat", "idle"):
            self._disarm(name)
        self.engine.workerLeaving(self)

    def _sendTerminate(self):
        connection = self.connection
        if connection is not None:
            connection.send(CONTROL_CHANNEL, TERMINATE,
                            [TERMINATE_NORMAL, self.reason or "stopped"])

    def _exitStatus(self, reason):
        exitCode = getattr(reason, "exitCode", None)
        signalNumber = getattr(reason, "signal", None)
        self.exitStatus = ("signal {}".format(signalNumber)
                           if signalNumber else "exit {}".format(exitCode))
        return exitCode, signalNumber


_builder = TypeMachineBuilder(WorkerInputs, Worker)
_starting = _builder.state("starting")
_active = _builder.state("active")
_terminating = _builder.state("terminating")
_signalled = _builder.state("signalled")
_killed = _builder.state("killed")
_dead = _builder.state("dead")

nameStates([_starting, _active, _terminating, _signalled, _killed, _dead],
           WorkerInputs.stateName)


def _refuse(inputs, worker, connection):
    # the connection closes itself: only a starting worker takes one
    return False


# -- starting: spawned, waiting for the handshake ---------------------------

@_starting.upon(WorkerInputs.handshake).to(_active)
def _attach(inputs, worker, connection):
    worker.connection = connection
    if getattr(worker.transport, "inProcess", False):
        worker.transport.connection = connection
    worker._disarm("startup")
    now = worker._clock.seconds()
    worker._lastSeen = worker._idleSince = now
    worker._arm("heartbeat", worker.profile.heartbeatTimeout,
                worker._checkHeartbeat)
    worker._arm("idle", worker.profile.idleTimeout, worker._checkIdle)
    worker.engine.workerActive(worker)
    return True


@_starting.upon(WorkerInputs.startupTimedOut).to(_killed)
def _neverCameUp(inputs, worker):
    worker._end("no handshake within {:g}s".format(
        worker.profile.startupTimeout), abnormal=True, cameUp=False)
    worker._leaving()
    worker._signal(signal.SIGKILL)


@_starting.upon(WorkerInputs.stop).to(_signalled)
def _stopUnstarted(inputs, worker, reason):
    # nothing to send a terminate on yet: SIGTERM, then SIGKILL
    worker._end(reason, abnormal=False, cameUp=False)
    worker._leaving()
    worker._signal(signal.SIGTERM)
    worker._graceAfter(worker.profile.terminationTimeout)


@_starting.upon(WorkerInputs.processEnded).to(_dead)
def _diedStarting(inputs, worker, reason):
    worker._exitStatus(reason)
    last = worker.output.last()
    # whatever its status, a worker that leaves before its handshake did
    # not start: the engine must not spawn it again and again
    worker._end("process ended ({}) before its handshake{}".format(
        worker.exitStatus, ": " + last if last else ""),
        abnormal=True, cameUp=False)
    worker._leaving()
    _gone(worker)


# -- active: handshaken, takes sessions --------------------------------------

@_active.upon(WorkerInputs.heartbeat).loop()
@_terminating.upon(WorkerInputs.heartbeat).loop()
def _answerHeartbeat(inputs, worker):
    # answered while it finishes its sessions too: the real framework
    # leaves ("disowned") when a heartbeat goes unanswered for 5 s
    worker.connection.send(CONTROL_CHANNEL, HEARTBEAT, [])


@_active.upon(WorkerInputs.heartbeatTimedOut).to(_killed)
def _silent(inputs, worker):
    worker._end("no heartbeat within {:g}s".format(
        worker.profile.heartbeatTimeout), abnormal=True)
    worker._leaving()
    worker._dropSessions()
    worker._signal(signal.SIGKILL)


@_active.upon(WorkerInputs.idleTimedOut).to(_terminating)
def _idle(inputs, worker):
    worker._end("idle", abnormal=False)
    worker._leaving()
    worker._sendTerminate()
    worker._graceAfter(worker.profile.terminationTimeout)


@_active.upon(WorkerInputs.stop).to(_terminating)
def _askToLeave(inputs, worker, reason):
    worker._end(reason, abnormal=False)
    worker._leaving()
    worker._sendTerminate()
    worker._graceAfter(worker.profile.terminationTimeout)


@_active.upon(WorkerInputs.terminated).to(_terminating)
def _leftOnItsOwn(inputs, worker, code, reason):
    if code == TERMINATE_ABNORMAL:
        worker._end("worker terminated abnormally: {}".format(reason),
                    abnormal=True)
        worker.engine.workerBroken(worker, reason)
    else:
        worker._end("worker terminated", abnormal=False)
    worker._leaving()
    worker._dropSessions()
    worker._graceAfter(worker.profile.terminationTimeout)


@_active.upon(WorkerInputs.connectionLost).to(_terminating)
def _lostConnection(inputs, worker):
    worker._end("worker lost its connection", abnormal=True)
    worker._leaving()
    worker._dropSessions()
    worker._graceAfter(worker.profile.terminationTimeout)


@_active.upon(WorkerInputs.processEnded).to(_dead)
def _died(inputs, worker, reason):
    exitCode, signalNumber = worker._exitStatus(reason)
    worker._end("process ended ({})".format(worker.exitStatus),
                abnormal=bool(signalNumber) or exitCode not in (0, None))
    worker._leaving()
    _gone(worker)


_active.upon(WorkerInputs.handshake).loop()(_refuse)

# -- leaving: terminating, then SIGTERM, then SIGKILL -------------------------

@_terminating.upon(WorkerInputs.graceExpired).to(_signalled)
def _term(inputs, worker):
    worker._signal(signal.SIGTERM)
    worker._graceAfter(max(1.0, worker.profile.terminationTimeout / 2))


@_signalled.upon(WorkerInputs.graceExpired).to(_killed)
def _kill(inputs, worker):
    worker._signal(signal.SIGKILL)


def _droppedWhileLeaving(inputs, worker):
    worker._dropSessions()


def _endedWhileLeaving(inputs, worker, reason):
    # it was asked to go (or already failed): however it went is expected
    worker._exitStatus(reason)
    _gone(worker)


def _gone(worker):
    worker._disarmAll()
    worker._dropSessions()
    connection = worker.connection
    transport = getattr(connection, "transport", None)
    if transport is not None:
        # a child that inherited the socket must not keep it open
        transport.loseConnection()
    worker.engine.workerGone(worker)


for _state in (_terminating, _signalled, _killed):
    _state.upon(WorkerInputs.connectionLost).loop()(_droppedWhileLeaving)
    _state.upon(WorkerInputs.processEnded).to(_dead)(_endedWhileLeaving)
    _state.upon(WorkerInputs.handshake).loop()(_refuse)
    for _input in (WorkerInputs.startupTimedOut,
                   WorkerInputs.heartbeatTimedOut,
                   WorkerInputs.idleTimedOut):
        _state.upon(_input).loop().returns(None)
    if _state is not _terminating:
        _state.upon(WorkerInputs.heartbeat).loop().returns(None)
    _state.upon(WorkerInputs.stop).loop().returns(None)
    _state.upon(WorkerInputs.terminated).loop().returns(None)
_killed.upon(WorkerInputs.graceExpired).loop().returns(None)

# -- dead: nothing more happens -----------------------------------------------

_dead.upon(WorkerInputs.handshake).loop()(_refuse)
for _input in (WorkerInputs.heartbeat, WorkerInputs.startupTimedOut,
               WorkerInputs.heartbeatTimedOut, WorkerInputs.idleTimedOut,
               WorkerInputs.connectionLost, WorkerInputs.graceExpired):
    _dead.upon(_input).loop().returns(None)
_dead.upon(WorkerInputs.stop).loop().returns(None)
_dead.upon(WorkerInputs.terminated).loop().returns(None)
_dead.upon(WorkerInputs.processEnded).loop().returns(None)

#: The lifecycle of one worker.
WorkerMachine = build(_builder)
