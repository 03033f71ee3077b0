# -*- test-case-name: tests.tool.test_top -*-
"""
The terminal's keys and resizes for C{cocaine-tool top}'s full-screen
view: stdin in cbreak mode while the view is up, always restored, and a
wake-up on C{SIGWINCH} so the view is redrawn at once at the new size.
"""

import os
import select
import signal
import time

#: The keys that end the view.
QUIT_KEYS = b"qQ"


class Keys:
    """
    The terminal's keys, in cbreak mode while in use; always restored.

    C{wait(timeout)} returns C{"quit"} when q was pressed, C{"resize"} when
    the terminal was resized, L{None} when the timeout passed.
    """

    def __init__(self, stream):
        self.fd = None
        self._saved = None
        self._pipe = None
        self._oldWakeup = None
        self._oldWinch = None
        self.resized = False
        try:
            fd = stream.fileno()
        except (AttributeError, ValueError, OSError):
            return
        if os.isatty(fd):
            self.fd = fd

    def __enter__(self):
        if self.fd is not None:
            import termios
            import tty
            try:
                self._saved = termios.tcgetattr(self.fd)
                tty.setcbreak(self.fd, termios.TCSANOW)
            except termios.error:
                self.fd = None
        self._watchResize()
        return self

    def _watchResize(self):
        # A SIGWINCH wakes the select through a wakeup pipe, so the view is
        # redrawn at the new size at once rather than at the next refresh.
        if not hasattr(signal, "SIGWINCH"):
            return
        read, write = os.pipe()
        try:
            os.set_blocking(read, False)
            os.set_blocking(write, False)
            oldWakeup = signal.set_wakeup_fd(write)
        except (ValueError, OSError):   # not the main thread
            os.close(read)
            os.close(write)
            return
        self._oldWakeup = oldWakeup
        self._oldWinch = signal.signal(signal.SIGWINCH, self._onResize)
        self._pipe = (read, write)

    def _onResize(self, signum, frame):
        self.resized = True

    def __exit__(self, *exc):
        if self._pipe is not None:
            signal.set_wakeup_fd(self._oldWakeup)
            signal.signal(signal.SIGWINCH, self._oldWinch)
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None
        if self._saved is not None:
            import termios
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None
        return False

    def wait(self, timeout):
        """
        Wait for a key or a resize, at most C{timeout} seconds.

        @return: C{"quit"}, C{"resize"}, or L{None} when the time
            passed.
        """
        deadline = time.monotonic() + timeout
        while True:
            if self.resized:
                self.resized = False
                return "resize"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            fds = [fd for fd in (self.fd, self._pipe and self._pipe[0])
                   if fd is not None]
            if not fds:
                time.sleep(remaining)
                continue
            ready, _, _ = select.select(fds, [], [], remaining)
            if self._pipe is not None and self._pipe[0] in ready:
                try:
                    while os.read(self._pipe[0], 512):
                        pass
                except BlockingIOError:
                    pass
            if self.fd is not None and self.fd in ready:
                data = os.read(self.fd, 1024)
                if not data:          # end of input: no more keys
                    self.fd = None
                elif any(key in data for key in QUIT_KEYS):
                    return "quit"
