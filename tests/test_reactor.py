"""
Tests for L{cocaine.reactor}: the node's reactor handles ready descriptors
as Twisted's C{epoll} reactor does, without the legacy log context, and is
installed unless another reactor was, by twistd and twist alike, or named
with C{--reactor=cocaine} (C{twisted/plugins/cocaine_reactor.py}).
"""

import errno
import os
import signal
import socket
import subprocess
import sys

from twisted.internet import main, tcp
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactor
from twisted.logger import Logger
from twisted.python.usage import UsageError
from twisted.trial.unittest import SkipTest, SynchronousTestCase

import cocaine.reactor
from cocaine.reactor import NodeReactor, install, logReactor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Reader:
    """
    A read descriptor on one end of a socket pair that records its reads.
    """

    def __init__(self, sock, onRead=None):
        self.sock = sock
        self.reads = []
        self.lost = []
        self.prefixes = 0
        self.onRead = onRead

    def fileno(self):
        return self.sock.fileno()

    def logPrefix(self):
        self.prefixes += 1
        return "Reader"

    def doRead(self):
        self.reads.append(self.sock.recv(100))
        if self.onRead is not None:
            return self.onRead()

    def connectionLost(self, reason):
        self.lost.append(reason)


class NodeReactorTests(SynchronousTestCase):

    if NodeReactor is None:
        skip = "no epoll here"

    def setUp(self):
        self.reactor = NodeReactor()
        self.addCleanup(self.closeReactor)

    def closeReactor(self):
        self.reactor._poller.close()
        waker = self.reactor.waker
        for fd in (waker.i, waker.o):
            os.close(fd)

    def reader(self, onRead=None):
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        ours.setblocking(False)
        reader = Reader(ours, onRead)
        self.reactor.addReader(reader)
        # before the sockets close (cleanups run last first)
        self.addCleanup(self.reactor.removeReader, reader)
        return reader, theirs

    def test_readReady(self):
        """
        A ready descriptor is read in the reactor's iteration, without
        asking it for a log prefix (the legacy log context is not made).
        """
        reader, peer = self.reader()
        peer.send(b"hello")
        self.reactor.doIteration(0)
        self.assertEqual(reader.reads, [b"hello"])
        self.assertEqual(reader.prefixes, 0)
        self.assertEqual(reader.lost, [])

    def test_nothingReady(self):
        """
        An iteration with nothing ready reads nothing.
        """
        reader, peer = self.reader()
        self.reactor.doIteration(0)
        self.assertEqual(reader.reads, [])

    def test_removedByAnEarlierEvent(self):
        """
        A descriptor that an earlier event of the same poll removed is not
        handled.
        """
        readers = []

        def removeTheOther():
            for other in readers:
                if other.reads == []:
                    self.reactor.removeReader(other)
        first, firstPeer = self.reader(removeTheOther)
        second, secondPeer = self.reader(removeTheOther)
        readers.extend([first, second])
        firstPeer.send(b"1")
        secondPeer.send(b"2")
        self.reactor.doIteration(0)
        self.assertEqual(len(first.reads + second.reads), 1)

    def test_disconnectReturned(self):
        """
        A read that returns a reason disconnects its descriptor, as on
        Twisted's reactor.
        """
        reader, peer = self.reader(lambda: main.CONNECTION_DONE)
        peer.send(b"bye")
        self.reactor.doIteration(0)
        self.assertEqual(len(reader.lost), 1)
        self.assertNotIn(reader, self.reactor.getReaders())

    def test_failureLoggedAndPollGoesOn(self):
        """
        What handling a descriptor raises beyond its read (its
        C{connectionLost}, here) is logged, and the poll's other
        descriptors are still handled.
        """
        def lostFails(reason):
            raise ZeroDivisionError()
        first, firstPeer = self.reader(lambda: main.CONNECTION_DONE)
        first.connectionLost = lostFails
        second, secondPeer = self.reader()
        firstPeer.send(b"1")
        secondPeer.send(b"2")
        self.reactor.doIteration(0)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual((first.reads, second.reads), ([b"1"], [b"2"]))

    def test_interrupted(self):
        """
        A poll interrupted by a signal ends the iteration; any other error
        of the poll is raised.
        """
        poller = FailingPoller(self.reactor._poller, errno.EINTR)
        self.patch(self.reactor, "_poller", poller)
        self.assertIsNone(self.reactor.doIteration(0))
        poller.errno = errno.EBADF
        self.assertRaises(OSError, self.reactor.doIteration, 0)


class Recording(Protocol):
    """
    A protocol that records what it reads and how its connection ended.
    """

    def __init__(self, onData=None):
        self.data = []
        self.lost = []
        self.onData = onData

    def dataReceived(self, data):
        self.data.append(data)
        if self.onData is not None:
            self.onData()

    def connectionLost(self, reason):
        self.lost.append(reason)


class RefusingSocket:
    """
    A socket whose C{recv} fails with C{errno}; the rest is a real one's.
    """

    def __init__(self, sock, errno):
        self._sock = sock
        self.errno = errno

    def recv(self, size):
        raise OSError(self.errno, os.strerror(self.errno))

    def __getattr__(self, name):
        return getattr(self._sock, name)


class PlainReadTests(SynchronousTestCase):
    """
    A connection that reads as TCP's (C{tcp.Connection}'s C{doRead} and
    C{_dataReceived}: TCP's transports, the workers' plain UNIX ones) and
    is only readable is read by the node's reactor itself, with what
    Twisted's C{_doReadOrWrite} and C{doRead} would do.
    """

    if NodeReactor is None:
        skip = "no epoll here"

    def setUp(self):
        self.reactor = NodeReactor()
        self.addCleanup(NodeReactorTests.closeReactor, self)

        def notHere(*args):
            raise AssertionError("read through _doReadOrWrite")
        self.reactor._doReadOrWrite = notHere

    def connection(self, protocol):
        ours, theirs = socket.socketpair()
        self.addCleanup(theirs.close)
        ours.setblocking(False)
        connection = tcp.Connection(ours, protocol, self.reactor)
        protocol.makeConnection(connection)
        self.reactor.addReader(connection)
        self.addCleanup(self.reactor.removeAll)
        return connection, theirs

    def test_read(self):
        """
        What the peer sent reaches the protocol in the iteration.
        """
        protocol = Recording()
        connection, peer = self.connection(protocol)
        peer.send(b"hello")
        self.reactor.doIteration(0)
        self.assertEqual((protocol.data, protocol.lost), ([b"hello"], []))
        self.assertIn(connection, self.reactor.getReaders())

    def test_peerClosed(self):
        """
        The peer's end of its stream (a readable socket that reads
        nothing) loses the connection cleanly.
        """
        protocol = Recording()
        connection, peer = self.connection(protocol)
        peer.shutdown(socket.SHUT_WR)
        self.reactor.doIteration(0)
        self.assertEqual(protocol.data, [])
        self.assertEqual(len(protocol.lost), 1)
        protocol.lost[0].trap(ConnectionDone)
        self.assertNotIn(connection, self.reactor.getReaders())

    def test_handlerRaises(self):
        """
        What the protocol's C{dataReceived} raises is logged, and the
        connection is lost with it.
        """
        protocol = Recording(onData=lambda: 1 / 0)
        connection, peer = self.connection(protocol)
        peer.send(b"x")
        self.reactor.doIteration(0)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(len(protocol.lost), 1)
        protocol.lost[0].trap(ZeroDivisionError)
        self.assertNotIn(connection, self.reactor.getReaders())

    def readRefused(self, code):
        """
        Make a connection whose socket's C{recv} fails with error C{code},
        make it readable and run an iteration.

        @return: the connection and its protocol.
        """
        protocol = Recording()
        connection, peer = self.connection(protocol)
        connection.socket = RefusingSocket(connection.socket, code)
        peer.send(b"x")
        self.reactor.doIteration(0)
        return connection, protocol

    def test_wouldBlock(self):
        """
        A read that would block reads nothing and keeps the connection.
        """
        connection, protocol = self.readRefused(errno.EWOULDBLOCK)
        self.assertEqual((protocol.data, protocol.lost), ([], []))
        self.assertIn(connection, self.reactor.getReaders())

    def test_readFails(self):
        """
        A read that fails otherwise loses the connection (not cleanly).
        """
        connection, protocol = self.readRefused(errno.ECONNRESET)
        self.assertEqual(len(protocol.lost), 1)
        protocol.lost[0].trap(ConnectionLost)
        self.assertNotIn(connection, self.reactor.getReaders())

    def test_otherReadsThroughTwisted(self):
        """
        A connection that reads otherwise (a subclass with its own
        C{doRead}), or one that is also writable, goes through Twisted's
        C{_doReadOrWrite}.
        """
        handled = []
        self.reactor._doReadOrWrite = (
            lambda selectable, fd, event: handled.append(selectable))

        class OwnRead(tcp.Connection):
            def doRead(self):
                pass
        ours, theirs = socket.socketpair()
        self.addCleanup(theirs.close)
        own = OwnRead(ours, Recording(), self.reactor)
        self.reactor.addReader(own)
        self.addCleanup(self.reactor.removeAll)
        plain, peer = self.connection(Recording())
        self.reactor.addWriter(plain)
        theirs.send(b"x")
        peer.send(b"y")
        self.reactor.doIteration(0)
        self.assertEqual(set(handled), {own, plain})


class _HearingCase(SynchronousTestCase):
    """
    A L{NodeReactor} of the test's own, closed after it, and what one of
    L{cocaine.reactor}'s loggers says (C{events}).
    """

    if NodeReactor is None:
        skip = "no epoll here"

    #: the logger of L{cocaine.reactor} heard, and its namespace
    heard = ("log", None)

    def setUp(self):
        self.reactor = NodeReactor()
        self.addCleanup(NodeReactorTests.closeReactor, self)
        self.events = []
        name, namespace = self.heard
        self.patch(cocaine.reactor, name,
                   Logger(namespace=namespace, observer=self.events.append))


class Polls:
    """
    A reactor's C{doIteration} that records each poll's timeout, moves the
    reactor's clock (from 100) on by its turn's step, and stops the loop
    after the last.
    """

    def __init__(self, reactor):
        self.reactor = reactor
        self.steps = []
        self.raising = ()
        self.timeouts = []
        self.now = 100.0
        reactor.seconds = lambda: self.now

    def __call__(self, timeout):
        turn = len(self.timeouts)
        self.timeouts.append(timeout)
        self.now += self.steps[turn]
        if turn == len(self.steps) - 1:
            self.reactor._started = False
        if turn in self.raising:
            raise ZeroDivisionError()


class MainLoopTests(_HearingCase):
    """
    The node's reactor turns as Twisted's does: timed calls run when due,
    calls from threads at the next turn, each poll waits until the next
    timed call (no longer than epoll allows, not at all once the reactor
    is stopping), and an error in a turn is logged and the loop goes on.
    """

    heard = ("_loopLog", "twisted.internet.base")

    def setUp(self):
        _HearingCase.setUp(self)
        self.polls = Polls(self.reactor)
        self.reactor.doIteration = self.polls

    def turns(self, steps, raising=(), running=True):
        """
        Run the main loop with the reactor started, for one turn a step.

        @param raising: the turns whose poll raises.
        @param running: whether the reactor is running (not stopping).
        @return: the timeouts of the turns' polls.
        """
        self.polls.timeouts = []
        self.polls.steps, self.polls.raising = steps, raising
        self.reactor._started, self.reactor.running = True, running
        self.reactor.mainLoop()
        return self.polls.timeouts

    def test_waitsForTheNextCall(self):
        """
        Each poll waits until the first timed call is due, which then
        runs; with none left, the poll waits for ever.
        """
        called = []
        self.reactor.callLater(5, called.append, "five")
        self.assertEqual(self.turns([2, 3, 0]), [5, 3, None])
        self.assertEqual(called, ["five"])

    def test_earliestFirst(self):
        """
        A call made later but due sooner shortens the next wait; a
        cancelled one still times the poll until it is due, as on
        Twisted's reactor, and does not run.
        """
        called = []
        self.reactor.callLater(10, called.append, "ten")
        later = self.reactor.callLater(4, called.append, "four")
        self.assertEqual(self.turns([1, 3, 6, 0]), [4, 3, 6, None])
        self.assertEqual(called, ["four", "ten"])
        three = self.reactor.callLater(3, called.append, "three")
        self.assertEqual(self.turns([1]), [3])
        three.cancel()
        self.assertEqual(self.turns([2, 0]), [2, None])
        self.assertEqual(called, ["four", "ten"])
        self.assertFalse(later.active())

    def test_longestWait(self):
        """
        A call due beyond what epoll can wait for gets the longest wait;
        one due at once gets none.
        """
        self.reactor.callLater(10 ** 8, lambda: None)
        self.assertEqual(self.turns([0, 0]), [2147483, 2147483])
        self.reactor.callLater(1, self.reactor.callLater, 0, lambda: None)
        self.assertEqual(self.turns([2, 0, 0]), [1, 0, 2147483])

    def test_threadCall(self):
        """
        A call from a thread runs at the next turn.
        """
        called = []
        polls = self.polls

        def poll(timeout):
            if not polls.timeouts:
                self.reactor.callFromThread(called.append, "thread")
            polls(timeout)
        self.reactor.doIteration = poll
        self.turns([0, 0])
        self.assertEqual(called, ["thread"])

    def test_stopping(self):
        """
        Once the reactor is no longer running (it is stopping), a poll
        does not wait.
        """
        self.reactor.callLater(5, lambda: None)
        self.assertEqual(self.turns([0, 0], running=False), [0, 0])

    def test_errorLoggedLoopGoesOn(self):
        """
        What a turn raises is logged, critical, and the loop turns on.
        """
        self.assertEqual(self.turns([1, 1, 0], raising=(0,)),
                         [None, None, None])
        said = [(event["log_format"], event["log_level"].name,
                 event["log_namespace"]) for event in self.events]
        self.assertEqual(said, [
            ("Unexpected error in main loop", "critical",
             "twisted.internet.base"),
            ("Main loop terminated.", "info", "twisted.internet.base")])
        self.assertIsInstance(self.events[0]["log_failure"].value,
                              ZeroDivisionError)

    def test_run(self):
        """
        The real reactor runs a call when it starts and stops when told,
        its shutdown triggers fired.
        """
        fired = []
        del self.reactor.doIteration, self.reactor.seconds
        self.reactor.callWhenRunning(self.reactor.callLater, 0.01,
                                     self.reactor.stop)
        self.reactor.addSystemEventTrigger("after", "shutdown",
                                           fired.append, "shutdown")
        self.reactor.run(installSignalHandlers=False)
        self.assertEqual(fired, ["shutdown"])
        self.assertIn("Main loop terminated.", [
            event["log_format"] for event in self.events])


class StopSignalTests(_HearingCase):
    """
    A stop signal stops the node's reactor once: one that comes while it
    is stopping (its services drain) or has stopped is logged, not
    answered with a second C{stop()} and its C{ReactorNotRunning}.
    """

    def said(self):
        return [event["log_format"].format(**event) for event in self.events]

    def test_secondSignalDuringDrain(self):
        """
        A SIGTERM seconds into a drain that a first SIGTERM began is
        logged; the drain goes on and the reactor stops once, with the
        first signal to end the process with.
        """
        reactor = self.reactor
        drained = Deferred()
        reactor.addSystemEventTrigger("before", "shutdown", lambda: drained)
        reactor.callWhenRunning(reactor.sigTerm, signal.SIGTERM)
        reactor.callLater(0.05, reactor.sigTerm, signal.SIGTERM)
        reactor.callLater(0.1, reactor.sigInt, signal.SIGINT)
        reactor.callLater(0.15, drained.callback, None)
        # no handlers: the signals are these calls
        reactor.run(installSignalHandlers=False)
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertEqual(self.said(), [
            "Received SIGTERM, shutting down.",
            "Received SIGTERM, already shutting down.",
            "Received SIGINT, already shutting down."])
        self.assertEqual(reactor._exitSignal, signal.SIGTERM)

    def test_inQuickSuccession(self):
        """
        Two signals before the loop took the first: one stop.
        """
        reactor = self.reactor
        reactor.startRunning(installSignalHandlers=False)
        reactor.sigInt(signal.SIGINT)
        reactor.sigTerm(signal.SIGTERM)
        reactor.runUntilCurrent()
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertTrue(reactor._stopped)
        self.assertEqual(self.said(), [
            "Received SIGINT, shutting down.",
            "Received SIGTERM, already shutting down."])
        self.assertEqual(reactor._exitSignal, signal.SIGINT)

    def test_afterStop(self):
        """
        A signal once the reactor was stopped by other means (the node's
        own stop after a failed start) is only logged, and does not choose
        the exit.
        """
        reactor = self.reactor
        reactor.startRunning(installSignalHandlers=False)
        reactor.stop()
        reactor.sigTerm(signal.SIGTERM)
        reactor.runUntilCurrent()
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertEqual(self.said(),
                         ["Received SIGTERM, already shutting down."])
        self.assertIsNone(reactor._exitSignal)

    def test_stoppedMeanwhile(self):
        """
        A first signal whose stop finds the reactor stopped by other means
        before the loop took it does not stop it again.
        """
        reactor = self.reactor
        reactor.startRunning(installSignalHandlers=False)
        reactor.sigTerm(signal.SIGTERM)
        reactor.stop()
        reactor.runUntilCurrent()
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertEqual(self.said(), ["Received SIGTERM, shutting down."])


class FailingPoller:
    """
    An C{epoll} object whose C{poll} fails with C{errno}.
    """

    def __init__(self, real, errno):
        self.real = real
        self.errno = errno

    def poll(self, timeout, most):
        raise OSError(self.errno, os.strerror(self.errno))

    def close(self):
        self.real.close()


def _run(code):
    """
    @return: what a fresh interpreter running C{code} from the project's
        root printed.
    """
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True,
        text=True, timeout=60, check=True).stdout.strip()


class InstallTests(SynchronousTestCase):

    if NodeReactor is None:
        skip = "no epoll here: Twisted's default reactor is installed"

    def test_installedByDefault(self):
        """
        Without a reactor installed, L{installDefault} installs ours.
        """
        self.assertEqual(_run(
            "from cocaine.reactor import installDefault\n"
            "print(type(installDefault()).__name__)"), "NodeReactor")

    def test_anInstalledReactorStays(self):
        """
        A reactor installed first (C{twistd --reactor NAME}) stays.
        """
        self.assertEqual(_run(
            "from twisted.internet import selectreactor\n"
            "selectreactor.install()\n"
            "from cocaine.reactor import installDefault\n"
            "print(type(installDefault()).__name__)"), "SelectReactor")

    def test_nodeAndProxy(self):
        """
        C{twistd cocaine} and C{twistd cocaine-proxy} run on it: their
        C{makeService} installs it before the tree is built (here the
        node's config is refused after that).
        """
        self.assertEqual(_run(
            "from cocaine import tap\n"
            "try:\n"
            "    tap.makeService({'config': '/nonexistent/cocaine.json'})\n"
            "except SystemExit:\n"
            "    pass\n"
            "from twisted.internet import reactor\n"
            "print(type(reactor).__name__)"), "NodeReactor")
        self.assertEqual(_run(
            "from cocaine.http import tap\n"
            "options = tap.Options()\n"
            "options.parseOptions(['--locator', '127.0.0.1:10053',\n"
            "                      '--port', '0'])\n"
            "tap.makeService(options)\n"
            "from twisted.internet import reactor\n"
            "print(type(reactor).__name__)"), "NodeReactor")

    def test_twist(self):
        """
        C{twist cocaine} and C{twist cocaine-proxy} run on it too: their
        options install it before twist installs its default reactor.
        """
        for command in ("['cocaine', '--config', '/nonexistent.json']",
                        "['cocaine-proxy', '--port', '0']"):
            self.assertEqual(_run(
                "from twisted.application.twist._twist import Twist\n"
                "options = Twist.options(['twist'] + {})\n"
                "print(type(options['reactor']).__name__)".format(command)),
                "NodeReactor")

    def test_twistReactorNamed(self):
        """
        C{twist --reactor NAME} still chooses: Twisted's default reactor
        too, when named.
        """
        self.assertEqual(_run(
            "from twisted.application.twist._twist import Twist\n"
            "options = Twist.options(['twist', '--reactor=select',\n"
            "                         'cocaine'])\n"
            "print(type(options['reactor']).__name__)"), "SelectReactor")

    def test_reactorPlugin(self):
        """
        C{--reactor=cocaine} (twistd's and twist's) installs it, through
        the reactor plugin.
        """
        self.assertEqual(_run(
            "from twisted.application.reactors import installReactor\n"
            "print(type(installReactor('cocaine')).__name__)"),
            "NodeReactor")
        self.assertEqual(_run(
            "from twisted.application.twist._twist import Twist\n"
            "options = Twist.options(['twist', '--reactor=cocaine',\n"
            "                         'cocaine'])\n"
            "print(type(options['reactor']).__name__)"), "NodeReactor")


class NoEpollTests(SynchronousTestCase):
    """
    Where there is no C{epoll}, there is no node reactor to install.
    """

    def test_installRefused(self):
        """
        C{--reactor=cocaine} says why it cannot be used (twistd shows the
        message); nothing is installed.
        """
        self.patch(cocaine.reactor, "NodeReactor", None)
        error = self.assertRaises(ImportError, install)
        self.assertIsInstance(error, UsageError)
        self.assertEqual(str(error), "reactor cocaine "
                         "(cocaine.reactor.NodeReactor) needs epoll, which "
                         "this system does not have")


#: Run first in a fresh interpreter: there is no C{epoll} there.
_NO_EPOLL = "import sys\nsys.modules['twisted.internet.epollreactor'] = None\n"


def _exits(code):
    """
    @return: the exit status of a fresh interpreter running C{code} from
        the project's root, and what it wrote to stdout and stderr.
    """
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True,
        text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def _helpReactorsLine(case, first=""):
    """
    @param first: code a fresh interpreter runs before C{twistd
        --help-reactors}.
    @return: the line of that listing about the node reactor.
    """
    status, output = _exits(
        first + "import sys\n"
        "sys.argv = ['twistd', '--help-reactors']\n"
        "from twisted.scripts.twistd import run\n"
        "run()\n")
    case.assertEqual(status, 0, output)
    [line] = [line for line in output.splitlines()
              if "Cocaine's node reactor" in line]
    return line


class NoEpollCommandLineTests(SynchronousTestCase):
    """
    C{--reactor=cocaine} where there is no C{epoll} ends the command with
    a one-line error saying why, not a traceback.
    """

    def test_twist(self):
        """
        C{twist} reports it as a usage error (it reports only unknown
        reactor names by itself).
        """
        status, output = _exits(
            _NO_EPOLL
            + "from twisted.application.twist._twist import Twist\n"
            "Twist.main(['twist', '--reactor=cocaine', 'cocaine'])\n")
        self.assertNotIn("Traceback", output)
        self.assertEqual(status, 64)
        self.assertIn("Error: reactor cocaine (cocaine.reactor.NodeReactor)"
                      " needs epoll, which this system does not have\n",
                      output)

    def test_twistd(self):
        """
        C{twistd} reports it too.
        """
        status, output = _exits(
            _NO_EPOLL
            + "import sys\n"
            "sys.argv = ['twistd', '--reactor=cocaine', 'cocaine']\n"
            "from twisted.scripts.twistd import run\n"
            "run()\n")
        self.assertNotIn("Traceback", output)
        self.assertNotEqual(status, 0)
        self.assertIn("reactor cocaine (cocaine.reactor.NodeReactor) needs "
                      "epoll, which this system does not have", output)

    def test_helpReactors(self):
        """
        C{twistd --help-reactors} lists it among the reactors not
        available here, with the reason.
        """
        line = _helpReactorsLine(self, _NO_EPOLL)
        self.assertTrue(line.lstrip().startswith("!cocaine"), line)
        self.assertIn("needs epoll, which this system does not have", line)


class HelpReactorsTests(SynchronousTestCase):
    """
    Where there is C{epoll}, C{twistd --help-reactors} lists the node
    reactor as available.
    """

    def test_listed(self):
        if NodeReactor is None:
            raise SkipTest("no epoll here")
        line = _helpReactorsLine(self)
        self.assertTrue(line.lstrip().startswith("cocaine"), line)


class LogReactorTests(SynchronousTestCase):
    """
    L{logReactor} says at start-up which reactor runs, and how to run on
    the node's own when it is another.
    """

    def said(self, reactor):
        events = []
        self.patch(cocaine.reactor, "log", Logger(observer=events.append))
        logReactor(reactor)
        [event] = events
        return event["log_format"].format(**event)

    def test_nodeReactor(self):
        if NodeReactor is None:
            raise SkipTest("no epoll here")
        # not started: only its class counts
        self.assertEqual(self.said(NodeReactor.__new__(NodeReactor)),
                         "reactor: cocaine.reactor.NodeReactor")

    def test_another(self):
        if NodeReactor is None:
            raise SkipTest("no epoll here")
        self.assertEqual(
            self.said(MemoryReactor()),
            "reactor: twisted.internet.testing.MemoryReactor, installed "
            "before the node's (--reactor NAME); twistd and twist run on "
            "cocaine.reactor.NodeReactor given --reactor=cocaine or no "
            "--reactor")

    def test_noEpoll(self):
        self.patch(cocaine.reactor, "NodeReactor", None)
        self.assertEqual(
            self.said(MemoryReactor()),
            "reactor: twisted.internet.testing.MemoryReactor (there is no "
            "epoll here for cocaine.reactor.NodeReactor)")
