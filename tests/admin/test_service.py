# -*- test-case-name: tests.admin.test_service -*-
"""
Tests for L{cocaine.admin.service} and the C{admin} service plugin.
"""

import os

from twisted.application.service import IService
from twisted.internet.defer import maybeDeferred
from twisted.logger import LogLevel, formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from cocaine.admin.service import AdminService
from cocaine.config import ConfigError, parse
from cocaine.errors import StartupError
from cocaine.interfaces import IRPCService
from cocaine.plugins import checkConfig, loadPlugins
from cocaine.runtime import buildRuntime
from cocaine.testing import FakeReactor, memoryContext
from tests.admin.fakes import StatsNode


class ServiceTests(SynchronousTestCase):

    def setUp(self):
        self.node = StatsNode()
        self.node.add("echo")
        self.context = memoryContext(node=self.node)

    def test_listensOnBind(self):
        """
        It listens on C{network.bind} at its port, samples every second
        while it runs, and stops both.
        """
        service = AdminService(self.context, port=10080)
        service.startService()
        reactor = self.context.reactor
        ((port, site, _, interface),) = reactor.tcpServers
        self.assertEqual((port, interface), (10080, "127.0.0.1"))
        self.assertIs(site, service.site)
        self.node.serve("echo", 2)
        reactor.advance(1.0)
        self.assertEqual(service.sampler.latest("echo")["rps"], 2.0)
        self.successResultOf(maybeDeferred(service.stopService))
        self.assertTrue(reactor.ports[0].stopped)
        reactor.advance(5.0)
        self.assertEqual(len(service.sampler.history["echo"]), 1)

    def test_portTaken(self):
        """
        A port in use ends start-up, naming it.
        """
        self.context.reactor = FakeReactor(taken=[10080])
        service = AdminService(self.context, port=10080)
        error = self.assertRaises(StartupError, service.startService)
        self.assertIn("127.0.0.1:10080", str(error))
        self.assertFalse(service.running)

    def test_browserBlockedPort(self):
        """
        On a port browsers refuse (10080 among them) it serves, and warns.
        """
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        service = AdminService(self.context, port=10080)
        service.startService()
        self.addCleanup(service.stopService)
        warnings = [formatEvent(e) for e in events
                    if e.get("log_level") == LogLevel.warn]
        self.assertEqual(warnings, [
            "dashboard: browsers refuse port 10080 (ERR_UNSAFE_PORT); "
            "choose another, e.g. 10081"])

    def test_noNode(self):
        """
        Without a node service there is nothing to sample and no app.
        """
        self.context.node = None
        service = AdminService(self.context, port=0)
        service.startService()
        self.context.reactor.advance(1.0)
        self.assertEqual(service.sampler.history, {})
        service.stopService()


class PluginTests(SynchronousTestCase):

    def setUp(self):
        self.plugin = loadPlugins().services["admin"]
        self.root = os.path.abspath(self.mktemp())

    def config(self, args):
        return parse({
            "paths": {"data": os.path.join(self.root, "data"),
                      "spool": os.path.join(self.root, "spool"),
                      "runtime": os.path.join(self.root, "run")},
            "storages": {"core": {"type": "memory"}},
            "services": {"admin": {"type": "admin", "args": args},
                         "node": {"type": "node"}}})

    def test_validate(self):
        for args, key in [({"port": "80"}, "port"), ({"port": 70000}, "port"),
                          ({"port": True}, "port"), ({"host": "x"}, "host")]:
            error = self.assertRaises(ConfigError, checkConfig,
                                      self.config(args), loadPlugins())
            self.assertIn("services.admin.args." + key, str(error))
        checkConfig(self.config({"port": 0}), loadPlugins())

    def test_aFrontAfterTheNode(self):
        """
        The plugin builds a plain service (not one of the native
        protocol): the runtime puts it after the node, unpublished.
        """
        root = buildRuntime(FakeReactor(), self.config({"port": 0}))
        self.assertEqual([child.name for child in root][-2:],
                         ["node", "admin"])
        admin = root.getServiceNamed("admin")
        self.assertTrue(IService.providedBy(admin))
        self.assertFalse(IRPCService.providedBy(admin))
        self.assertIsInstance(admin, AdminService)
