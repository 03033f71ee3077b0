# -*- test-case-name: tests.mesh.test_settings -*-
"""
Tests for L{cocaine.mesh.settings}: the bridge's C{mesh} settings are
refused before the node starts, naming the key and the value, the way the
parser refuses its own; the settings it accepts make the components'
L{DiscoveryOptions}.
"""

import json
import os

from twisted.trial.unittest import SynchronousTestCase

from cocaine.config import ConfigError, load
from cocaine.mesh.discovery import DiscoveryOptions
from cocaine.mesh.settings import DISCOVERY, SEGMENTATION, checkMesh
from cocaine.runtime import buildRuntime
from cocaine.testing import FakeReactor
from tests.test_runtime import keepCollectorCallbacks

PATH = "services.b.args.mesh"

_ALLOWED = ("address, broadcast, checkInterval, environment, helloInterval, "
            "helloReplyInterval, key, multicast, multicastTTL, namespace, "
            "nodeTimeout, port, secret, signatureWindow, signingKey, "
            "unicast, useHostNames")

#: C{(settings, refusal)}: the refusal after C{PATH + "."}.
REFUSALS = [
    ({"helloIntervall": 2},
     "helloIntervall: unknown key (allowed: {})".format(_ALLOWED)),
    ({"tls": True}, "tls: unknown key (allowed: {})".format(_ALLOWED)),
    ({"key": 5}, "key: must be a string or null, got 5"),
    ({"namespace": ["a"]}, "namespace: must be a string or null, got an "
     "array"),
    ({"environment": True}, "environment: must be a string or null, got "
     "true"),
    ({"port": "12345"}, 'port: must be an integer 1-65535, got "12345"'),
    ({"port": 0}, "port: must be an integer 1-65535, got 0"),
    ({"port": 70000}, "port: must be an integer 1-65535, got 70000"),
    ({"port": 12345.0}, "port: must be an integer 1-65535, got 12345.0"),
    ({"helloInterval": "2"},
     'helloInterval: must be a number of seconds > 0, got "2"'),
    ({"helloInterval": 0},
     "helloInterval: must be a number of seconds > 0, got 0"),
    ({"checkInterval": True},
     "checkInterval: must be a number of seconds > 0, got true"),
    ({"nodeTimeout": "5"},
     'nodeTimeout: must be a number of seconds > 0, got "5"'),
    ({"nodeTimeout": float("inf")},
     "nodeTimeout: must be a number of seconds > 0, got Infinity"),
    ({"helloReplyInterval": -0.1},
     "helloReplyInterval: must be a number of seconds >= 0, got -0.1"),
    ({"signatureWindow": None},
     "signatureWindow: must be a number of seconds > 0, got null"),
    ({"nodeTimeout": 3},
     "nodeTimeout: must be at least checkInterval (4.0), got 3"),
    ({"checkInterval": 10, "nodeTimeout": 6},
     "nodeTimeout: must be at least checkInterval (10), got 6"),
    ({"checkInterval": 6},
     "checkInterval: must be at most nodeTimeout (5.0), got 6"),
    ({"broadcast": "lan"}, 'broadcast: must be an IPv4 address, got "lan"'),
    ({"broadcast": 255}, "broadcast: must be an IPv4 address, got 255"),
    ({"address": "::1"}, 'address: must be an IPv4 address, got "::1"'),
    ({"multicast": "10.0.0.1"}, "multicast: must be an IPv4 multicast "
     'address (224.0.0.0/4), got "10.0.0.1"'),
    ({"multicastTTL": 256}, "multicastTTL: must be an integer 0-255, got 256"),
    ({"unicast": 5}, "unicast: must be a non-empty list of IPv4 addresses "
     "(or a comma-separated text of them), got 5"),
    ({"unicast": []}, "unicast: must be a non-empty list of IPv4 addresses "
     "(or a comma-separated text of them), got an array"),
    ({"unicast": ["10.0.0.5", "node-b"]},
     'unicast[1]: must be an IPv4 address, got "node-b"'),
    ({"unicast": "10.0.0.5, 10.0.0"},
     'unicast[1]: must be an IPv4 address, got "10.0.0"'),
    ({"useHostNames": "yes"}, 'useHostNames: must be true or false, got '
     '"yes"'),
]


class CheckMeshTests(SynchronousTestCase):
    """
    L{checkMesh} refuses what the components could not use with one line
    naming the key and the value.
    """

    def refusal(self, settings):
        return str(self.assertRaises(ConfigError, checkMesh, PATH, settings))

    def test_refusals(self):
        wrong = []
        for settings, expected in REFUSALS:
            got = self.refusal(settings)
            if got != PATH + "." + expected:
                wrong.append("{}: {}".format(settings, got))
        self.assertEqual(wrong, [])

    def test_notAMap(self):
        for value, shown in (([], "an array"), (None, "null"), ("k", '"k"')):
            self.assertEqual(self.refusal(value),
                             PATH + ": must be a map, got " + shown)

    def test_oneReach(self):
        """
        At most one of C{broadcast}, C{multicast} and C{unicast}.
        """
        self.assertEqual(
            self.refusal({"broadcast": "255.255.255.255",
                          "unicast": ["10.0.0.5"]}),
            PATH + ": choose one of broadcast, multicast and unicast, got "
            "broadcast and unicast")

    def test_secretsNotShown(self):
        """
        A C{secret} or C{signingKey} that cannot be used is refused without
        being shown, not even one of the wrong type.
        """
        for key in ("secret", "signingKey"):
            for bad in ("", 31415926535897932, ["s3cret"], True):
                self.assertEqual(self.refusal({key: bad}),
                                 "{}.{}: must be a non-empty string".format(
                                     PATH, key))

    def test_accepted(self):
        """
        What it accepts, the defaults and every key at a usable value,
        makes the components' options.
        """
        for settings in (
                {},
                {"key": None, "namespace": None, "environment": None},
                {"key": "k", "namespace": "n", "environment": "e",
                 "port": 12346, "helloInterval": 0.5, "checkInterval": 1,
                 "nodeTimeout": 1, "multicast": "239.1.2.3",
                 "multicastTTL": 0, "address": "0.0.0.0",
                 "secret": "s3cret", "useHostNames": True,
                 "helloReplyInterval": 0, "signingKey": "k3y",
                 "signatureWindow": 60},
                {"broadcast": "255.255.255.255", "unicast": None},
                {"unicast": "10.0.0.5, 10.0.0.6"},
                {"unicast": ["10.0.0.5"]}):
            checkMesh(PATH, settings)
            DiscoveryOptions(**{k: v for k, v in settings.items()
                                if k not in SEGMENTATION})

    def test_everyDiscoveryOption(self):
        """
        The discovery options it knows are those of L{DiscoveryOptions}.
        """
        code = DiscoveryOptions.__init__.__code__
        self.assertEqual(
            sorted(DISCOVERY),
            sorted(code.co_varnames[1:code.co_argcount]))


class StartupTests(SynchronousTestCase):
    """
    A node whose bridge has C{mesh} settings it cannot use is refused
    before anything starts, in one line ending with the file.
    """

    def setUp(self):
        keepCollectorCallbacks(self)

    def test_refusedNamingTheFile(self):
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        path = os.path.join(directory, "cocaine.json")
        with open(path, "w") as f:
            json.dump({
                "paths": {"data": os.path.join(directory, "data"),
                          "spool": os.path.join(directory, "spool"),
                          "runtime": os.path.join(directory, "run")},
                "network": {"locator": 0},
                "storages": {"core": {"type": "memory"}},
                "services": {"logging": {"type": "logging"},
                             "mesh_bridge": {"type": "mesh_bridge", "args": {
                                 "mesh": {"helloInterval": "2"}}}}}, f)
        reactor = FakeReactor()
        error = self.assertRaises(ConfigError, buildRuntime, reactor,
                                  load(path))
        self.assertEqual(
            str(error), 'services.mesh_bridge.args.mesh.helloInterval: must '
            'be a number of seconds > 0, got "2" (in {})'.format(path))
        self.assertEqual(reactor.tcpServers, [])
