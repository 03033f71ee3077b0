# -*- test-case-name: tests.http.test_tap -*-
"""
Tests for L{cocaine.http.tap}: C{twistd cocaine-proxy}'s options and tree.
"""

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from cocaine.http.edge import LocatorBackend
from cocaine.http.service import GatewayService
from cocaine.http.tap import Options, buildProxy
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
                             '{"a": {"": 5}}', "--max-body", "10")
        self.assertEqual(options["locators"], [("10.0.0.1", 1),
                                               ("::1", 2)])
        self.assertEqual(options["settings"].port, 9000)
        self.assertEqual(options["settings"].maxBody, 10)
        self.assertEqual(options["settings"].timeouts, {"a": {"": 5.0}})

    def test_bad(self):
        """
        Bad values are usage errors naming the option.
        """
        for argv in (["--locator", "nohost"], ["--locator", "h:0"],
                     ["--timeouts", "{"], ["--max-connections", "0"]):
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

    def test_plugin(self):
        """
        twistd finds C{cocaine-proxy}.
        """
        from twisted.plugins.cocaine_plugin import proxy
        self.assertEqual(proxy.tapname, "cocaine-proxy")
        self.assertIs(proxy.options, Options)
