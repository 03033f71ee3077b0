"""
Tests for L{cocaine.config}.
"""

import copy
import dataclasses
import json
import os

from twisted.trial.unittest import SynchronousTestCase

from cocaine.config import (
    DEFAULT_LOCATOR_PORT, DEFAULT_MAX_MESSAGE, DEFAULTS, NO_FILE,
    Authentication, Authorization, ConfigError, Network, Sink, load, parse,
    parsePriority, withFile)
from cocaine.plugins import checkConfig, loadPlugins


def withSection(**sections):
    """
    The embedded defaults with some sections replaced.
    """
    value = copy.deepcopy(DEFAULTS)
    value.update(sections)
    return value


class DefaultsTests(SynchronousTestCase):
    """
    The embedded defaults parse into a single node's configuration.
    """

    def test_defaults(self):
        """
        L{DEFAULTS} gives file storage, the storage and logging services
        and the locator on 10053 on loopback.
        """
        config = parse(DEFAULTS)
        self.assertEqual(config.source, "<defaults>")
        self.assertEqual((config.paths.data, config.paths.spool,
                          config.paths.runtime),
                         ("var/data", "var/spool", "var/run"))
        self.assertEqual(config.network, Network())
        self.assertEqual(config.network.bind, "127.0.0.1")
        self.assertEqual(config.network.locator, DEFAULT_LOCATOR_PORT)
        self.assertEqual(config.network.locator, 10053)
        self.assertIsNone(config.network.ports)
        self.assertEqual(config.network.maxMessage, DEFAULT_MAX_MESSAGE)
        self.assertEqual(dict(config.storages["core"].args), {})
        self.assertEqual(config.storages["core"].type, "files")
        self.assertEqual(
            {name: c.type for name, c in config.services.items()},
            {"logging": "logging", "storage": "storage", "node": "node"})
        self.assertEqual(dict(config.services["storage"].args),
                         {"backend": "core"})
        self.assertEqual(config.logging.verbosity, 1)
        self.assertEqual(config.logging.sinks, (Sink("twistd"),))
        self.assertIsNone(config.uuid)

    def test_emptyIsDefaults(self):
        """
        An empty map takes every section from the defaults.
        """
        self.assertEqual(parse({}), parse(DEFAULTS))

    def test_defaultsNotChanged(self):
        """
        Parsing does not change L{DEFAULTS}.
        """
        before = copy.deepcopy(DEFAULTS)
        parse({"network": {"locator": 1}})
        self.assertEqual(DEFAULTS, before)

    def test_frozen(self):
        """
        The parsed configuration cannot be changed.
        """
        config = parse({})
        self.assertRaises(dataclasses.FrozenInstanceError, setattr, config,
                          "uuid", "x")

        def setItem(mapping, key, value):
            mapping[key] = value
        self.assertRaises(TypeError, setItem, config.storages, "x", 1)
        self.assertRaises(TypeError, setItem,
                          config.services["storage"].args, "backend", "x")

    def test_sectionReplacesDefault(self):
        """
        A section that is present replaces its default whole.
        """
        config = parse({"services": {"logging": {"type": "logging"}}})
        self.assertEqual(list(config.services), ["logging"])

    def test_fullConfig(self):
        """
        Every key is read.
        """
        config = parse({
            "paths": {"data": "/d", "spool": "/s", "runtime": "/r"},
            "network": {"bind": "0.0.0.0", "advertise": "10.0.0.1",
                        "locator": 0, "ports": [5000, 5100],
                        "max-message": 4096},
            "storages": {"core": {"type": "memory"},
                         "pg": {"type": "files", "args": {"path": "/p"}}},
            "services": {"store": {"type": "storage",
                                   "args": {"backend": "pg"}}},
            "logging": {"verbosity": "debug", "sinks": [
                {"type": "file", "path": "/l/cocaine.log"},
                {"type": "twistd"}]},
            "uuid": "node-1",
        }, source="x.json")
        self.assertEqual(config.source, "x.json")
        self.assertEqual(config.paths.spool, "/s")
        self.assertEqual(config.network.ports, (5000, 5100))
        self.assertEqual(config.network.maxMessage, 4096)
        self.assertEqual(config.network.advertised, "10.0.0.1")
        self.assertEqual(config.network.locator, 0)
        self.assertEqual(dict(config.storages["pg"].args), {"path": "/p"})
        self.assertEqual(config.logging.verbosity, 0)
        self.assertEqual(config.logging.sinks,
                         (Sink("file", "/l/cocaine.log"), Sink("twistd")))
        self.assertEqual(config.uuid, "node-1")

    def test_advertised(self):
        """
        The advertised address is the configured one, else the bind
        address, else loopback for a wildcard bind.
        """
        self.assertEqual(Network(bind="10.1.1.1").advertised, "10.1.1.1")
        self.assertEqual(Network(bind="0.0.0.0").advertised, "127.0.0.1")
        self.assertEqual(Network(bind="::").advertised, "127.0.0.1")
        self.assertEqual(Network(bind="::", advertise="::1").advertised,
                         "::1")

    def test_priorities(self):
        """
        Priorities are names or 0-3.
        """
        for value, expected in (("debug", 0), ("info", 1), ("warning", 2),
                                ("error", 3), (0, 0), (3, 3)):
            self.assertEqual(parsePriority("p", value), expected)


class ValidationTests(SynchronousTestCase):
    """
    Every validation error names the key path and the reason.
    """

    def assertError(self, value, message):
        """
        Parsing C{value} fails with exactly C{message}.
        """
        error = self.assertRaises(ConfigError, parse, value)
        self.assertEqual(str(error), message)
        return error

    def test_notAMap(self):
        """
        The whole config must be a map.
        """
        error = self.assertError([], "must be a map, got an array")
        self.assertEqual(error.path, "")

    def test_unknownTopLevelKey(self):
        """
        An unknown top-level key is named, with the allowed ones.
        """
        allowed = ("authentications, authorizations, cluster, insecure, "
                   "logging, network, paths, services, storages, unicorns, "
                   "uuid")
        error = self.assertError(
            {"netwrok": {}}, "netwrok: unknown key (allowed: {})".format(
                allowed))
        self.assertEqual((error.path, error.reason), (
            "netwrok", "unknown key (allowed: {})".format(allowed)))

    def test_unknownNestedKeys(self):
        """
        Unknown keys further down name their whole path.
        """
        self.assertError({"network": {"port": 1}},
                         "network.port: unknown key (allowed: advertise, "
                         "bind, frame-timeout, idle-timeout, locator, "
                         "max-channels, max-connections, "
                         "max-connections-per-peer, max-container, "
                         "max-frame-objects, max-locator-streams, "
                         "max-message, ports, "
                         "write-buffer-max)")
        self.assertError({"paths": {"logs": "x"}},
                         "paths.logs: unknown key (allowed: data, runtime, "
                         "spool)")
        self.assertError(withSection(services={"x": {"type": "storage",
                                                     "argz": {}}}),
                         "services.x.argz: unknown key (allowed: args, "
                         "type)")
        self.assertError({"logging": {"sinks": [{"type": "file",
                                                 "path": "x", "mode": 1}]}},
                         "logging.sinks[0].mode: unknown key (allowed: "
                         "path, type)")

    def test_locatorPort(self):
        """
        The locator port must be an integer 0-65535.
        """
        self.assertError({"network": {"locator": "abc"}},
                         'network.locator: must be a port number 0-65535, '
                         'got "abc"')
        self.assertError({"network": {"locator": 65536}},
                         "network.locator: must be a port number 0-65535, "
                         "got 65536")
        self.assertError({"network": {"locator": -1}},
                         "network.locator: must be a port number 0-65535, "
                         "got -1")
        self.assertError({"network": {"locator": True}},
                         "network.locator: must be a port number 0-65535, "
                         "got true")
        self.assertError({"network": {"locator": 10053.0}},
                         "network.locator: must be a port number 0-65535, "
                         "got 10053.0")

    def test_ports(self):
        """
        The port range must be C{[first, last]} with 0 < first <= last.
        """
        self.assertError({"network": {"ports": [1]}},
                         "network.ports: must be [first, last] or null, "
                         "got an array")
        self.assertError({"network": {"ports": "1-2"}},
                         'network.ports: must be [first, last] or null, '
                         'got "1-2"')
        self.assertError({"network": {"ports": [5, 70000]}},
                         "network.ports[1]: must be a port number 0-65535, "
                         "got 70000")
        self.assertError({"network": {"ports": [10, 5]}},
                         "network.ports: must be a range of ports with "
                         "0 < first <= last, got [10, 5]")
        self.assertError({"network": {"ports": [0, 5]}},
                         "network.ports: must be a range of ports with "
                         "0 < first <= last, got [0, 5]")
        self.assertEqual(parse({"network": {"ports": None}}).network.ports,
                         None)
        self.assertEqual(parse({"network": {"ports": [7, 7]}}).network.ports,
                         (7, 7))

    def test_addresses(self):
        """
        Bind and advertise addresses must be IP addresses.
        """
        self.assertError({"network": {"bind": "localhost"}},
                         'network.bind: must be an IP address, got '
                         '"localhost"')
        self.assertError({"network": {"advertise": "example.com"}},
                         'network.advertise: must be an IP address, got '
                         '"example.com"')
        self.assertError({"network": {"bind": ""}},
                         'network.bind: must be a non-empty string, got ""')
        self.assertEqual(parse({"network": {"bind": "::1"}}).network.bind,
                         "::1")

    def test_maxMessage(self):
        """
        The frame limit must be a byte count of at least 1024.
        """
        self.assertError({"network": {"max-message": 10}},
                         "network.max-message: must be a byte count of at "
                         "least 1024, got 10")
        self.assertError({"network": {"max-message": "1M"}},
                         'network.max-message: must be a byte count of at '
                         'least 1024, got "1M"')

    def test_connectionLimitDefaults(self):
        """
        Every connection limit has a safe default (issue 14).
        """
        network = parse({}).network
        self.assertEqual(
            (network.maxContainer, network.maxChannels,
             network.writeLimit,
             network.idleTimeout, network.frameTimeout,
             network.maxConnections, network.maxConnectionsPerPeer,
             network.maxLocatorStreams, network.maxFrameObjects),
            (65536, 1024, network.maxMessage, 600.0, 60.0,
             4096, 1024, 4096, 262144))

    def test_connectionLimits(self):
        """
        The limits are read from the network section; timeouts may be
        null (off).
        """
        network = parse({"network": {
            "max-container": 100, "max-channels": 5,
            "write-buffer-max": 300000,
            "idle-timeout": None, "frame-timeout": 2,
            "max-connections": 10, "max-connections-per-peer": 3,
            "max-locator-streams": 7}}).network
        self.assertEqual(
            (network.maxContainer, network.maxChannels,
             network.writeLimit,
             network.idleTimeout, network.frameTimeout,
             network.maxConnections, network.maxConnectionsPerPeer,
             network.maxLocatorStreams),
            (100, 5, 300000, None, 2.0, 10, 3, 7))

    def test_connectionLimitErrors(self):
        """
        A bad limit is an error naming its key.
        """
        self.assertError({"network": {"max-channels": 0}},
                         "network.max-channels: must be an integer "
                         "1-2147483648, got 0")
        self.assertError({"network": {"idle-timeout": -1}},
                         "network.idle-timeout: must be a number of seconds "
                         "above 0 and at most 86400, or null (no timeout), "
                         "got -1")
        self.assertError({"network": {"write-buffer-max": 4096}},
                         "network.write-buffer-max: must be an integer "
                         "262144-1099511627776, got 4096")
        self.assertError({"network": {"max-connections": 10,
                                      "max-connections-per-peer": 11}},
                         "network.max-connections-per-peer: must be at "
                         "most max-connections (10), got 11")
        self.assertError({"network": {"max-container": "x"}},
                         'network.max-container: must be an integer '
                         '16-2147483648, got "x"')

    def test_paths(self):
        """
        Paths must be non-empty strings.
        """
        self.assertError({"paths": {"data": ""}},
                         'paths.data: must be a non-empty string, got ""')
        self.assertError({"paths": {"spool": 5}},
                         "paths.spool: must be a non-empty string, got 5")
        self.assertError({"paths": []},
                         "paths: must be a map, got an array")

    def test_coreStorageRequired(self):
        """
        A C{storages} section without C{core} is refused.
        """
        self.assertError(withSection(storages={}),
                         "storages.core: is required")
        self.assertError(withSection(storages={"other": {"type": "files"}}),
                         "storages.core: is required")

    def test_componentType(self):
        """
        Every storage and service needs a non-empty string type.
        """
        self.assertError(withSection(services={"x": {}}),
                         "services.x.type: is required")
        self.assertError(withSection(services={"x": {"args": {}}}),
                         "services.x.type: is required")
        self.assertError(withSection(services={"x": {"type": 3}}),
                         "services.x.type: must be a non-empty string, "
                         "got 3")
        self.assertError(withSection(storages={"core": {"type": ""}}),
                         'storages.core.type: must be a non-empty string, '
                         'got ""')

    def test_componentShape(self):
        """
        Entries and their args must be maps; names must not be empty.
        """
        self.assertError(withSection(services=[]),
                         "services: must be a map, got an array")
        self.assertError(withSection(services={"x": "storage"}),
                         'services.x: must be a map, got "storage"')
        self.assertError(withSection(services={"x": {"type": "storage",
                                                     "args": [1]}}),
                         "services.x.args: must be a map, got an array")
        self.assertError(withSection(services={"": {"type": "storage"}}),
                         "services: names must not be empty")

    def test_logging(self):
        """
        Logging sinks must be C{twistd} or C{file} with a path; the
        verbosity a priority.
        """
        self.assertError({"logging": {"sinks": [{"type": "syslog"}]}},
                         'logging.sinks[0].type: must be "twistd" or '
                         '"file", got "syslog"')
        self.assertError({"logging": {"sinks": [{"type": "twistd"}, {}]}},
                         'logging.sinks[1].type: must be "twistd" or '
                         '"file", got null')
        self.assertError({"logging": {"sinks": [{"type": "file"}]}},
                         "logging.sinks[0].path: must be a non-empty "
                         "string, got null")
        self.assertError({"logging": {"sinks": {"type": "twistd"}}},
                         "logging.sinks: must be an array, got a map")
        self.assertError({"logging": {"sinks": ["twistd"]}},
                         'logging.sinks[0]: must be a map, got "twistd"')
        self.assertError({"logging": {"verbosity": "loud"}},
                         'logging.verbosity: must be one of debug, info, '
                         'warning, error or 0-3, got "loud"')
        self.assertError({"logging": {"verbosity": 4}},
                         "logging.verbosity: must be one of debug, info, "
                         "warning, error or 0-3, got 4")

    def test_uuid(self):
        """
        A configured uuid must be a non-empty string.
        """
        self.assertError({"uuid": 5},
                         "uuid: must be a non-empty string, got 5")


class LoadTests(SynchronousTestCase):
    """
    L{load} reads a file and names it in every error.
    """

    def write(self, content):
        path = os.path.abspath(self.mktemp())
        with open(path, "wb") as f:
            f.write(content)
        return path

    def test_load(self):
        """
        A valid file parses, with the file as the source.
        """
        path = self.write(json.dumps({"network": {"locator": 2000}})
                          .encode())
        config = load(path)
        self.assertEqual(config.source, path)
        self.assertEqual(config.network.locator, 2000)

    def test_example(self):
        """
        The shipped example configuration loads.
        """
        path = os.path.join(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))), "examples", "cocaine.json")
        config = load(path)
        checkConfig(config, loadPlugins())

    def test_missing(self):
        """
        A missing file is one message naming the file.
        """
        path = os.path.abspath(self.mktemp())
        error = self.assertRaises(ConfigError, load, path)
        self.assertEqual(str(error), "cannot read config {}: No such file "
                         "or directory".format(path))

    def test_directory(self):
        """
        A directory instead of a file is one message naming it.
        """
        path = os.path.abspath(self.mktemp())
        os.mkdir(path)
        error = self.assertRaises(ConfigError, load, path)
        self.assertIn(path, str(error))
        self.assertTrue(str(error).startswith("cannot read config "))

    def test_invalidJSON(self):
        """
        A file that is not JSON is one message naming the file and where
        it breaks.
        """
        path = self.write(b'{"network": {"locator": 1,}}')
        error = self.assertRaises(ConfigError, load, path)
        self.assertTrue(str(error).startswith(
            "config {} is not valid JSON: ".format(path)), str(error))
        self.assertIn("line 1", str(error))
        self.assertNotIn("\n", str(error))

    def test_notUTF8(self):
        """
        A file that is not UTF-8 is reported like invalid JSON.
        """
        path = self.write(b'{"uuid": "\xff"}')
        error = self.assertRaises(ConfigError, load, path)
        self.assertTrue(str(error).startswith(
            "config {} is not valid JSON: ".format(path)), str(error))

    def test_invalidConfig(self):
        """
        A validation error keeps its key path and names the file.
        """
        path = self.write(b'{"network": {"locator": "abc"}}')
        error = self.assertRaises(ConfigError, load, path)
        self.assertEqual(error.path, "network.locator")
        self.assertEqual(str(error), 'network.locator: must be a port '
                         'number 0-65535, got "abc" (in {})'.format(path))

    def test_withFile(self):
        """
        A refusal names its file the way L{load} names it, keeping its
        key path; a configuration from no file (L{NO_FILE}, the source of
        what L{parse} is given alone) names none.
        """
        error = ConfigError("services.x.args.y", "must be a map, got 1")
        named = error.withFile("/etc/c.json")
        self.assertEqual((named.path, str(named)), (
            "services.x.args.y", "services.x.args.y: must be a map, got 1 "
            "(in /etc/c.json)"))
        self.assertEqual(str(error.withFile(NO_FILE)), str(error))
        self.assertEqual(parse({}).source, NO_FILE)
        self.assertEqual(withFile("refused", "c.json"), "refused (in c.json)")
        self.assertEqual(withFile("refused", NO_FILE), "refused")


class CheckPluginsTests(SynchronousTestCase):
    """
    L{cocaine.plugins.checkConfig} with the real plugins.
    """

    def setUp(self):
        self.plugins = loadPlugins()
        self.services, self.storages = (self.plugins.services,
                                        self.plugins.storages)

    def check(self, value):
        checkConfig(parse(value), self.plugins)

    def assertError(self, value, message):
        error = self.assertRaises(ConfigError, self.check, value)
        self.assertEqual(str(error), message)

    def test_defaults(self):
        """
        The defaults pass.
        """
        self.check(DEFAULTS)

    def test_unknownServiceType(self):
        """
        An unknown service type names the available ones.
        """
        message = str(self.assertRaises(ConfigError, self.check, withSection(
            services={"web": {"type": "gopher"}})))
        self.assertTrue(message.startswith(
            'services.web.type: no service plugin named "gopher" '
            '(available: '), message)
        for name in ("logging", "storage"):
            self.assertIn(name, message)
        self.assertIn(", ".join(sorted(self.services)), message)

    def test_unknownStorageType(self):
        """
        An unknown storage type names the available ones.
        """
        message = str(self.assertRaises(ConfigError, self.check, withSection(
            storages={"core": {"type": "mongodb"}})))
        self.assertEqual(message, 'storages.core.type: no storage plugin '
                         'named "mongodb" (available: {})'.format(
                             ", ".join(sorted(self.storages))))
        self.assertIn("files", message)
        self.assertIn("memory", message)

    def test_missingBackend(self):
        """
        A storage service whose backend is not configured is refused with
        exactly the key and the name.
        """
        self.assertError(withSection(services={"storage": {
            "type": "storage", "args": {"backend": "x"}}}),
            'services.storage.args.backend: no storage named "x"')

    def test_otherBackend(self):
        """
        A storage service may use any configured storage.
        """
        self.check(withSection(
            storages={"core": {"type": "memory"},
                      "big": {"type": "files", "args": {"path": "/b"}}},
            services={"storage": {"type": "storage",
                                  "args": {"backend": "big"}}}))

    def test_pluginArgs(self):
        """
        Each plugin checks its own args, naming the key under C{args}.
        """
        self.assertError(withSection(services={"storage": {
            "type": "storage", "args": {"backend": "core", "x": 1}}}),
            "services.storage.args.x: unknown key (allowed: backend)")
        self.assertError(withSection(storages={"core": {
            "type": "files", "args": {"path": ""}}}),
            'storages.core.args.path: must be a non-empty string, got ""')
        self.assertError(withSection(storages={"core": {
            "type": "files", "args": {"fsync": "yes"}}}),
            'storages.core.args.fsync: must be true or false, got "yes"')
        self.assertError(withSection(storages={"core": {
            "type": "files", "args": {"dir": "/x"}}}),
            "storages.core.args.dir: unknown key (allowed: cache, fsync, path)")
        self.assertError(withSection(storages={"core": {
            "type": "memory", "args": {"size": 1}}}),
            "storages.core.args.size: unknown key (the memory storage "
            "takes none)")
        self.assertError(withSection(services={"logging": {
            "type": "logging", "args": {"verbosity": "loud"}}}),
            'services.logging.args.verbosity: must be one of debug, info, '
            'warning, error or 0-3, got "loud"')

    def test_locatorNameReserved(self):
        """
        No configured service may be called C{locator}.
        """
        self.assertError(withSection(services={"locator": {
            "type": "logging"}}),
            'services.locator: the name "locator" is the node\'s own '
            'locator')


class AuthConfigTests(SynchronousTestCase):
    """
    The C{authentications}, C{authorizations} and C{insecure} keys
    (docs/security.md).
    """

    def assertError(self, value, path, text):
        error = self.assertRaises(ConfigError, parse, value)
        self.assertEqual(error.path, path)
        self.assertIn(text, error.reason)

    def test_offByDefault(self):
        config = parse({})
        self.assertIsNone(config.authentication)
        self.assertFalse(config.insecure)
        self.assertIsNone(parse({"authentications": {}}).authentication)

    def test_token(self):
        config = parse({"authentications": {"core": {
            "type": "token", "args": {"secret-file": "/etc/s",
                                      "secret-files": ["/etc/old"]}}}})
        self.assertEqual(config.authentication,
                         Authentication("token", ("/etc/s", "/etc/old")))
        self.assertEqual(config.authorization, Authorization())
        self.assertTrue(config.authorization.event)
        self.assertTrue(config.authorization.storage)

    def test_promiscuous(self):
        config = parse({"authentications": {"core": {
            "type": "promiscuous"}}})
        self.assertEqual(config.authentication.type, "promiscuous")

    def test_authorizations(self):
        config = parse({"authorizations": {
            "event": {"type": "disabled"},
            "storage": {"type": "storage", "args": {
                "backend": "core", "cache-duration": 5}}}})
        self.assertEqual(config.authorization, Authorization(
            event=False, storage=True, cacheSeconds=5.0))

    def test_errors(self):
        self.assertError({"authentications": {"core": {"type": "tvm"}}},
                         "authentications.core.type", "\"token\"")
        self.assertError({"authentications": {"main": {}}},
                         "authentications.main", "unknown key")
        self.assertError({"authentications": {"core": {"type": "token"}}},
                         "authentications.core.args.secret-file",
                         "required")
        self.assertError({"authentications": {"core": {
            "type": "token", "args": {"secret-file": 5}}}},
            "authentications.core.args.secret-file", "string")
        self.assertError({"authorizations": {"event": {"type": "x"}}},
                         "authorizations.event.type", "disabled")
        self.assertError({"authorizations": {"storage": {
            "args": {"backend": "other"}}}},
            "authorizations.storage.args.backend", "core")
        self.assertError({"insecure": "yes"}, "insecure", "true or false")
