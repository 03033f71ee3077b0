# -*- test-case-name: tests.test_tap -*-
"""
Tests for L{cocaine.tap}: C{twistd cocaine}'s options and the tree its
C{makeService} builds, in process on a L{FakeReactor} (the real twistd
runs in L{tests.integration.test_node}).
"""

import io
import json
import os
import sys

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

import cocaine.reactor
import cocaine.runtime
from cocaine import tap
from cocaine.config import DEFAULTS, parse
from cocaine.runtime import CocaineService
from cocaine.testing import FakeReactor
from tests.test_runtime import keepCollectorCallbacks


class OptionsTests(SynchronousTestCase):

    def parse(self, *argv):
        options = tap.Options()
        options.parseOptions(list(argv))
        return options

    def test_defaults(self):
        """
        Without C{--config} there is no file: the embedded defaults serve.
        """
        self.assertIsNone(self.parse()["config"])

    def test_config(self):
        """
        C{--config FILE}, or C{-c FILE}.
        """
        self.assertEqual(self.parse("--config", "/etc/c.json")["config"],
                         "/etc/c.json")
        self.assertEqual(self.parse("-c", "c.json")["config"], "c.json")

    def test_usageErrors(self):
        """
        Arguments and unknown options are usage errors.
        """
        for argv in (["c.json"], ["--port", "1"], ["--config"]):
            self.assertRaises(usage.UsageError, self.parse, *argv)

    def test_installsTheReactor(self):
        """
        Read options install the node's reactor (unless one is installed
        already): C{twist} installs its default once they are read.
        """
        installs = []
        self.patch(cocaine.reactor, "installDefault",
                   lambda: installs.append("install"))
        self.parse("--config", "c.json")
        self.assertEqual(installs, ["install"])

    def test_plugin(self):
        """
        twistd finds C{cocaine}, which names this module (imported only
        when run).
        """
        from twisted.plugins.cocaine_plugin import cocaine
        self.assertEqual((cocaine.tapname, cocaine.module),
                         ("cocaine", "cocaine.tap"))
        self.assertIs(cocaine.options, tap.Options)


class MakeServiceTests(SynchronousTestCase):
    """
    L{tap.makeService} installs the reactor, builds the tree from the file
    or the defaults, and ends the process with one line and status 2 on a
    configuration that cannot be used.
    """

    def setUp(self):
        keepCollectorCallbacks(self)
        self.events = []
        self.reactor = FakeReactor()

        def installDefault():
            self.events.append("install")
            return self.reactor
        self.patch(cocaine.reactor, "installDefault", installDefault)
        self.stderr = io.StringIO()
        self.patch(sys, "stderr", self.stderr)
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)

    def recordBuilds(self):
        """
        Replace L{cocaine.runtime.buildRuntime} with one that records its
        arguments and returns a plain object.
        """
        self.built = []

        class Root:
            pass

        def buildRuntime(reactor, config):
            self.events.append("build")
            self.built.append((reactor, config))
            return Root()
        self.patch(cocaine.runtime, "buildRuntime", buildRuntime)

    def options(self, config=None):
        options = tap.Options()
        options.parseOptions([] if config is None else ["--config", config])
        return options

    def writeConfig(self, value, name="cocaine.json"):
        path = os.path.join(self.directory, name)
        with open(path, "w") as f:
            f.write(value if isinstance(value, str) else json.dumps(value))
        return path

    def goodConfig(self):
        return {"paths": {"data": os.path.join(self.directory, "data"),
                          "spool": os.path.join(self.directory, "spool"),
                          "runtime": os.path.join(self.directory, "run")},
                "network": {"locator": 0},
                "storages": {"core": {"type": "memory"}},
                "services": {"logging": {"type": "logging"},
                             "storage": {"type": "storage"}}}

    def assertExits(self, options, *fragments):
        """
        C{makeService(options)} ends the process with status 2 and one
        line on standard error holding each of C{fragments}.

        @return: the line.
        """
        exit = self.assertRaises(SystemExit, tap.makeService, options)
        self.assertEqual(exit.code, 2)
        error = self.stderr.getvalue()
        self.assertTrue(error.endswith("\n"), error)
        [line] = error.splitlines()
        self.assertTrue(line.startswith("cocaine: config error: "), line)
        for fragment in fragments:
            self.assertIn(fragment, line)
        return line

    def test_defaults(self):
        """
        Without a file the embedded defaults are built, on the reactor
        installed first (when the options were read, and again by
        C{makeService} when twistd had not).
        """
        self.recordBuilds()
        root = tap.makeService(self.options())
        self.assertEqual(self.events, ["install", "install", "build"])
        [(reactor, config)] = self.built
        self.assertIs(reactor, self.reactor)
        self.assertEqual(config, parse(DEFAULTS))
        self.assertTrue(root.settleHeap)

    def test_file(self):
        """
        With C{--config}, the file's node: its tree is built and not
        started, nothing listens, and the heap is settled once it starts
        (the daemon's own objects leave the collector's way).
        """
        path = self.writeConfig(self.goodConfig())
        root = tap.makeService(self.options(path))
        self.assertIsInstance(root, CocaineService)
        self.assertEqual(root.context.config.source, path)
        self.assertIs(root.context.reactor, self.reactor)
        self.assertIn("storage", [child.name for child in root])
        self.assertFalse(root.running)
        self.assertEqual((self.reactor.tcpServers, self.reactor.events),
                         ([], []))
        self.assertTrue(root.settleHeap)
        self.assertEqual(self.stderr.getvalue(), "")

    def test_missingFile(self):
        """
        A file that cannot be read: one line naming it and why; nothing
        is built.
        """
        self.recordBuilds()
        missing = os.path.join(self.directory, "nope.json")
        self.assertExits(self.options(missing), missing, "No such file")
        self.assertEqual(self.built, [])

    def test_badJson(self):
        path = self.writeConfig('{"network": ')
        self.assertExits(self.options(path), path, "not valid JSON")

    def test_badValue(self):
        """
        A value the parser refuses: its key path, the reason and the file.
        """
        config = self.goodConfig()
        config["network"] = {"locator": "x"}
        path = self.writeConfig(config)
        self.assertExits(self.options(path), "network.locator", path)

    def test_refusedWhileBuilding(self):
        """
        A configuration refused while the tree is built (a plugin's
        arguments) ends the process the same way, naming the file as a
        parse error does.
        """
        config = self.goodConfig()
        config["services"]["storage"] = {"type": "storage",
                                         "args": {"backend": "x"}}
        path = self.writeConfig(config)
        line = self.assertExits(self.options(path))
        self.assertEqual(line, 'cocaine: config error: '
                         'services.storage.args.backend: no storage named '
                         '"x" (in {})'.format(path))
        self.assertEqual(self.reactor.tcpServers, [])

    def test_pluginRefusesValue(self):
        """
        A storage plugin refusing a value of its args: the key, the value
        and the file.
        """
        config = self.goodConfig()
        config["storages"]["core"] = {"type": "files",
                                      "args": {"fsync": "yes"}}
        path = self.writeConfig(config)
        line = self.assertExits(self.options(path))
        self.assertEqual(line, 'cocaine: config error: '
                         'storages.core.args.fsync: must be true or false, '
                         'got "yes" (in {})'.format(path))

    def test_unknownPlugin(self):
        config = self.goodConfig()
        config["services"]["web"] = {"type": "teleport"}
        path = self.writeConfig(config)
        line = self.assertExits(self.options(path), "services.web.type",
                                '"teleport"')
        self.assertTrue(line.endswith(" (in {})".format(path)), line)

    def test_locatorName(self):
        """
        A service named C{locator}: the node's own name, in the file.
        """
        config = self.goodConfig()
        config["services"]["locator"] = {"type": "storage"}
        path = self.writeConfig(config)
        line = self.assertExits(self.options(path), "services.locator")
        self.assertTrue(line.endswith(" (in {})".format(path)), line)

    def test_dataDirectoryUnusable(self):
        """
        A data directory that cannot keep the node's uuid (here a file
        stands where it should be): its key, the directory and the file,
        not a traceback.
        """
        config = self.goodConfig()
        data = self.writeConfig("", name="not-a-directory")
        config["paths"]["data"] = data
        path = self.writeConfig(config)
        line = self.assertExits(self.options(path))
        self.assertTrue(line.startswith(
            "cocaine: config error: paths.data: cannot keep the node's "
            "uuid in {}: ".format(data)), line)
        self.assertTrue(line.endswith(" (in {})".format(path)), line)
