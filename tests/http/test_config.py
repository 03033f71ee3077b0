# -*- test-case-name: tests.http.test_config -*-
"""
Tests for L{cocaine.http.config} and the C{http} plugin's checks.
"""

import copy

from twisted.trial.unittest import SynchronousTestCase

from cocaine.config import DEFAULTS, ConfigError, parse
from cocaine.http.config import Settings, parseSettings
from cocaine.plugins import checkConfig, loadPlugins


class SettingsTests(SynchronousTestCase):

    def refused(self, args):
        return self.assertRaises(ConfigError, parseSettings, "s.args",
                                 args)

    def test_defaults(self):
        """
        No args: port 8080, 64 MiB bodies, 30 s timeouts.
        """
        settings = parseSettings("s.args", {})
        self.assertEqual(settings, Settings())
        self.assertEqual(settings.port, 8080)
        self.assertEqual(settings.maxBody, 64 * 2 ** 20)
        self.assertEqual(settings.timeout, 30.0)
        self.assertEqual(settings.maxBuffer, 32 * 2 ** 20)
        self.assertEqual(settings.sendTimeout, 60.0)

    def test_all(self):
        """
        Every key is read.
        """
        settings = parseSettings("s.args", {
            "port": 0, "max-body": 10, "max-connections": 3,
            "header-timeout": 1, "body-timeout": 2, "idle-timeout": 3.5,
            "timeout": 4, "timeouts": {"a": {"e": 1, "": 2}},
            "max-buffer": 4096, "send-timeout": 5})
        self.assertEqual(settings.factoryArguments(), dict(
            maxBody=10, maxConnections=3, headerTimeout=1.0,
            bodyTimeout=2.0, idleTimeout=3.5, maxBuffer=4096,
            sendTimeout=5.0, holdWrites=True))
        self.assertEqual(settings.timeouts, {"a": {"e": 1.0, "": 2.0}})

    def test_errors(self):
        """
        Bad values are refused naming the key.
        """
        for args, path in [
                ({"prot": 1}, "s.args.prot"),
                ({"port": "80"}, "s.args.port"),
                ({"port": 70000}, "s.args.port"),
                ({"port": True}, "s.args.port"),
                ({"max-body": -1}, "s.args.max-body"),
                ({"max-connections": 0}, "s.args.max-connections"),
                ({"header-timeout": 0}, "s.args.header-timeout"),
                ({"timeout": "x"}, "s.args.timeout"),
                ({"max-buffer": 0}, "s.args.max-buffer"),
                ({"max-buffer": 1.5}, "s.args.max-buffer"),
                ({"send-timeout": 0}, "s.args.send-timeout"),
                ({"send-timeout": "60"}, "s.args.send-timeout"),
                ({"timeouts": []}, "s.args.timeouts"),
                ({"timeouts": {"a": 1}}, "s.args.timeouts.a"),
                ({"timeouts": {"a": {"": -1}}}, 's.args.timeouts.a.""'),
                ({"timeouts": {"a": {"e": None}}}, "s.args.timeouts.a.e")]:
            self.assertEqual(self.refused(args).path, path, args)


class PluginTests(SynchronousTestCase):

    def check(self, services, drop=()):
        value = copy.deepcopy(DEFAULTS)
        value["services"].update(services)
        for name in drop:
            del value["services"][name]
        checkConfig(parse(value), loadPlugins())

    def test_valid(self):
        """
        The gateway with the node passes.
        """
        self.check({"http": {"type": "http", "args": {"port": 8080}}})

    def test_badArgs(self):
        """
        Bad args are refused naming the key under the service.
        """
        error = self.assertRaises(ConfigError, self.check, {
            "web": {"type": "http", "args": {"max-body": "big"}}})
        self.assertEqual(error.path, "services.web.args.max-body")

    def test_needsNode(self):
        """
        The gateway needs the node service.
        """
        error = self.assertRaises(ConfigError, self.check, {
            "web": {"type": "http", "args": {}}}, drop=["node"])
        self.assertIn("node", str(error))
