# -*- test-case-name: tests.http.test_tap -*-
"""
Tests for L{cocaine.http.tap}: C{twistd cocaine-proxy}'s options and tree.
"""

from prometheus_client.parser import text_string_to_metric_families
from twisted.internet.testing import StringTransport
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from cocaine.http.edge import LocatorBackend
from cocaine.http.service import GatewayService
from cocaine.http.tap import Options, buildProxy
from cocaine.metrics.web import MetricsListener
from cocaine.testing import FakeReactor


class OptionsTests(SynchronousTestCase):

    def parse(self, *argv):
        options = Options()
        options.parseOptions(list(argv))
        return options

    def test_defaults(self):
        """
        One locator on 127.0.0.1:10053, port 8080 on loopback.
        """
        options = self.parse()
        self.assertEqual(options["locators"], [("127.0.0.1", 10053)])
        self.assertEqual(options["settings"].port, 8080)
        self.assertEqual(options["bind"], "127.0.0.1")

    def test_locators(self):
        """
        C{--locator} repeats; IPv6 in brackets.
        """
        options = self.parse("--locator", "10.0.0.1:1", "--locator",
                             "[::1]:2", "--port", "9000", "--timeouts",
                             '{"a": {"": 5}}', "--max-body", "10",
                             "--max-buffer", "4096", "--send-timeout", "5")
        self.assertEqual(options["locators"], [("10.0.0.1", 1),
                                               ("::1", 2)])
        self.assertEqual(options["settings"].port, 9000)
        self.assertEqual(options["settings"].maxBody, 10)
        self.assertEqual(options["settings"].timeouts, {"a": {"": 5.0}})
        self.assertEqual((options["settings"].maxBuffer,
                          options["settings"].sendTimeout), (4096, 5.0))

    def test_bad(self):
        """
        Bad values are usage errors naming the option.
        """
        for argv in (["--locator", "nohost"], ["--locator", "h:0"],
                     ["--timeouts", "{"], ["--max-connections", "0"],
                     ["--max-buffer", "0"], ["--send-timeout", "0"],
                     ["--metrics-port", "70000"], ["--metrics-port", "x"]):
            self.assertRaises(usage.UsageError, self.parse, *argv)
        error = self.assertRaises(usage.UsageError, self.parse,
                                  "--timeout", "0")
        self.assertIn("--timeout", str(error))

    def test_tree(self):
        """
        The proxy is the locators' backend and the gateway.
        """
        options = self.parse("--port", "0")
        root = buildProxy(FakeReactor(), options["locators"], "127.0.0.1",
                          options["settings"])
        kinds = [type(child) for child in root]
        self.assertEqual(kinds, [LocatorBackend, GatewayService])

    def test_metricsOff(self):
        """
        Without C{--metrics-port} there is no C{/metrics}.
        """
        self.assertIsNone(self.parse()["metrics-port"])

    def test_metrics(self):
        """
        With C{--metrics-port}, C{/metrics} is served on that port of the
        same address: the gateway's requests by code and the process's
        figures.
        """
        options = self.parse("--port", "0", "--metrics-port", "9100",
                             "--bind", "127.0.0.2")
        reactor = FakeReactor()
        root = buildProxy(reactor, options["locators"], options["bind"],
                          options["settings"],
                          metricsPort=options["metrics-port"])
        kinds = [type(child) for child in root]
        self.assertEqual(kinds, [LocatorBackend, MetricsListener,
                                 GatewayService])
        root.startService()
        self.addCleanup(root.stopService)
        listening = {port: (factory, interface) for port, factory, _,
                     interface in reactor.tcpServers}
        site, interface = listening[9100]
        self.assertEqual(interface, "127.0.0.2")
        gateway, _ = listening[0]
        protocol = gateway.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        # the gateway holds what it writes until the reactor's turn ends
        self.assertEqual(transport.value(), b"")
        reactor.advance(0)
        self.assertIn(b" 503 ", transport.value())

        request = DummyRequest([b"metrics"])
        body = site.getResourceFor(request).render(request)
        families = {family.name: family for family in
                    text_string_to_metric_families(body.decode("utf-8"))}
        [sample] = families["cocaine_http_requests"].samples
        self.assertEqual((sample.labels, sample.value),
                         ({"code": "503"}, 1.0))   # no locator answered
        self.assertGreater(
            families["cocaine_node_rss_bytes"].samples[0].value, 0)
        self.assertIn("cocaine_node_open_fds", families)

    def test_plugin(self):
        """
        twistd finds C{cocaine-proxy}.
        """
        from twisted.plugins.cocaine_plugin import proxy
        self.assertEqual(proxy.tapname, "cocaine-proxy")
        self.assertIs(proxy.options, Options)
