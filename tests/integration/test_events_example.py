"""
The events example (examples/apps/events): an app fed by a timer, a
filesystem monitor and a ZeroMQ server, on a real node.
"""

import json
import os
import shutil
import tempfile

import zmq
from twisted.internet.threads import deferToThread

from tests.integration.node import ROOT
from tests.integration.test_apps import _AppTestCase

EVENTS = os.path.join(ROOT, "examples", "apps", "events")


class EventsExampleTests(_AppTestCase):

    def nodeConfig(self):
        self.app = os.path.abspath(self.mktemp())
        shutil.copytree(EVENTS, self.app)
        with open(os.path.join(self.app, "manifest.json")) as f:
            manifest = json.load(f)
        manifest["drivers"]["tick"]["interval"] = 100
        # trial's directories are too deep for an ipc path (107 bytes)
        short = tempfile.mkdtemp(prefix="cocaine-")
        self.addCleanup(shutil.rmtree, short, True)
        self.endpoint = "ipc://" + os.path.join(short, "upper.ipc")
        manifest["drivers"]["upper"]["endpoint"] = self.endpoint
        with open(os.path.join(self.app, "manifest.json"), "w") as f:
            json.dump(manifest, f)
        self.local = {"events": {"path": self.app, "profile": {
            "pool-limit": 1}}}
        return _AppTestCase.nodeConfig(self)

    async def stats(self):
        return json.loads(b"".join(await self.call(self.service("events"),
                                                   "stats")))

    async def test_driversFeedTheApp(self):
        async def ticked():
            return (await self.stats())["ticks"] >= 3
        await self.waitFor(ticked)

        with open(os.path.join(self.app, "inbox", "note.txt"), "w") as f:
            f.write("hello")
        with open(os.path.join(self.app, "inbox", "ignored.bin"), "w") as f:
            f.write("not a .txt")

        async def filed():
            return (await self.stats())["files"]
        files = await self.waitFor(filed)
        self.assertEqual(files, [[os.path.join(self.app, "inbox",
                                               "note.txt"), "create", 5]])

        def request():
            context = zmq.Context.instance()
            socket = context.socket(zmq.REQ)
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.RCVTIMEO, 10000)
            socket.connect(self.endpoint)
            try:
                socket.send(b"shout")
                return socket.recv_multipart()
            finally:
                socket.close()
        self.assertEqual(await deferToThread(request), [b"SHOUT"])
        self.assertEqual((await self.stats())["upper"], 1)
        drivers = (await self.service("node").info("events"))["drivers"]
        self.assertEqual(sorted(drivers), ["inbox", "tick", "upper"])
        self.assertEqual(drivers["inbox"]["jobs"], 1)
        self.assertEqual(drivers["upper"]["errors"], 0)
