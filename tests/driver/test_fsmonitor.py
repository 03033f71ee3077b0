"""
The filesystem-monitor driver with real inotify on a temporary directory.
"""

import os

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from cocaine.driver.base import DriverContext
from cocaine.errors import DriverError
from cocaine.driver.fsmonitor import DEBOUNCE, FilesystemMonitor
from cocaine.plugins import loadPlugins
from cocaine.protocol.framing import unpackValue
from cocaine.testing import FakeEngine


class FilesystemMonitorTests(TestCase):

    def setUp(self):
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.engine = FakeEngine()
        self.context = DriverContext(reactor, "app", self.engine)

    def monitor(self, **args):
        driver = FilesystemMonitor(self.context, "fs", dict(
            path=self.directory, **args))
        driver.start()
        self.addCleanup(driver.stop)
        return driver

    async def settle(self):
        await deferLater(reactor, DEBOUNCE * 4)

    def events(self):
        result = []
        for session in self.engine.sessions:
            body = unpackValue(session.request[0])
            result.append((os.path.basename(body[b"path"].decode()),
                           body[b"event"].decode(), body[b"size"]))
        return result

    def write(self, name, data):
        with open(os.path.join(self.directory, name), "wb") as f:
            f.write(data)

    async def test_createModifyDelete(self):
        driver = self.monitor()
        self.write("a.txt", b"one")
        await self.settle()
        self.write("a.txt", b"longer")
        await self.settle()
        os.unlink(os.path.join(self.directory, "a.txt"))
        await self.settle()
        self.assertEqual(self.events(), [("a.txt", "create", 3),
                                         ("a.txt", "modify", 6),
                                         ("a.txt", "delete", None)])
        self.assertEqual(driver.info()["jobs"], 3)

    async def test_atomicWriteReportedOnce(self):
        """
        A temporary file renamed over the target: one job, for the target.
        """
        self.write("config.json", b"{}")
        self.monitor()
        temporary = os.path.join(self.directory, ".config.json.tmp")
        with open(temporary, "wb") as f:
            f.write(b'{"new": true}')
        os.rename(temporary, os.path.join(self.directory, "config.json"))
        await self.settle()
        self.assertEqual(self.events(), [("config.json", "moved-in", 13)])

    async def test_writtenInPiecesReportedOnce(self):
        self.monitor()
        with open(os.path.join(self.directory, "log"), "wb") as f:
            for _ in range(5):
                f.write(b"x" * 100)
                f.flush()
        await self.settle()
        self.assertEqual(self.events(), [("log", "create", 500)])

    async def test_pattern(self):
        self.monitor(pattern="*.csv")
        self.write("skip.txt", b"-")
        self.write("take.csv", b"a,b")
        await self.settle()
        self.assertEqual([e[0] for e in self.events()], ["take.csv"])

    async def test_recursive(self):
        os.makedirs(os.path.join(self.directory, "sub"))
        self.monitor(recursive=True)
        self.write(os.path.join("sub", "deep.txt"), b"d")
        await self.settle()
        self.assertEqual([e[:2] for e in self.events()],
                         [("deep.txt", "create")])

    def test_missingPath(self):
        with self.assertRaises(DriverError) as caught:
            FilesystemMonitor(self.context, "fs", {
                "path": os.path.join(self.directory, "nope")})
        self.assertIn("does not exist", caught.exception.message)

    def test_plugin(self):
        """
        The C{filesystem-monitor} plugin builds a L{FilesystemMonitor} of
        the directory.
        """
        plugin = loadPlugins().drivers["filesystem-monitor"]
        plugin.validate("drivers.fs", {"path": self.directory})
        driver = plugin.makeDriver(self.context, "fs",
                                   {"path": self.directory})
        self.assertIsInstance(driver, FilesystemMonitor)
        self.assertEqual(driver.info()["type"], "filesystem-monitor")

    def test_refusalsNameValue(self):
        """
        The plugin names a refused argument with the value refused.
        """
        plugin = loadPlugins().drivers["filesystem-monitor"]
        for args, message in (
                ({"path": 5}, "drivers.fs.path: must be a directory, got 5"),
                ({"path": self.directory, "recursive": "yes"},
                 "drivers.fs.recursive: must be true or false, got 'yes'"),
                ({"path": self.directory, "pattern": ""},
                 "drivers.fs.pattern: must be a glob, got ''")):
            with self.assertRaises(DriverError) as caught:
                plugin.validate("drivers.fs", args)
            self.assertEqual(caught.exception.message, message)
