# -*- test-case-name: tests.http.test_service -*-
"""
Tests for L{cocaine.http.service}, L{cocaine.http.metrics}, the C{http}
plugin and its place in the node's tree.
"""

import copy

from prometheus_client import generate_latest
from twisted.application.service import IService
from twisted.trial.unittest import SynchronousTestCase

from cocaine.config import DEFAULTS, parse
from cocaine.errors import StartupError
from cocaine.http.config import Settings
from cocaine.http.gateway import Gateway
from cocaine.http.service import GatewayService
from cocaine.interfaces import IRPCService
from cocaine.metrics.registry import Metrics
from cocaine.runtime import buildRuntime
from cocaine.testing import FakeReactor, memoryContext
from tests.http.test_gateway import ScriptedBackend


class FakeFactory:
    def __init__(self, reactor, handler, **kwargs):
        self.reactor = reactor
        self.handler = handler
        self.kwargs = kwargs


class GatewayServiceTests(SynchronousTestCase):

    def setUp(self):
        self.reactor = FakeReactor(taken=[81])
        self.metrics = Metrics()
        self.gateway = Gateway(self.reactor, ScriptedBackend())

    def service(self, port=8081):
        return GatewayService(self.reactor, self.gateway, "127.0.0.1",
                              Settings(port=port, maxBody=5),
                              metrics=self.metrics, factoryClass=FakeFactory)

    def test_listens(self):
        """
        It listens with the server's factory on start, stops on stop.
        """
        service = self.service()
        service.startService()
        self.assertEqual(self.reactor.events, [("listen", 8081)])
        port, factory, backlog, interface = self.reactor.tcpServers[0]
        self.assertEqual(interface, "127.0.0.1")
        self.assertIs(factory.handler, self.gateway)
        self.assertEqual(factory.kwargs["maxBody"], 5)
        service.stopService()
        self.assertEqual(self.reactor.events[-1], ("stop", 8081))

    def test_portTaken(self):
        """
        A port that is taken is a L{StartupError} naming it.
        """
        error = self.assertRaises(StartupError, self.service(81).startService)
        self.assertIn("127.0.0.1:81", str(error))

    def test_metrics(self):
        """
        While it runs, its counts are C{cocaine_http_requests_total}.
        """
        service = self.service()
        service.startService()
        self.gateway.count(200)
        self.gateway.count(200)
        self.gateway.count(404)
        text = generate_latest(self.metrics.registry)
        self.assertIn(b'cocaine_http_requests_total{code="200"} 2.0', text)
        self.assertIn(b'cocaine_http_requests_total{code="404"} 1.0', text)
        service.stopService()
        self.assertNotIn(b"cocaine_http_requests",
                         generate_latest(self.metrics.registry))


class PluginTests(SynchronousTestCase):

    def test_makeService(self):
        """
        The plugin makes a plain service, not an RPC one.
        """
        from services.http import http
        context = memoryContext()
        service = http.makeService(context, "web", {"port": 0})
        self.assertTrue(IService.providedBy(service))
        self.assertFalse(IRPCService.providedBy(service))
        self.assertEqual(service.settings.port, 0)

    def test_inTheTree(self):
        """
        In a node, the gateway joins the tree after the node, under its
        name.
        """
        value = copy.deepcopy(DEFAULTS)
        value["services"] = {"http": {"type": "http", "args": {"port": 0}}}
        value["services"].update(DEFAULTS["services"])
        root = buildRuntime(FakeReactor(), parse(value))
        names = [child.name for child in root]
        self.assertEqual(names[-1], "http")
        self.assertIsInstance(root.getServiceNamed("http"), GatewayService)
