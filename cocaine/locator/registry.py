# -*- test-case-name: tests.locator.test_registry -*-
"""
The registry of services this node publishes, with watchers for the
locator's C{connect} stream.
"""

from zope.interface import implementer

from cocaine.errors import DispatchError
from cocaine.interfaces import IRegistry
from cocaine.observers import Observers


class DuplicateService(DispatchError):
    """
    A name that is already published.
    """

    code = 1  # duplicate_slot


@implementer(IRegistry)
class Registry:
    """
    C{{name: (endpoints, version, graph)}} plus change notification.
    """

    def __init__(self):
        self._services = {}
        self._watchers = Observers("registry")

    def publish(self, name, endpoints, version, graph):
        """
        Make C{name} resolvable.

        @return: the entry published, for L{withdraw}.
        @raise DuplicateService: the name is already published.
        """
        if name in self._services:
            raise DuplicateService("service {!r} is already published"
                                   .format(name))
        entry = ([list(e) for e in endpoints], version, graph)
        self._services[name] = entry
        self._notify(name, entry)
        return entry

    def withdraw(self, name, entry=None):
        """
        Forget C{name}; a no-op when it is not published.

        @param entry: withdraw only this publication (what L{publish}
            returned): a name published again since by someone else stays.
        """
        current = self._services.get(name)
        if current is None or (entry is not None and current is not entry):
            return
        del self._services[name]
        self._notify(name, None)

    def lookup(self, name):
        """
        @return: C{(endpoints, version, graph)} or L{None}.
        """
        return self._services.get(name)

    def names(self):
        return sorted(self._services)

    def snapshot(self):
        """
        @return: a copy of every entry.
        """
        return dict(self._services)

    def watch(self, callback):
        """
        Call C{callback(name, entry)} on every change; C{entry} is L{None}
        when C{name} was withdrawn.

        @return: a function that stops the watch.
        """
        return self._watchers.add(callback)

    def _notify(self, name, entry):
        self._watchers.notify(name, entry)
