"""
Tests for L{cocaine.log.service}.
"""

import io
import os
import signal

import msgpack
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from cocaine.errors import (
    CATEGORY_DISPATCH, INVALID_ARGUMENT, InvalidArgument, StartupError)
from cocaine.interfaces import IRPCService
from cocaine.log.service import LoggingService
from cocaine.log.sinks import FileSink
from cocaine.protocol.services import LOGGING, LOGGING_VERSION
from cocaine.rpc.hosting import HostedService, ServerFactory

EMIT, VERBOSITY, SET_VERBOSITY = 0, 1, 2


class _RecordingSink:
    def __init__(self):
        self.records = []

    def emit(self, priority, source, message, attributes):
        self.records.append((priority, source, message, attributes))


class _BrokenSink:
    def emit(self, priority, source, message, attributes):
        raise ZeroDivisionError("broken sink")


class _FakeReactor:
    """
    Records what a signal handler asks the reactor to do.
    """

    def __init__(self):
        self.calls = []

    def callFromThread(self, f, *args, **kwargs):
        self.calls.append((f, args, kwargs))


class LoggingServiceTests(SynchronousTestCase):
    """
    L{LoggingService} called directly.
    """

    def setUp(self):
        self.sink = _RecordingSink()
        self.reactor = _FakeReactor()
        self.service = LoggingService(self.reactor, [self.sink],
                                      handleSignals=False)

    def test_interface(self):
        """
        The service declares the logging protocol and version.
        """
        self.assertTrue(verifyObject(IRPCService, self.service))
        self.assertIs(self.service.protocol, LOGGING)
        self.assertEqual(self.service.version, LOGGING_VERSION)
        HostedService("logging", self.service, LOGGING, LOGGING_VERSION)

    def test_defaultVerbosity(self):
        """
        The verbosity is info (1) unless given.
        """
        self.assertEqual(self.service.verbosity(), (1,))
        service = LoggingService(self.reactor, [], 3, handleSignals=False)
        self.assertEqual(service.verbosity(), (3,))

    def test_filter(self):
        """
        Records below the verbosity are dropped; the rest reach every sink
        unchanged.
        """
        other = _RecordingSink()
        self.service.sinks.append(other)
        self.service.emit(0, "app", "debug", None)
        self.service.emit(1, "app", "info", [["k", "v"]])
        self.service.emit(3, "app", "error")
        expected = [(1, "app", "info", [["k", "v"]]),
                    (3, "app", "error", None)]
        self.assertEqual(self.sink.records, expected)
        self.assertEqual(other.records, expected)

    def test_setVerbosity(self):
        """
        C{set_verbosity} changes the filter and what C{verbosity} reports.
        """
        self.assertIsNone(self.service.setVerbosity(0))
        self.assertEqual(self.service.verbosity(), (0,))
        self.service.emit(0, "app", "now visible", None)
        self.service.setVerbosity(3)
        self.service.emit(2, "app", "hidden", None)
        self.assertEqual([r[2] for r in self.sink.records], ["now visible"])

    def test_setVerbosityOutOfRange(self):
        """
        A priority outside 0-3 is refused with L{InvalidArgument} naming
        the range and the value, and the verbosity stays.
        """
        for bad in (7, -1, 4):
            error = self.assertRaises(InvalidArgument,
                                      self.service.setVerbosity, bad)
            self.assertIn("0..3", str(error))
            self.assertIn(str(bad), str(error))
            self.assertEqual((error.category, error.code),
                             (CATEGORY_DISPATCH, INVALID_ARGUMENT))
        self.assertEqual(self.service.verbosity(), (1,))

    def test_brokenSink(self):
        """
        A sink that fails is logged and does not keep the record from the
        other sinks.
        """
        self.service.sinks.insert(0, _BrokenSink())
        self.service.emit(2, "app", "m", None)
        self.assertEqual(self.sink.records, [(2, "app", "m", None)])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_startOpensStopClosesFiles(self):
        """
        Starting opens the file sinks, stopping closes them.
        """
        path = os.path.abspath(self.mktemp())
        sink = FileSink(path)
        service = LoggingService(self.reactor, [sink], handleSignals=False)
        service.startService()
        self.assertTrue(service.running)
        self.assertTrue(os.path.exists(path))
        self.assertIsNotNone(sink._file)
        service.stopService()
        self.assertFalse(service.running)
        self.assertIsNone(sink._file)

    def test_fileCannotOpen(self):
        """
        A file sink that cannot be opened is a refusal of the config: its
        key, its path, why and the config file, with the files opened
        before it closed again and the service not running.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        first = FileSink(os.path.join(directory, "ok.log"))
        # a file where the sink's directory should be
        blocked = os.path.join(directory, "ok.log", "node.log")
        sink = FileSink(blocked, key="logging.sinks[1].path")
        service = LoggingService(self.reactor, [first, sink],
                                 handleSignals=False, source="/etc/c.json")
        e = self.assertRaises(StartupError, service.startService)
        self.assertTrue(str(e).startswith(
            "logging.sinks[1].path: cannot open {}: ".format(blocked)), e)
        self.assertTrue(str(e).endswith(" (in /etc/c.json)"), e)
        self.assertFalse(service.running)
        self.assertIsNone(first._file)


class HangupTests(SynchronousTestCase):
    """
    File sinks are reopened on SIGHUP, for log rotation.
    """

    def setUp(self):
        self.path = os.path.abspath(self.mktemp())
        self.sink = FileSink(self.path, clock=lambda: 0.0)
        self.reactor = _FakeReactor()
        previous = signal.getsignal(signal.SIGHUP)
        self.addCleanup(signal.signal, signal.SIGHUP, previous)
        self.addCleanup(self.sink.close)

    def lines(self, path):
        with open(path) as f:
            return f.read().splitlines()

    def test_handlerDefersToReactor(self):
        """
        The signal handler only asks the reactor to run C{reopen} in the
        reactor thread; running that reopens every file sink, so a rotated
        file is left with the old lines and the path gets the new ones.
        """
        service = LoggingService(self.reactor, [self.sink, _RecordingSink()],
                                 handleSignals=False)
        service.startService()
        service.emit(1, "app", "before", None)
        os.rename(self.path, self.path + ".1")
        service._onHangup(signal.SIGHUP, None)
        self.assertEqual(self.reactor.calls, [(service.reopen, (), {})])
        f, args, kwargs = self.reactor.calls[0]
        f(*args, **kwargs)
        service.emit(1, "app", "after", None)
        service.stopService()
        self.assertEqual(self.lines(self.path + ".1"),
                         ["1970-01-01T00:00:00.000Z INFO app: before"])
        self.assertEqual(self.lines(self.path),
                         ["1970-01-01T00:00:00.000Z INFO app: after"])

    def test_handlerInstalledAndRestored(self):
        """
        With file sinks and C{handleSignals}, starting installs the SIGHUP
        handler and stopping puts the previous one back.
        """
        def previous(signum, frame):
            pass
        signal.signal(signal.SIGHUP, previous)
        service = LoggingService(self.reactor, [self.sink])
        service.startService()
        self.assertEqual(signal.getsignal(signal.SIGHUP), service._onHangup)
        service.stopService()
        self.assertIs(signal.getsignal(signal.SIGHUP), previous)

    def test_realSignal(self):
        """
        A real SIGHUP reaches the handler, which schedules C{reopen}.
        """
        service = LoggingService(self.reactor, [self.sink])
        service.startService()
        self.addCleanup(service.stopService)
        signal.raise_signal(signal.SIGHUP)
        self.assertEqual(self.reactor.calls, [(service.reopen, (), {})])

    def test_noHandlerWithoutFileSinks(self):
        """
        Without file sinks, or with C{handleSignals=False}, SIGHUP is left
        alone.
        """
        before = signal.getsignal(signal.SIGHUP)
        for service in (LoggingService(self.reactor, [_RecordingSink()]),
                        LoggingService(self.reactor, [self.sink],
                                       handleSignals=False)):
            service.startService()
            self.assertIs(signal.getsignal(signal.SIGHUP), before)
            service.stopService()
            self.assertIs(signal.getsignal(signal.SIGHUP), before)


class LoggingWireTests(SynchronousTestCase):
    """
    The logging service over the native protocol.
    """

    def setUp(self):
        self.sink = _RecordingSink()
        service = LoggingService(_FakeReactor(), [self.sink],
                                 handleSignals=False)
        hosted = HostedService("logging", service, LOGGING, LOGGING_VERSION)
        self.protocol = ServerFactory(hosted).buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)

    def call(self, channel, mtype, args):
        self.transport.clear()
        self.protocol.dataReceived(msgpack.packb([channel, mtype, args],
                                                 use_bin_type=True))
        return list(msgpack.Unpacker(io.BytesIO(self.transport.value()),
                                     raw=False))

    def test_emitIsMute(self):
        """
        C{emit} never answers; the record reaches the sink with text
        fields decoded.
        """
        self.assertEqual(self.call(1, EMIT, [2, b"app", b"hello",
                                             [[b"k", b"v"]]]), [])
        self.assertEqual(self.call(2, EMIT, [0, "app", "dropped"]), [])
        self.assertEqual(self.sink.records,
                         [(2, "app", "hello", [[b"k", b"v"]])])

    def test_verbosity(self):
        """
        C{verbosity} answers C{value [priority]}; C{set_verbosity} answers
        C{value []}.
        """
        self.assertEqual(self.call(1, VERBOSITY, []), [[1, 0, [1]]])
        self.assertEqual(self.call(2, SET_VERBOSITY, [3]), [[2, 0, []]])
        self.assertEqual(self.call(3, VERBOSITY, []), [[3, 0, [3]]])

    def test_setVerbosityOutOfRange(self):
        """
        An out-of-range priority answers C{error} invalid_argument naming
        the range.
        """
        [[channel, kind, args]] = self.call(1, SET_VERBOSITY, [7])
        self.assertEqual((channel, kind), (1, 1))
        self.assertEqual(args[0], [CATEGORY_DISPATCH, INVALID_ARGUMENT])
        self.assertIn("0..3", args[1])
