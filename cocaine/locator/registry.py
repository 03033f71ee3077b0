# -*- test-case-name: tests.locator.test_registry -*-
"""
The registry of services this node publishes, with watchers for the
locator's C{connect} stream.

Names the node holds are I{reserved} before anything listens: its own
services (the locator, the node, storage, logging and every configured
one) when the runtime is built, each app from the moment it starts
until it is gone. A name published from outside through
C{locator.publish} (L{Registry.publishForeign}) can never take a
reserved name, and a foreign publication gives way when the node
reserves its name.
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
        self._reserved = set()
        self._foreign = set()
        self._watchers = Observers("registry")

    def reserve(self, name):
        """
        Hold C{name} for a local service or app: from now on only the node
        publishes it. A foreign publication of the name is withdrawn.
        """
        self._reserved.add(name)
        if name in self._foreign:
            self.withdraw(name)

    def release(self, name):
        """
        Give up a reservation (an app that stopped or failed to start).
        """
        self._reserved.discard(name)

    def reserved(self, name):
        """
        @return: whether a local service or app holds C{name}.
        """
        return name in self._reserved

    def publishForeign(self, name, endpoints, version, graph):
        """
        Publish C{name} for a client of C{locator.publish}.

        @raise DuplicateService: a local service or app holds the name, or
            it is published already.
        """
        if name in self._reserved:
            raise DuplicateService(
                "service {!r} is held by this node (a local service or "
                "app); locator.publish cannot take it".format(name))
        entry = self.publish(name, endpoints, version, graph)
        self._foreign.add(name)
        return entry

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
        self._foreign.discard(name)
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
