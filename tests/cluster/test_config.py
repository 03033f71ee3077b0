"""
Tests for the C{cluster} section of L{cocaine.config}.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.config import DEFAULTS, Cluster, ConfigError, parse


def cluster(**section):
    value = dict(DEFAULTS)
    value["cluster"] = section
    return parse(value).cluster


class ClusterConfigTests(SynchronousTestCase):
    def assertError(self, section, path, reason):
        error = self.assertRaises(ConfigError, cluster, **section)
        self.assertEqual((error.path, error.reason), (path, reason))

    def test_defaults(self):
        """
        Without the section discovery is off; the defaults are loopback
        safe: interface 127.0.0.1, TTL 1.
        """
        self.assertEqual(parse(DEFAULTS).cluster, Cluster())
        self.assertEqual(Cluster(), Cluster(
            discovery=None, group="239.0.100.53", port=10053, interval=5.0,
            interface="127.0.0.1", ttl=1, loopback=True, peers=(),
            secret=None, gateway="load-aware", bias=0.1, replayWindow=30.0,
            maxUnlinked=64, maxReportApps=256, backend="core", lease=5))
        self.assertEqual(cluster(discovery="multicast").interface,
                         "127.0.0.1")
        self.assertEqual(cluster(discovery="multicast",
                                 interface=None).interface, "127.0.0.1")

    def test_full(self):
        self.assertEqual(cluster(
            discovery="static", group="239.1.2.3", port=5000, interval=1,
            interface="10.0.0.1", ttl=3, loopback=False,
            peers=[["127.0.0.1", 1], ["host.example", 2]], secret="s",
            gateway="adhoc", bias=0),
            Cluster("static", "239.1.2.3", 5000, 1.0, "10.0.0.1", 3, False,
                    (("127.0.0.1", 1), ("host.example", 2)), "s", "adhoc",
                    0.0))

    def test_errors(self):
        """
        Every bad value is refused naming its key path.
        """
        self.assertError({"discovery": "udp"}, "cluster.discovery",
                         'must be "multicast", "static", "unicorn" or '
                         'null, got "udp"')
        self.assertError({"group": "10.0.0.1"}, "cluster.group",
                         'must be an IPv4 multicast address (224.0.0.0/4), '
                         'got "10.0.0.1"')
        self.assertError({"group": "x"}, "cluster.group",
                         'must be an IP address, got "x"')
        self.assertError({"port": 0}, "cluster.port",
                         "must be a port number 1-65535, got 0")
        self.assertError({"port": "1"}, "cluster.port",
                         'must be a port number 0-65535, got "1"')
        for bad in (0, -1, "5", True, 3601):
            error = self.assertRaises(ConfigError, cluster, interval=bad)
            self.assertEqual(error.path, "cluster.interval")
        self.assertError({"interface": "::1"}, "cluster.interface",
                         'must be an IPv4 address, got "::1"')
        self.assertError({"ttl": 256}, "cluster.ttl",
                         "must be an integer 0-255, got 256")
        self.assertError({"loopback": 1}, "cluster.loopback",
                         "must be true or false, got 1")
        self.assertError({"peers": {}}, "cluster.peers",
                         "must be an array of [host, port], got a map")
        self.assertError({"peers": [["h"]]}, "cluster.peers[0]",
                         "must be [host, port], got an array")
        self.assertError({"peers": [["h", 1], ["", 1]]},
                         "cluster.peers[1][0]",
                         'must be a non-empty string, got ""')
        self.assertError({"peers": [["h", 0]]}, "cluster.peers[0][1]",
                         "must be a port number 1-65535, got 0")
        self.assertError({"discovery": "static"}, "cluster.peers",
                         "static discovery needs at least one peer "
                         "[host, port]")
        # a secret is never shown, not even a mistyped one
        for bad in ("", 31415926535897932, ["s3cret"]):
            self.assertError({"secret": bad}, "cluster.secret",
                             "must be a non-empty string")
        self.assertError({"gateway": "ipvs"}, "cluster.gateway",
                         'must be "load-aware" or "adhoc", got "ipvs"')
        for bad in (-0.1, "1", True, 101):
            error = self.assertRaises(ConfigError, cluster, bias=bad)
            self.assertEqual(error.path, "cluster.bias")
        self.assertError({"gateways": "adhoc"}, "cluster.gateways",
                         "unknown key (allowed: backend, bias, discovery, "
                         "gateway, group, interface, interval, lease, "
                         "loopback, max-report-apps, max-unlinked, peers, "
                         "port, replay-window, secret, ttl)")
        for bad in (0, 0.5, "30", True, 3601):
            error = self.assertRaises(ConfigError, cluster,
                                      **{"replay-window": bad})
            self.assertEqual(error.path, "cluster.replay-window")
        for key in ("max-unlinked", "max-report-apps"):
            for bad in (0, -1, 1.5, "8", True, 100001):
                error = self.assertRaises(ConfigError, cluster,
                                          **{key: bad})
                self.assertEqual(error.path, "cluster." + key)
        error = self.assertRaises(ConfigError, parse, {"cluster": []})
        self.assertEqual(error.path, "cluster")


class UnicornDiscoveryConfigTests(SynchronousTestCase):
    """
    C{"cluster": {"discovery": "unicorn", "backend": ..., "lease": ...}}.
    """

    def parse(self, section, unicorns=None):
        value = dict(DEFAULTS)
        value["cluster"] = section
        if unicorns is not None:
            value["unicorns"] = unicorns
        return parse(value).cluster

    def test_shape(self):
        """
        The issue's shape: C{backend} names a C{unicorns} entry, C{lease}
        is the registration's TTL.
        """
        found = self.parse(
            {"discovery": "unicorn", "backend": "core", "lease": 5},
            {"core": {"type": "memory"}})
        self.assertEqual((found.discovery, found.backend, found.lease),
                         ("unicorn", "core", 5))
        found = self.parse({"discovery": "unicorn"},
                           {"core": {"type": "memory"}})
        self.assertEqual((found.backend, found.lease), ("core", 5))

    def test_backendMustExist(self):
        """
        A C{backend} that names no C{unicorns} entry is refused, saying
        which there are.
        """
        error = self.assertRaises(
            ConfigError, self.parse,
            {"discovery": "unicorn", "backend": "zk"},
            {"core": {"type": "memory"}})
        self.assertEqual((error.path, error.reason), (
            "cluster.backend", 'no unicorn named "zk" (configured: core)'))
        error = self.assertRaises(ConfigError, self.parse,
                                  {"discovery": "unicorn"})
        self.assertEqual((error.path, error.reason), (
            "cluster.backend", 'no unicorn named "core" (configured: none; '
            'add a "unicorns" section)'))
        # not checked unless unicorn discovery uses it
        self.assertEqual(self.parse({"backend": "zk"}).backend, "zk")

    def test_badValues(self):
        """
        C{lease} is a whole number of seconds 1-3600; C{backend} a
        non-empty string.
        """
        unicorns = {"core": {"type": "memory"}}
        for bad in (0, -1, 1.5, "5", True, 3601, None):
            error = self.assertRaises(
                ConfigError, self.parse,
                {"discovery": "unicorn", "lease": bad}, unicorns)
            self.assertEqual(error.path, "cluster.lease")
        error = self.assertRaises(
            ConfigError, self.parse, {"discovery": "unicorn", "backend": ""},
            unicorns)
        self.assertEqual(error.path, "cluster.backend")
