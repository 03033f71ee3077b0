# -*- test-case-name: tests.http.test_edge -*-
"""
Tests for L{cocaine.http.edge}: the standalone proxy's backend over fake
locators.
"""

from twisted.internet.defer import fail, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from cocaine.errors import NotConnected, ServiceNotAvailable, Unreachable
from cocaine.http.edge import LocatorBackend
from cocaine.http.gateway import Backend
from tests.http.test_remote import FakeUpstream


class FakeLocator:
    def __init__(self, reactor, endpoint):
        self.endpoint = endpoint
        self.apps = {}
        self.down = False
        self.asked = []
        self.disconnected = False

    def resolve(self, name):
        self.asked.append(name)
        if self.down:
            return fail(NotConnected("down"))
        if name == "locator":
            return succeed(([[self.endpoint[0], self.endpoint[1]]], 3, {}))
        if name not in self.apps:
            return fail(ServiceNotAvailable("no " + name))
        return succeed((self.apps[name], 1, {}))

    def disconnect(self):
        self.disconnected = True


class FakeRemote:
    def __init__(self):
        self.calls = []

    def call(self, endpoints, app, event, headers, chunk, upstream,
             graph=None):
        self.calls.append((endpoints, upstream))
        return _Call()


class _Call:
    cancelled = False

    def cancel(self):
        self.cancelled = True


class LocatorBackendTests(SynchronousTestCase):

    def setUp(self):
        self.clock = Clock()
        self.remote = FakeRemote()
        self.backend = LocatorBackend(
            self.clock, [("h1", 1), ("h2", 2)], self.remote,
            locatorFactory=FakeLocator)
        self.one, self.two = self.backend.locators
        self.one.apps["echo"] = [["10.0.0.1", 100]]
        self.two.apps["echo"] = [["10.0.0.2", 200]]

    def call(self, tried=()):
        upstream = FakeUpstream()
        call = self.backend.call("echo", "http", [], b"r", upstream,
                                 list(tried))
        return call, upstream

    def test_interface(self):
        self.assertTrue(verifyObject(Backend, self.backend))

    def test_balance(self):
        """
        Requests alternate between the nodes the locators name.
        """
        self.call()
        self.call()
        self.call()
        self.assertEqual([c[0] for c in self.remote.calls], [
            [["10.0.0.1", 100]], [["10.0.0.2", 200]], [["10.0.0.1", 100]]])
        # resolved once, then cached
        self.assertEqual(self.one.asked, ["echo"])
        self.clock.advance(6)
        self.call()
        self.assertEqual(self.one.asked, ["echo", "echo"])

    def test_retryOther(self):
        """
        A retry avoids what was tried; with every node tried there is no
        other.
        """
        call, upstream = self.call()
        first = upstream.target
        self.assertTrue(self.backend.hasOther("echo", [first]))
        call, upstream = self.call([first])
        self.assertNotEqual(upstream.target, first)
        self.assertFalse(self.backend.hasOther("echo", [first,
                                                        upstream.target]))

    def test_unreachableForgotten(self):
        """
        A node that cannot be reached is left out until resolved again.
        """
        call, upstream = self.call()
        first = upstream.target
        endpoints, relay = self.remote.calls[0]
        relay.error(Unreachable("down"))
        self.assertIsInstance(upstream.messages[0][1], Unreachable)
        self.assertTrue(self.backend.hasOther("echo", [first]))
        self.assertFalse(self.backend.hasOther("echo", [
            (("10.0.0.2", 200),)]))
        for _ in range(3):
            self.call()
        self.assertEqual([c[0] for c in self.remote.calls[1:]],
                         [[["10.0.0.2", 200]]] * 3)

    def test_unknownApp(self):
        """
        An app no locator knows is L{ServiceNotAvailable}.
        """
        upstream = FakeUpstream()
        self.backend.call("nope", "http", [], b"r", upstream, [])
        self.assertIsInstance(upstream.messages[0][1], ServiceNotAvailable)

    def test_locatorsDown(self):
        """
        No locator answering is L{Unreachable}, and C{/ping} fails.
        """
        self.one.down = self.two.down = True
        call, upstream = self.call()
        self.assertIsInstance(upstream.messages[0][1], Unreachable)
        self.backend.startService()
        self.assertFalse(self.backend.healthy())
        self.one.down = False
        self.clock.advance(5)
        self.assertTrue(self.backend.healthy())
        self.backend.stopService()
        self.assertTrue(self.one.disconnected)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_oneLocatorDown(self):
        """
        The locators that answer are enough.
        """
        self.two.down = True
        self.call()
        self.call()
        self.assertEqual([c[0] for c in self.remote.calls],
                         [[["10.0.0.1", 100]]] * 2)
