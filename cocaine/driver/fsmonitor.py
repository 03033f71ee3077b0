# -*- test-case-name: tests.driver.test_fsmonitor -*-
"""
The C{filesystem-monitor} driver: a job per change under a directory.

Args: C{path} (required, must exist; relative to the app's directory),
C{recursive} (default false),
C{pattern} (a glob on the file's name, default every file), C{emit}.

Watched with inotify for close-after-write, moves in and out, creation and
deletion. Events for one path are gathered for a short moment (the
debounce window) and become one job, so a file written in several calls is
reported once, and an atomic write (a temporary file renamed over the
target) is reported once, for the target: the temporary file, created and
moved away within the window, is not reported at all.

The job's request is one chunk, msgpack C{{"path", "event", "size",
"mode", "mtime", "inode"}}; C{event} is C{create}, C{modify}, C{delete},
C{moved-in} or C{moved-out}; the stat fields are nil when the file is gone.
"""

import fnmatch
import os

from twisted.python import filepath

from cocaine.driver.base import Driver
from cocaine.errors import DriverError
from cocaine.protocol.framing import packValue

#: Seconds that events for one path are gathered into one job.
DEBOUNCE = 0.05


def checkArgs(path, args, base=None):
    """
    @param base: the app's directory, which a relative C{path} is read
        from; without it (checking a manifest before the app has a
        directory) a relative path is not looked up.
    @return: the directory to watch.
    """
    directory = args.get("path")
    if not isinstance(directory, str) or not directory:
        raise DriverError("{}.path: must be a directory, got {!r}".format(
            path, directory))
    if not os.path.isabs(directory):
        if base is None:
            directory = None
        else:
            directory = os.path.join(base, directory)
    if directory is not None and not os.path.isdir(directory):
        raise DriverError("{}.path: {} does not exist or is not a directory"
                          .format(path, directory))
    for key in ("recursive",):
        value = args.get(key, False)
        if not isinstance(value, bool):
            raise DriverError("{}.{}: must be true or false, got {!r}".format(
                path, key, value))
    pattern = args.get("pattern", "*")
    if not isinstance(pattern, str) or not pattern:
        raise DriverError("{}.pattern: must be a glob, got {!r}".format(
            path, pattern))
    return directory


class FilesystemMonitor(Driver):
    type = "filesystem-monitor"

    def __init__(self, context, name, args):
        Driver.__init__(self, context, name, args)
        self.path = os.path.abspath(checkArgs("drivers." + name, args,
                                              context.directory or "."))
        self.recursive = args.get("recursive", False)
        self.pattern = args.get("pattern", "*")
        self._notifier = None
        self._pending = {}

    def start(self):
        from twisted.internet import inotify
        try:
            self._notifier = inotify.INotify(self.context.reactor)
            self._notifier.startReading()
            mask = (inotify.IN_CLOSE_WRITE | inotify.IN_MOVED_TO
                    | inotify.IN_MOVED_FROM | inotify.IN_CREATE
                    | inotify.IN_DELETE)
            self._notifier.watch(filepath.FilePath(self.path), mask,
                                 autoAdd=self.recursive,
                                 callbacks=[self._changed],
                                 recursive=self.recursive)
        except Exception as e:
            self.stop()
            raise DriverError("cannot watch {}: {}".format(self.path, e))

    def stop(self):
        for call, _ in list(self._pending.values()):
            if call.active():
                call.cancel()
        self._pending.clear()
        if self._notifier is not None:
            notifier, self._notifier = self._notifier, None
            notifier.loseConnection()

    def _changed(self, watch, path, mask):
        from twisted.internet import inotify
        path = path.asTextMode()
        name = path.basename()
        if not fnmatch.fnmatch(name, self.pattern):
            return
        if mask & inotify.IN_ISDIR:
            return
        if mask & inotify.IN_CREATE:
            kind = "create"
        elif mask & inotify.IN_CLOSE_WRITE:
            kind = "modify"
        elif mask & inotify.IN_MOVED_TO:
            kind = "moved-in"
        elif mask & inotify.IN_MOVED_FROM:
            kind = "moved-out"
        elif mask & inotify.IN_DELETE:
            kind = "delete"
        else:
            return
        key = path.path
        entry = self._pending.get(key)
        if entry is None:
            call = self.context.reactor.callLater(DEBOUNCE, self._report, key)
            self._pending[key] = (call, [kind])
        else:
            entry[1].append(kind)

    def _report(self, key):
        _, kinds = self._pending.pop(key)
        first, last = kinds[0], kinds[-1]
        if first == "create" and last in ("moved-out", "delete"):
            return          # a temporary file: created and gone at once
        if last in ("moved-out", "delete"):
            event = last
        elif first == "create":
            event = "create"
        elif "moved-in" in kinds:
            event = "moved-in"
        else:
            event = "modify"
        body = {"path": key, "event": event, "size": None, "mode": None,
                "mtime": None, "inode": None}
        try:
            st = os.stat(key)
        except OSError:
            pass
        else:
            body.update(size=st.st_size, mode=st.st_mode,
                        mtime=st.st_mtime, inode=st.st_ino)
        self.submit([packValue(body)]).addErrback(lambda _: None)

    def info(self):
        return dict(Driver.info(self), path=self.path,
                    recursive=self.recursive, pattern=self.pattern)
