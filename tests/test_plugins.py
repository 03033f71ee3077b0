"""
Tests for the plugin packages: L{cocaine.plugins.loadPlugins} and the
built-in plugins in C{services/}.
"""

import os
import subprocess
import sys
import textwrap

from twisted.internet.testing import MemoryReactorClock
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from cocaine.auth.unicat import UnicatService
from cocaine.config import DEFAULTS, ConfigError, parse
from cocaine.context import Context
from cocaine.interfaces import (
    IRPCService, IServicePlugin, IStorageBackend, IStoragePlugin)
from cocaine.locator.registry import Registry
from cocaine.log.service import LoggingService
from cocaine.log.sinks import FileSink, TwistdSink
from cocaine.plugins import checkConfig, loadPlugins
from cocaine.redis.storage import RedisStorage
from cocaine.storage.files import FileStorage
from cocaine.storage.memory import MemoryStorage
from cocaine.storage.service import StorageService

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_THIRD_PARTY = '''
from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin, IStoragePlugin


@implementer(IPlugin, IServicePlugin)
class _Dropin:
    name = "dropin"

    def validate(self, path, args, config):
        pass

    def makeService(self, context, name, args):
        raise NotImplementedError()


@implementer(IPlugin, IStoragePlugin)
class _Null:
    name = "null"

    def validate(self, path, args, config):
        pass

    def makeBackend(self, context, name, args):
        raise NotImplementedError()


dropin = _Dropin()
null = _Null()
'''

_THIRD_PARTY_DRIVER = '''
from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IDriverPlugin


@implementer(IPlugin, IDriverPlugin)
class _Knock:
    name = "knock"

    def validate(self, path, args):
        pass

    def makeDriver(self, context, name, args):
        raise NotImplementedError()


knock = _Knock()
'''

_LIST_PLUGINS = textwrap.dedent("""
    from cocaine.plugins import checkConfig, loadPlugins
    plugins = loadPlugins()
    for found in (plugins.services, plugins.storages, plugins.drivers):
        print(" ".join(sorted(found)))
""")


class LoadPluginsTests(SynchronousTestCase):
    """
    L{loadPlugins} finds the plugins in every C{services} directory.
    """

    def test_builtIn(self):
        """
        The built-in service plugins C{storage} and C{logging} and storage
        plugins C{files} and C{memory} are found, keyed by name, each
        providing C{IPlugin} and its interface.
        """
        plugins = loadPlugins()
        services, storages = plugins.services, plugins.storages
        self.assertTrue({"storage", "logging"} <= set(services), services)
        self.assertTrue({"files", "memory"} <= set(storages), storages)
        for name, plugin in services.items():
            self.assertEqual(plugin.name, name)
            self.assertTrue(verifyObject(IServicePlugin, plugin))
            self.assertTrue(IPlugin.providedBy(plugin))
        for name, plugin in storages.items():
            self.assertEqual(plugin.name, name)
            self.assertTrue(verifyObject(IStoragePlugin, plugin))
            self.assertTrue(IPlugin.providedBy(plugin))

    def listPlugins(self, pythonPath):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(pythonPath)
        process = subprocess.run(
            [sys.executable, "-c", _LIST_PLUGINS], env=env,
            cwd=os.path.dirname(pythonPath[0]), capture_output=True,
            text=True, timeout=60)
        self.assertEqual(process.returncode, 0, process.stderr)
        return [set(line.split()) for line in process.stdout.splitlines()]

    def test_thirdParty(self):
        """
        A module dropped into a C{services/} or C{drivers/} directory
        without an C{__init__.py} anywhere on C{sys.path} is found next to
        the built-in plugins.
        """
        base = os.path.abspath(self.mktemp())
        for package, source in (("services", _THIRD_PARTY),
                                ("drivers", _THIRD_PARTY_DRIVER)):
            directory = os.path.join(base, "site", package)
            os.makedirs(directory)
            with open(os.path.join(directory, "thirdparty.py"), "w") as f:
                f.write(source)
        services, storages, drivers = self.listPlugins(
            [os.path.join(base, "site"), _ROOT])
        self.assertTrue({"dropin", "logging", "storage"} <= services,
                        services)
        self.assertTrue({"null", "files", "memory"} <= storages, storages)
        self.assertTrue({"knock", "cron", "recurring-timer"} <= drivers,
                        drivers)

    def test_withoutThirdParty(self):
        """
        The same program without the extra directory finds only the
        built-in plugins (so the test above shows the drop-in, not
        something installed).
        """
        base = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(base, "site"))
        services, storages, drivers = self.listPlugins(
            [os.path.join(base, "site"), _ROOT])
        self.assertNotIn("dropin", services)
        self.assertNotIn("null", storages)
        self.assertNotIn("knock", drivers)
        self.assertIn("cron", drivers)


class BuiltInPluginTests(SynchronousTestCase):
    """
    What the built-in plugins build.
    """

    def setUp(self):
        self.plugins = loadPlugins()
        self.services, self.storages = (self.plugins.services,
                                        self.plugins.storages)
        self.data = os.path.abspath(self.mktemp())
        self.reactor = MemoryReactorClock()

    def context(self, **sections):
        value = {"paths": {"data": self.data}}
        value.update(sections)
        return Context(self.reactor, parse(value), Registry())

    def test_files(self):
        """
        The C{files} plugin builds a L{FileStorage} under the data
        directory unless given a path.
        """
        plugin = self.storages["files"]
        backend = plugin.makeBackend(self.context(), "core", {})
        self.assertIsInstance(backend, FileStorage)
        self.assertTrue(verifyObject(IStorageBackend, backend))
        self.assertEqual(backend.path, os.path.join(self.data, "storage"))
        self.assertFalse(backend.fsync)
        other = plugin.makeBackend(self.context(), "x",
                                   {"path": self.data + "/x", "fsync": True})
        self.assertEqual((other.path, other.fsync), (self.data + "/x", True))

    def test_redis(self):
        """
        The C{redis} storage plugin builds a L{RedisStorage} of the URL and
        prefix, not connected until it starts.
        """
        backend = self.storages["redis"].makeBackend(
            self.context(), "core", {"url": "redis://127.0.0.1:6390/2",
                                     "prefix": "p:"})
        self.assertIsInstance(backend, RedisStorage)
        self.assertEqual((backend.redis.address.host,
                          backend.redis.address.port,
                          backend.redis.address.db, backend._prefix),
                         ("127.0.0.1", 6390, 2, b"p:"))
        self.assertEqual(self.reactor.tcpClients, [])

    def test_unicat(self):
        """
        The C{unicat} plugin serves the C{core} storage's ACLs, refusing
        any args.
        """
        context = self.context()
        context.storages["core"] = core = MemoryStorage()
        plugin = self.services["unicat"]
        plugin.validate("services.unicat.args", {}, context.config)
        service = plugin.makeService(context, "unicat", {})
        self.assertIsInstance(service, UnicatService)
        self.assertTrue(verifyObject(IRPCService, service))
        self.assertIs(service._backend, core)
        self.assertRaises(ConfigError, plugin.validate,
                          "services.unicat.args", {"x": 1}, context.config)

    def test_memory(self):
        """
        The C{memory} plugin builds a L{MemoryStorage}.
        """
        backend = self.storages["memory"].makeBackend(self.context(), "core",
                                                      {})
        self.assertIsInstance(backend, MemoryStorage)

    def test_storage(self):
        """
        The C{storage} plugin serves the configured backend, C{core} by
        default.
        """
        context = self.context()
        context.storages["core"] = core = MemoryStorage()
        context.storages["other"] = other = MemoryStorage()
        plugin = self.services["storage"]
        service = plugin.makeService(context, "storage", {})
        self.assertIsInstance(service, StorageService)
        self.assertTrue(verifyObject(IRPCService, service))
        self.assertIs(service.backend, core)
        self.assertIs(plugin.makeService(context, "s2",
                                         {"backend": "other"}).backend, other)

    def test_logging(self):
        """
        The C{logging} plugin takes its sinks and verbosity from the
        config's C{logging} section; args may override the verbosity.
        """
        path = os.path.join(self.data, "log", "cocaine.log")
        context = self.context(logging={"verbosity": "warning", "sinks": [
            {"type": "twistd"}, {"type": "file", "path": path}]})
        plugin = self.services["logging"]
        service = plugin.makeService(context, "logging", {})
        self.assertIsInstance(service, LoggingService)
        self.assertEqual(service.verbosity(), (2,))
        [twistd, file] = service.sinks
        self.assertIsInstance(twistd, TwistdSink)
        self.assertIsInstance(file, FileSink)
        self.assertEqual(file.path, path)
        self.assertFalse(os.path.exists(path))
        louder = plugin.makeService(context, "logging", {"verbosity": 0})
        self.assertEqual(louder.verbosity(), (0,))


_REDIS = "redis://127.0.0.1:6379/0"

#: C{(type, args, refusal)} of the built-in service plugins: the key and
#: the refused value, shown as a parse error shows one.
_SERVICE_REFUSALS = [
    ("admin", {"hosts": "x"},
     'hosts: must be a list of host names, got "x"'),
    ("admin", {"metrics-public": 1},
     "metrics-public: must be true or false, got 1"),
    ("admin", {"port": 70000},
     "port: must be a TCP port (0-65535, 0: any free), got 70000"),
    ("cache", {"backend": "redis", "url": _REDIS, "prefix": 5},
     "prefix: must be a string, got 5"),
    ("elliptics", {"url": _REDIS, "prefix": 5},
     "prefix: must be a string, got 5"),
    ("http", {"port": 70000},
     "port: must be a TCP port (0-65535), got 70000"),
    ("http", {"timeout": "x"},
     'timeout: must be a number of seconds >= 0, got "x"'),
    ("http", {"timeout": 0}, "timeout: must be a number of seconds > 0, "
     "got 0"),
    ("http", {"max-body": -1}, "max-body: must be an integer >= 0, got -1"),
    ("http", {"timeouts": []}, 'timeouts: must be a map of app to {event: '
     'seconds, "": default}, got an array'),
    ("http", {"timeouts": {"a": 5}}, 'timeouts.a: must be a map of event '
     'to seconds ("" for the app\'s default), got 5'),
    ("jabber", {"jid": 5, "password": "p"},
     "jid: must be a non-empty string, got 5"),
    ("jabber", {"jid": "x@", "password": "p"},
     'jid: is not a JID (Server address required), got "x@"'),
    ("jabber", {"jid": "b.org", "password": "p"},
     'jid: must name an account (user@domain), got "b.org"'),
    ("jabber", {"jid": "a@b", "password": "p", "port": "x"},
     'port: must be a port number (1 to 65535), got "x"'),
    ("jabber", {"jid": "a@b", "password": "p", "tls": "maybe"},
     'tls: must be one of required, optional, off, got "maybe"'),
    ("jabber", {"jid": "a@b", "password": "p", "buffer": 0},
     "buffer: must be a number of messages from 1 to 1000000, got 0"),
    ("mesh_bridge", {"encoding": "xml"},
     'encoding: must be json or msgpack, got "xml"'),
    ("mesh_bridge", {"apps": []},
     "apps: must be a map of app name to events, got an array"),
    ("mesh_bridge", {"apps": {"a": "x"}}, 'apps.a: must be a non-empty '
     'list of event names (or a map with one as events), got "x"'),
    ("mesh_bridge", {"apps": {"a": {"events": ["x"], "encoding": "xml"}}},
     'apps.a.encoding: must be json or msgpack, got "xml"'),
    ("mesh_bridge", {"prefix": 5}, "prefix: must be a string, got 5"),
    ("mesh_bridge", {"publish": "no"},
     'publish: must be true or false, got "no"'),
    ("mesh_bridge", {"timeout": 0},
     "timeout: must be a number of seconds > 0, got 0"),
    ("mesh_bridge", {"mesh": []}, "mesh: must be a map, got an array"),
    ("mesh_bridge", {"mesh": {"helloIntervall": 2}},
     "mesh.helloIntervall: unknown key (allowed: address, broadcast, "
     "checkInterval, environment, helloInterval, helloReplyInterval, key, "
     "multicast, multicastTTL, namespace, nodeTimeout, port, secret, "
     "signatureWindow, signingKey, unicast, useHostNames)"),
    ("mesh_bridge", {"mesh": {"port": "x"}},
     'mesh.port: must be an integer 1-65535, got "x"'),
    ("mesh_bridge", {"mesh": {"nodeTimeout": "5"}},
     'mesh.nodeTimeout: must be a number of seconds > 0, got "5"'),
    ("mesh_bridge", {"mesh": {"broadcast": "1.2.3.4", "unicast": "1.2.3.5"}},
     "mesh: choose one of broadcast, multicast and unicast, got broadcast "
     "and unicast"),
    ("node", {"runlist": ""}, 'runlist: must be a non-empty string, got ""'),
    ("node", {"drain-timeout": -1},
     "drain-timeout: must be a number of seconds >= 0, got -1"),
    ("node", {"local": []}, "local: must be a map of app name to {path, "
     "profile}, got an array"),
    ("node", {"local": {"a": "dir"}},
     'local.a: must be a map {path, profile}, got "dir"'),
    ("node", {"local": {"a": {"path": 5}}},
     "local.a.path: must be the app's directory, got 5"),
    ("node", {"local": {"a": {"path": "/x", "profile": 5}}},
     "local.a.profile: must be a profile name or map, got 5"),
    ("notifications", {"backend": "redis", "url": _REDIS, "prefix": 5},
     "prefix: must be a string of at most 256 characters, got 5"),
    ("uniresis", {"restrictions": []}, 'restrictions: must be a map '
     '{"cpu": N, "mem": bytes}, got an array'),
    ("urlfetch", {"deny": "10.0.0.0/8"}, 'deny: must be a list of networks '
     '("10.0.0.0/8", "fd00::/8"), got "10.0.0.0/8"'),
]

#: The same for the built-in storage plugins.
_STORAGE_REFUSALS = [
    ("files", {"path": 5}, "path: must be a non-empty string, got 5"),
    ("files", {"fsync": "yes"}, 'fsync: must be true or false, got "yes"'),
    ("redis", {"url": _REDIS, "prefix": 5},
     "prefix: must be a string, got 5"),
]


class RefusalTests(SynchronousTestCase):
    """
    A built-in plugin refusing its args names the key and the value it
    refuses (C{..., got "x"}), as the parser does.
    """

    def setUp(self):
        self.plugins = loadPlugins()

    def refusal(self, section, kind, args):
        value = dict(DEFAULTS, services=dict(
            DEFAULTS["services"], node={"type": "node"}))
        value[section] = dict(value[section], x={"type": kind, "args": args})
        error = self.assertRaises(ConfigError, checkConfig, parse(value),
                                  self.plugins)
        return str(error)

    def test_services(self):
        wrong = []
        for kind, args, expected in _SERVICE_REFUSALS:
            got = self.refusal("services", kind, args)
            if got != "services.x.args." + expected:
                wrong.append("{} {}: {}".format(kind, args, got))
        self.assertEqual(wrong, [])

    def test_storages(self):
        wrong = []
        for kind, args, expected in _STORAGE_REFUSALS:
            got = self.refusal("storages", kind, args)
            if got != "storages.x.args." + expected:
                wrong.append("{} {}: {}".format(kind, args, got))
        self.assertEqual(wrong, [])

    def test_secretsNotShown(self):
        """
        A secret is never shown, not even one of the wrong type.
        """
        for password in (12345, ""):
            self.assertEqual(
                self.refusal("services", "jabber", {"jid": "a@b",
                                                    "password": password}),
                "services.x.args.password: must be a non-empty string")
        for secret in (31415926535897932, ""):
            self.assertEqual(
                self.refusal("services", "mesh_bridge",
                             {"mesh": {"secret": secret}}),
                "services.x.args.mesh.secret: must be a non-empty string")
