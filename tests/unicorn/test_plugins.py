"""
Tests for the unicorn plugins (C{services/unicorn*.py}), the C{unicorns}
config section and how the runtime builds the backends.
"""

import io
import os
import sys

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from cocaine.config import ConfigError, parse
from cocaine.interfaces import IUnicornBackend, IUnicornPlugin
from cocaine.plugins import checkConfig, loadPlugins
from cocaine.runtime import buildRuntime
from cocaine.testing import FakeReactor
from cocaine.unicorn.etcd import EtcdUnicorn
from cocaine.unicorn.memory import MemoryUnicorn
from cocaine.unicorn.service import UnicornService


class ConfigTests(SynchronousTestCase):

    def setUp(self):
        self.plugins = loadPlugins()
        self.root = os.path.abspath(self.mktemp())

    def config(self, unicorns, service=None):
        value = {
            "paths": {"data": os.path.join(self.root, "data"),
                      "spool": os.path.join(self.root, "spool"),
                      "runtime": os.path.join(self.root, "run")},
            "storages": {"core": {"type": "memory"}},
            "services": {"logging": {"type": "logging"},
                         "unicorn": service or {"type": "unicorn",
                                                "args": {"backend": "core"}}},
        }
        if unicorns is not None:
            value["unicorns"] = unicorns
        return parse(value)

    def assertConfigError(self, path, reason, unicorns, service=None):
        error = self.assertRaises(ConfigError, checkConfig,
                                  self.config(unicorns, service),
                                  self.plugins)
        self.assertEqual(error.path, path)
        self.assertIn(reason, error.reason)

    def test_plugins(self):
        """
        The memory and etcd backends are found as L{IUnicornPlugin}s.
        """
        for name in ("memory", "etcd"):
            self.assertTrue(verifyObject(IUnicornPlugin,
                                         self.plugins.unicorns[name]))

    def test_section(self):
        """
        The issue's shape parses; the section is empty by default.
        """
        config = self.config({"core": {"type": "etcd", "args": {
            "endpoints": ["http://127.0.0.1:2379"], "prefix": ""}}})
        self.assertEqual(config.unicorns["core"].type, "etcd")
        checkConfig(config, self.plugins)
        self.assertEqual(dict(parse({}).unicorns), {})

    def test_badSection(self):
        """
        A malformed entry is named.
        """
        error = self.assertRaises(ConfigError, self.config,
                                  {"core": {"typ": "etcd"}})
        self.assertEqual(error.path, "unicorns.core.typ")
        error = self.assertRaises(ConfigError, self.config, [])
        self.assertEqual(error.path, "unicorns")

    def test_unknownType(self):
        """
        An unknown backend type is named with the ones there are.
        """
        self.assertConfigError("unicorns.core.type", "no unicorn plugin "
                               "named \"zookeeper\"",
                               {"core": {"type": "zookeeper"}})

    def test_etcdArgs(self):
        """
        Bad etcd args are named.
        """
        for args, path, reason in [
                ({"endpoint": []}, "unicorns.core.args.endpoint",
                 "unknown key"),
                ({"endpoints": []}, "unicorns.core.args.endpoints",
                 "non-empty array"),
                ({"endpoints": ["127.0.0.1:2379"]},
                 "unicorns.core.args.endpoints[0]", "URL"),
                ({"prefix": "x"}, "unicorns.core.args.prefix", "start"),
                ({"lease-ttl": 0}, "unicorns.core.args.lease-ttl",
                 "seconds"),
                ({"lease-ttl": 1.5}, "unicorns.core.args.lease-ttl",
                 "whole"),
                ({"timeout": "5"}, "unicorns.core.args.timeout",
                 "seconds")]:
            self.assertConfigError(path, reason, {"core": {
                "type": "etcd", "args": args}})

    def test_memoryArgs(self):
        """
        The memory backend takes no args.
        """
        self.assertConfigError("unicorns.core.args.size", "unknown key",
                               {"core": {"type": "memory",
                                         "args": {"size": 1}}})

    def test_serviceBackend(self):
        """
        The service names a configured unicorn, and nothing else.
        """
        self.assertConfigError("services.unicorn.args.backend",
                               "no unicorn named \"core\"", None)
        self.assertConfigError("services.unicorn.args.backend",
                               "no unicorn named \"other\"",
                               {"core": {"type": "memory"}},
                               {"type": "unicorn",
                                "args": {"backend": "other"}})
        self.assertConfigError("services.unicorn.args.extra",
                               "unknown key", {"core": {"type": "memory"}},
                               {"type": "unicorn", "args": {"extra": 1}})

    def test_runtime(self):
        """
        The runtime builds each named backend into the context, starts
        those that are services before the services that use them, and
        the service serves the one it names.
        """
        self.patch(sys, "stderr", io.StringIO())
        root = buildRuntime(FakeReactor(), self.config({
            "core": {"type": "etcd"}, "mem": {"type": "memory"}}, {
                "type": "unicorn", "args": {"backend": "mem"}}))
        unicorns = root.context.unicorns
        self.assertIsInstance(unicorns["core"], EtcdUnicorn)
        self.assertIsInstance(unicorns["mem"], MemoryUnicorn)
        for backend in unicorns.values():
            self.assertTrue(verifyObject(IUnicornBackend, backend))
        names = [child.name for child in root]
        self.assertEqual(names[:2], ["storages", "unicorns"])
        self.assertIs(unicorns["core"].parent,
                      root.getServiceNamed("unicorns"))
        host = root.getServiceNamed("unicorn")
        self.assertIsInstance(host.impl, UnicornService)
        self.assertIs(host.impl.backend, unicorns["mem"])
