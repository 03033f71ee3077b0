# -*- test-case-name: tests.log.test_service -*-
"""
The logging service: C{emit}, C{verbosity}, C{set_verbosity}.
"""

import signal

from twisted.application.service import Service
from twisted.logger import Logger
from zope.interface import implementer

from cocaine.config import NO_FILE, withFile
from cocaine.errors import InvalidArgument, StartupError
from cocaine.interfaces import IRPCService
from cocaine.log.sinks import PRIORITY_NAMES, FileSink
from cocaine.protocol.services import LOGGING, LOGGING_VERSION


@implementer(IRPCService)
class LoggingService(Service):
    """
    Drops records below the verbosity and hands the rest to every sink.
    File sinks are reopened on SIGHUP, for log rotation.
    """

    protocol = LOGGING
    version = LOGGING_VERSION
    log = Logger()

    def __init__(self, reactor, sinks, verbosity=1, handleSignals=True,
                 source=NO_FILE):
        """
        @param source: the config file the sinks come from, named when
            one cannot be opened at start.
        """
        self._reactor = reactor
        self._source = source
        self.sinks = list(sinks)
        self._verbosity = verbosity
        self._handleSignals = handleSignals
        self._previousHandler = None

    def startService(self):
        Service.startService(self)
        for sink in self.sinks:
            if isinstance(sink, FileSink):
                try:
                    sink.open()
                except OSError as e:
                    # a refusal of the config, not an unexpected failure
                    self.running = 0
                    for opened in self.sinks:
                        if isinstance(opened, FileSink):
                            opened.close()
                    raise StartupError(withFile(
                        "{}: cannot open {}: {}".format(
                            sink.key or "logging", sink.path,
                            e.strerror or e), self._source))
        if self._handleSignals and any(isinstance(s, FileSink)
                                       for s in self.sinks):
            previous = signal.signal(signal.SIGHUP, self._onHangup)
            # None: a handler not installed from Python; put the default back
            self._previousHandler = (signal.SIG_DFL if previous is None
                                     else previous)

    def stopService(self):
        Service.stopService(self)
        if self._previousHandler is not None:
            signal.signal(signal.SIGHUP, self._previousHandler)
            self._previousHandler = None
        for sink in self.sinks:
            if isinstance(sink, FileSink):
                sink.close()

    def _onHangup(self, signum, frame):
        self._reactor.callFromThread(self.reopen)

    def reopen(self):
        """
        Reopen every file sink.
        """
        for sink in self.sinks:
            if isinstance(sink, FileSink):
                sink.reopen()
        self.log.info("log files reopened")

    def emit(self, priority, source, message, attributes=None):
        if priority < self._verbosity:
            return
        for sink in self.sinks:
            try:
                sink.emit(priority, source, message, attributes)
            except Exception:
                self.log.failure("log sink {sink!r} failed", sink=sink)

    def verbosity(self):
        return (self._verbosity,)

    def setVerbosity(self, priority):
        if not 0 <= priority <= 3:
            raise InvalidArgument(
                "logging.set_verbosity: priority must be 0..3 ({}), got {}"
                .format(", ".join(PRIORITY_NAMES), priority))
        self._verbosity = priority
