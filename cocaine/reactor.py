# -*- test-case-name: tests.test_reactor -*-
"""
The reactor a node runs on unless twistd or twist is told otherwise
(C{--reactor NAME}); C{--reactor=cocaine} names it
(C{twisted/plugins/cocaine_reactor.py}).

L{NodeReactor} is Twisted's C{epoll} reactor, less one thing it does for
every ready descriptor: Twisted's C{EPollReactor.doPoll} hands each event
to C{twisted.python.log.callWithLogger}, which asks the descriptor for
its log prefix and pushes a copy of the legacy log context with it for
the duration of the read, so that a message logged through the legacy
C{twisted.python.log} API while handling it is tagged with the
connection. That costs the node 5-6% of its CPU a request at every
depth (docs/performance.md, ninth round): an app request takes two
descriptors' turns each way.

Nothing of ours logs through the legacy API (every module has a
C{twisted.logger.Logger}, whose events name their namespace). On this
reactor a legacy message logged while a read is handled (Twisted's own
C{log.err} for a C{doRead} that raised, say) reads C{[-]} where it read
the connection's prefix.

A connection that is only readable and reads as TCP's connections do
(C{tcp.Connection}'s C{doRead} and C{_dataReceived}: clients' TCP
connections and the workers' plain UNIX ones) is read by the reactor
itself, with what Twisted's C{_doReadOrWrite}, C{doRead} and
C{_dataReceived} would do, in one frame instead of four: a sequential
request wakes the node twice, and those frames were 4% of its
instructions for it (docs/performance.md, twenty-third round). Any
other descriptor, or a ready event with more than C{EPOLLIN} in it, goes
through Twisted's C{_doReadOrWrite}.

Its turns are Twisted's, with less to do when nothing is due: Twisted
calls C{runUntilCurrent} and C{timeout} every turn, which look for new
timed calls twice and read the clock twice; a turn with no call from a
thread, no new timed call and none due reads the clock once and polls
for as long as C{timeout} would have said (L{NodeReactor._turns}). A
bare wake of the loop went from about 19,800 instructions to 16,300,
and a sequential request, two turns of the node, 4.5% fewer
(docs/performance.md, twenty-fourth round).

It also stops once. Twisted's reactor answers every SIGTERM and SIGINT
with a C{stop()}, and a C{stop()} while it is stopping raises
C{ReactorNotRunning}: a second signal while the node's services drain
(seconds, when apps finish their requests) logged that traceback. Here
the first stop signal stops the reactor as Twisted's does, and one that
comes once it is stopping, by a signal or not, only says so. Everything
else is Twisted's reactor as it is.
"""

import errno
import sys
from errno import EWOULDBLOCK

from twisted.internet import tcp
from twisted.internet.error import ConnectionFdescWentAway
from twisted.internet.main import CONNECTION_DONE, CONNECTION_LOST
from twisted.logger import Logger, LogLevel
from twisted.python.reflect import qual
from twisted.python.usage import UsageError

try:
    from select import EPOLLIN

    from twisted.internet.epollreactor import EPollReactor
except ImportError:
    # no epoll here: twistd's default reactor serves (installDefault)
    EPollReactor = None

_REACTOR_MODULE = "twisted.internet.reactor"

#: The longest a poll waits, in seconds (as Twisted's C{timeout()}: the
#: milliseconds of epoll_wait's timeout are a C int)
_LONGEST_WAIT = 2147483

log = Logger()

#: the main loop's own messages, in the namespace Twisted's have
_loopLog = Logger(namespace="twisted.internet.base")


class NoEpoll(ImportError, UsageError):
    """
    C{--reactor=cocaine} where there is no C{epoll}.

    An L{ImportError}, as Twisted's reactors say they cannot be used
    here; and a L{UsageError}, so that C{twist}, which itself reports only
    an unknown reactor name and lets anything else its reactor's
    C{install} raises end in a traceback, reports it in one line
    (C{twistd} reports any exception of C{install} so).
    """


if EPollReactor is not None:
    class NodeReactor(EPollReactor):
        """
        Twisted's C{epoll} reactor without the legacy log context around
        each ready descriptor, stopped once by stop signals.
        """

        def doPoll(self, timeout):
            """
            Wait up to C{timeout} seconds for ready descriptors and handle
            them as Twisted's C{epoll} reactor does (C{_doReadOrWrite});
            what that raises (a protocol's C{connectionLost}, say) is
            logged and the poll's other descriptors are handled, as there.
            """
            if timeout is None:
                timeout = -1
            try:
                ready = self._poller.poll(timeout, len(self._selectables))
            except OSError as e:
                if e.errno == errno.EINTR:
                    return
                raise
            handle = self._doReadOrWrite
            selectables = self._selectables
            plain = _plainReads
            for fd, event in ready:
                # a descriptor an earlier event of this poll removed is gone
                selectable = selectables.get(fd)
                if selectable is not None:
                    try:
                        if event == EPOLLIN:
                            reads = plain.get(type(selectable))
                            if reads is None:
                                reads = _learnPlainRead(type(selectable))
                            if reads:
                                self._read(selectable)
                                continue
                        handle(selectable, fd, event)
                    except KeyboardInterrupt:
                        raise
                    except BaseException:
                        log.failure("handling {selectable!r}",
                                    selectable=selectable)

        def _read(self, selectable):
            """
            What C{_doReadOrWrite} does for a connection that is only
            readable and reads as TCP's does (C{doRead}, then
            C{_dataReceived}), in one frame instead of four.
            """
            if selectable.fileno() == -1:
                # as Twisted says it (its own instance is private)
                self._disconnectSelectable(selectable, ConnectionFdescWentAway(
                    "File descriptor lost"), False)
                return
            try:
                data = selectable.socket.recv(selectable.bufferSize)
            except OSError as e:
                if e.args[0] == EWOULDBLOCK:
                    return
                why = CONNECTION_LOST
            else:
                if data:
                    try:
                        selectable.protocol.dataReceived(data)
                        return
                    except BaseException:
                        # as there: logged, and the connection is lost
                        # with what was raised
                        log.failure("handling {selectable!r}",
                                    selectable=selectable)
                        self._disconnectSelectable(
                            selectable, sys.exc_info()[1], False)
                        return
                else:
                    why = CONNECTION_DONE
            self._disconnectSelectable(selectable, why, True)

        doIteration = doPoll

        def mainLoop(self):
            """
            Twisted's main loop (C{ReactorBase.mainLoop}): an error raised
            in a turn is logged, critical, and the loop goes on; its
            messages are Twisted's, in Twisted's namespace. Its turns are
            L{_turns}.
            """
            while self._started:
                try:
                    self._turns()
                except BaseException:
                    _loopLog.failure("Unexpected error in main loop",
                                     level=LogLevel.critical)
            _loopLog.info("Main loop terminated.")

        def _turns(self):
            """
            Turn until the reactor stops: run what is due, then poll as
            long as the next timed call allows.

            Twisted's turn calls C{runUntilCurrent} and C{timeout}, which
            look for new timed calls twice and read the clock twice. When
            there is nothing for C{runUntilCurrent} to do (no call from a
            thread, no new timed call, no stop just made, the first timed
            call not due), this turn reads the clock once and polls for
            the time C{timeout} would have said; otherwise it calls them
            as Twisted does. A sequential request takes two turns of the
            node (docs/performance.md, twenty-fourth round).
            """
            # the same objects for as long as the reactor lives; the timed
            # calls' lists are new ones after runUntilCurrent and timeout
            threads = self.threadCallQueue
            seconds = self.seconds
            poll = self.doIteration
            while self._started:
                pending = self._pendingTimedCalls
                if (threads or self._newTimedCalls or self._justStopped
                        or (pending and pending[0].time <= seconds())):
                    self.runUntilCurrent()
                    timeout = self.timeout()
                elif pending:
                    # as timeout(): never past, at most epoll's limit
                    timeout = max(0, min(_LONGEST_WAIT,
                                         pending[0].time - seconds()))
                else:
                    timeout = None
                poll(timeout if self.running else 0)

        #: whether a stop signal came (its stop may not have run yet)
        _stopSignalled = False

        def sigInt(self, number, frame=None):
            """
            Stop on SIGINT, unless stopping already (L{_stopOnSignal}).
            """
            self._stopOnSignal("SIGINT", number)

        def sigTerm(self, number, frame=None):
            """
            Stop on SIGTERM, unless stopping already (L{_stopOnSignal}).
            """
            self._stopOnSignal("SIGTERM", number)

        def _stopOnSignal(self, name, number):
            """
            The first stop signal stops the reactor, from its loop, and is
            the one twistd and twist end with (C{_exitSignal}); one that
            comes once a signal or C{stop()} began the shutdown is only
            logged: the shutdown goes on as it was, its drain included.
            """
            if self._stopSignalled or self._stopped:
                log.info("Received {signal}, already shutting down.",
                         signal=name)
                return
            self._stopSignalled = True
            log.info("Received {signal}, shutting down.", signal=name)
            self._exitSignal = number
            self.callFromThread(self._stopOnce)

        def _stopOnce(self):
            # stop() raises when something stopped the reactor meanwhile
            if not self._stopped:
                self.stop()

    #: per connection class: whether it reads as TCP's connections do
    #: (L{NodeReactor._read})
    _plainReads = {}

    def _learnPlainRead(cls):
        plain = (getattr(cls, "doRead", None) is tcp.Connection.doRead
                 and getattr(cls, "_dataReceived", None)
                 is tcp.Connection._dataReceived)
        _plainReads[cls] = plain
        return plain
else:
    #: where there is no C{epoll}, there is no node reactor
    NodeReactor = None


def install():
    """
    Install a L{NodeReactor} as the global reactor: C{--reactor=cocaine}
    of twistd and twist (the reactor plugin
    C{twisted/plugins/cocaine_reactor.py} names this function).

    @raise NoEpoll: there is no C{epoll} here (twistd and twist say so in
        one line, naming the reactor).
    @raise twisted.internet.error.ReactorAlreadyInstalledError: a reactor
        is installed already.
    """
    if NodeReactor is None:
        raise NoEpoll("reactor cocaine (cocaine.reactor.NodeReactor) "
                      "needs epoll, which this system does not have")
    from twisted.internet.main import installReactor
    installReactor(NodeReactor())


def installDefault():
    """
    Install a L{NodeReactor} as the global reactor unless one is
    installed already (chosen with C{--reactor}, or imported by something
    that ran first) or there is no C{epoll} (Twisted's default reactor
    then).

    The node's and the proxy's options call it once they are read, before
    C{twist} installs its default reactor; their C{makeService} calls it
    again (C{twistd} installs no reactor of its own before that).

    @return: the global reactor.
    """
    if _REACTOR_MODULE not in sys.modules and NodeReactor is not None:
        install()
    from twisted.internet import reactor
    return reactor


def logReactor(reactor):
    """
    Say at start-up which reactor runs the process and, when it is not a
    L{NodeReactor}, how to run on one.
    """
    name = qual(type(reactor))
    if NodeReactor is not None and isinstance(reactor, NodeReactor):
        log.info("reactor: {reactor}", reactor=name)
    elif NodeReactor is None:
        log.info("reactor: {reactor} (there is no epoll here for "
                 "cocaine.reactor.NodeReactor)", reactor=name)
    else:
        log.info("reactor: {reactor}, installed before the node's "
                 "(--reactor NAME); twistd and twist run on "
                 "cocaine.reactor.NodeReactor given --reactor=cocaine or "
                 "no --reactor", reactor=name)
