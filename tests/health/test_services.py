"""
Tests for L{cocaine.health.services} and the C{echo} and C{uniresis}
plugins.
"""

import os

from twisted.trial.unittest import SynchronousTestCase

from cocaine.config import ConfigError
from cocaine.errors import CATEGORY_DISPATCH, INVALID_ARGUMENT
from cocaine.health.services import (
    EchoService, UniresisService, machineResources)
from cocaine.plugins import loadPlugins
from cocaine.protocol.health import (
    ECHO, ECHO_VERSION, UNIRESIS, UNIRESIS_VERSION)
from cocaine.testing import ServiceHarness, memoryContext

_VALUE = {0: ["value", {}], 1: ["error", {}]}


class EchoTests(SynchronousTestCase):

    def test_graph(self):
        """
        0.12's C{ping}, id 0, answered once; version 1.
        """
        self.assertEqual(ECHO_VERSION, 1)
        self.assertEqual(ECHO.graph(), {0: ["ping", {}, _VALUE]})

    def test_ping(self):
        """
        The text comes back; anything else is an invalid argument.
        """
        harness = ServiceHarness(EchoService(), "echo")
        self.assertEqual(harness.call("ping", "héllo"),
                         [("value", ["héllo"])])
        [(kind, (code, message))] = harness.call("ping", 5)
        self.assertEqual((kind, code),
                         ("error", [CATEGORY_DISPATCH, INVALID_ARGUMENT]))
        self.assertIn("message", message)

    def test_plugin(self):
        """
        No args.
        """
        plugin = loadPlugins().services["echo"]
        plugin.validate("services.echo.args", {}, None)
        with self.assertRaises(ConfigError) as caught:
            plugin.validate("services.echo.args", {"x": 1}, None)
        self.assertIn("services.echo.args.x", str(caught.exception))
        service = plugin.makeService(memoryContext(), "echo", {})
        self.assertEqual(service.ping("a"), ("a",))


class UniresisTests(SynchronousTestCase):

    def test_graph(self):
        """
        0.12's three methods in order, answered once; version 1.
        """
        self.assertEqual(UNIRESIS_VERSION, 1)
        self.assertEqual(UNIRESIS.graph(), {
            0: ["cpu_count", {}, _VALUE], 1: ["memory_count", {}, _VALUE],
            2: ["uuid", {}, _VALUE]})

    def test_machine(self):
        """
        This machine's hardware threads and physical memory.
        """
        cpus, memory = machineResources()
        self.assertEqual(cpus, os.cpu_count())
        self.assertEqual(memory, os.sysconf("SC_PHYS_PAGES")
                         * os.sysconf("SC_PAGE_SIZE"))

    def test_answers(self):
        """
        Over the wire: the figures and the uuid.
        """
        harness = ServiceHarness(UniresisService("u-1", 4, 2 ** 33),
                                 "uniresis")
        self.assertEqual(harness.call("cpu_count"), [("value", [4])])
        self.assertEqual(harness.call("memory_count"), [("value", [2 ** 33])])
        self.assertEqual(harness.call("uuid"), [("value", ["u-1"])])

    def test_restricted(self):
        """
        Restrictions lower the figures, never raise them.
        """
        service = UniresisService.restricted("u", 2, 1024, (8, 4096))
        self.assertEqual((service.cpus, service.memory), (2, 1024))
        service = UniresisService.restricted("u", 16, None, (8, 4096))
        self.assertEqual((service.cpus, service.memory), (8, 4096))
        self.assertRaises(ValueError, UniresisService.restricted, "u",
                          resources=(0, 4096))

    def test_plugin(self):
        """
        The node's uuid; restrictions checked.
        """
        plugin = loadPlugins().services["uniresis"]
        plugin.validate("p", {"restrictions": {"cpu": 1}}, None)
        for args, key in [({"prefix": "/r"}, "p.prefix"),
                          ({"restrictions": []}, "p.restrictions"),
                          ({"restrictions": {"cpus": 1}},
                           "p.restrictions.cpus"),
                          ({"restrictions": {"mem": 0}},
                           "p.restrictions.mem")]:
            with self.assertRaises(ConfigError) as caught:
                plugin.validate("p", args, None)
            self.assertIn(key, str(caught.exception))
        service = plugin.makeService(memoryContext(), "uniresis",
                                     {"restrictions": {"cpu": 1}})
        self.assertEqual(service.getUuid(), ("memory-node",))
        self.assertEqual(service.cpuCount(), (1,))
