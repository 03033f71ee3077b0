# -*- test-case-name: tests.test_ordered -*-
"""
The one mechanism that starts things in order: L{OrderedMultiService}.

The node's root, the cluster, every running app and an app's drivers are
each one of these. Children start one after another in the order they were
added, each waiting for the Deferred its C{startService} returns; a child
that fails to start makes the ones already started stop again, in reverse,
and the failure is the result of C{startService}. Stop runs in reverse and
waits for each child. Children may be added to and removed from a running
parent (as buildbot's C{AsyncMultiService} allows): L{addRunningChild}
starts one and L{removeRunningChild} stops it, both waiting.
"""

from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger


class OrderedMultiService(MultiService):
    """
    A L{MultiService} that starts its children in order and stops them in
    reverse, waiting for each.

    @ivar rollback: after a failed start, the Deferred of stopping the
        children that had started (in the background), else L{None}.
    """

    log = Logger()
    rollback = None

    def startService(self):
        Service.startService(self)
        return Deferred.fromCoroutine(self._startChildren())

    async def _startChildren(self):
        started = []
        for child in list(self):
            try:
                await maybeDeferred(child.startService)
            except BaseException:
                # The failure is the result now, so a synchronous failure
                # stays synchronous; the started ones stop in the
                # background, in reverse.
                self.running = 0
                self.rollback = Deferred.fromCoroutine(self._rollBack(
                    started))
                raise
            started.append(child)

    async def _rollBack(self, started):
        for child in reversed(started):
            try:
                await maybeDeferred(child.stopService)
            except Exception:
                self.log.failure("stopping {child} after a failed start",
                                 child=child.name)

    def stopService(self):
        Service.stopService(self)
        return Deferred.fromCoroutine(self._stopChildren())

    async def _stopChildren(self):
        for child in reversed(list(self)):
            if not child.running:
                continue
            try:
                await maybeDeferred(child.stopService)
            except Exception:
                self.log.failure("{child} did not stop cleanly",
                                 child=child.name)

    def addRunningChild(self, child):
        """
        Add C{child} last and, when this service runs, start it.

        @return: a Deferred that fires when it has started; when it cannot
            start, it is removed again and the Deferred fails with why.
        """
        return Deferred.fromCoroutine(self._addRunning(child))

    async def _addRunning(self, child):
        # setServiceParent would start it without waiting: add it stopped
        parent = child.parent
        if parent is not None:
            raise RuntimeError("{} already has a parent".format(child.name))
        child.parent = self
        self.services.append(child)
        if child.name is not None:
            self.namedServices[child.name] = child
        if not self.running:
            return
        try:
            await maybeDeferred(child.startService)
        except BaseException:
            self._forget(child)
            raise

    def removeRunningChild(self, child):
        """
        Stop C{child} (when it runs) and remove it.

        @return: a Deferred that fires when it has stopped.
        """
        return Deferred.fromCoroutine(self._removeRunning(child))

    async def _removeRunning(self, child):
        try:
            if child.running:
                await maybeDeferred(child.stopService)
        finally:
            self._forget(child)

    def _forget(self, child):
        if child in self.services:
            self.services.remove(child)
        if child.name is not None and self.namedServices.get(
                child.name) is child:
            del self.namedServices[child.name]
        child.parent = None
