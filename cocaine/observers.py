# -*- test-case-name: tests.test_observers -*-
"""
Callbacks told of changes: the registry's watchers, the node's app
watchers. One observer that fails is logged and does not stop the others.
"""

from twisted.logger import Logger


class Observers:
    """
    A list of callbacks, each added with L{add} and told with L{notify}.
    """

    log = Logger()

    def __init__(self, what):
        """
        @param what: what is observed, for the log line of a failure.
        """
        self._what = what
        self._callbacks = []

    def add(self, callback):
        """
        @return: a function that removes C{callback} again.
        """
        self._callbacks.append(callback)

        def remove():
            if callback in self._callbacks:
                self._callbacks.remove(callback)
        return remove

    def notify(self, *args):
        """
        Call every callback with C{args}; a callback added or removed
        meanwhile takes effect from the next notification.
        """
        for callback in list(self._callbacks):
            try:
                callback(*args)
            except Exception:
                self.log.failure("{what} observer failed", what=self._what)

    def __len__(self):
        return len(self._callbacks)
