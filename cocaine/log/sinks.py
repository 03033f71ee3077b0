# -*- test-case-name: tests.log.test_sinks -*-
"""
Where the logging service writes: the twistd log, and plain files that can
be reopened for rotation.
"""

import json
import os
import time

from twisted.logger import Logger, LogLevel
from zope.interface import implementer

from cocaine.interfaces import ILogSink

#: Wire priorities (0 debug .. 3 error) and their names.
PRIORITY_NAMES = ("debug", "info", "warning", "error")
_LEVELS = (LogLevel.debug, LogLevel.info, LogLevel.warn, LogLevel.error)


def priorityName(priority):
    """
    The name of a wire priority; values past error count as error.
    """
    return PRIORITY_NAMES[max(0, min(priority, 3))]


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def attributesDict(attributes):
    """
    Turn C{[[name, value], ...]} (names and text values may be bytes) into a
    dict; anything malformed is skipped.
    """
    result = {}
    for entry in attributes or ():
        if isinstance(entry, (list, tuple)) and len(entry) == 2:
            name, value = entry
            if isinstance(name, (bytes, str)):
                result[_text(name)] = _text(value)
    return result


@implementer(ILogSink)
class TwistdSink:
    """
    Emits each record as a structured C{twisted.logger} event in the
    namespace C{cocaine.app.<source>} with the fields C{source}, C{text} and
    C{attributes}.
    """

    def __init__(self, observer=None):
        self._observer = observer
        self._loggers = {}

    def emit(self, priority, source, message, attributes):
        log = self._loggers.get(source)
        if log is None:
            log = Logger(namespace="cocaine.app." + source,
                         observer=self._observer)
            if len(self._loggers) < 1024:
                self._loggers[source] = log
        log.emit(_LEVELS[max(0, min(priority, 3))], "{source}: {text}",
                 source=source, text=message,
                 attributes=attributesDict(attributes))


@implementer(ILogSink)
class FileSink:
    """
    Appends one line per record to a file; L{reopen} (on SIGHUP) starts a
    new file after the old one was moved away by a rotation tool.

    Line format: C{<UTC ISO time> <LEVEL> <source>: <message> <attributes
    as JSON, when there are any>}.
    """

    def __init__(self, path, clock=time.time, key=None):
        """
        @param key: the config key that names C{path}
            (C{logging.sinks[1].path}), for the refusal when it cannot be
            opened at start.
        """
        self.path = path
        self.key = key
        self._clock = clock
        self._file = None

    def open(self):
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8", buffering=1)

    def reopen(self):
        """
        Close and open the file again at the same path.
        """
        self.close()
        self.open()

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None

    def emit(self, priority, source, message, attributes):
        if self._file is None:
            self.open()
        now = self._clock()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        line = "{}.{:03d}Z {} {}: {}".format(
            stamp, int(now * 1000) % 1000, priorityName(priority).upper(),
            source.replace("\n", "\\n"), message.replace("\n", "\\n"))
        attrs = attributesDict(attributes)
        if attrs:
            line += " " + json.dumps(attrs, default=repr, sort_keys=True)
        self._file.write(line + "\n")
