"""
Tests for the management service and its plugin: the REP socket bound in
C{startService}, served with real ZeroMQ, closed in C{stopService}.
"""

import copy
import json
import socket

import zmq
from twisted.trial.unittest import SynchronousTestCase, TestCase

from cocaine.config import DEFAULTS, ConfigError, parse
from cocaine.management.service import ManagementService
from cocaine.errors import StartupError
from cocaine.plugins import checkConfig, loadPlugins
from cocaine.storage.memory import MemoryStorage
from cocaine.zeromq._factory import shared
from tests.management._client import Peer, ipcEndpoint
from cocaine.testing import MemoryNode


class FakeContext:
    def __init__(self):
        self.node = MemoryNode()
        self.uuid = "node-uuid"
        self.storages = {"core": MemoryStorage()}

    def storage(self, name):
        return self.storages[name]


class ServiceTests(TestCase):

    def setUp(self):
        self.context = FakeContext()

    def tearDown(self):
        self.assertIsNone(shared.factory)

    def start(self, endpoint, **kwargs):
        service = ManagementService(self.context, endpoint, **kwargs)
        service.startService()
        self.addCleanup(service.stopService)
        return service

    async def test_servesRequests(self):
        endpoint = ipcEndpoint(self)
        service = self.start(endpoint)
        self.assertEqual(shared.users, 1)
        client = Peer(self, zmq.REQ, endpoint)
        reply = await client.request(b'{"version": 2, "action": "info"}')
        self.assertEqual(json.loads(reply[0]), {
            "uuid": "node-uuid", "hostname": socket.gethostname(),
            "apps": {}})
        reply = await client.request(b"{not json")
        self.assertEqual(list(json.loads(reply[0])), ["error"])
        self.assertEqual(service.info(), ({
            "endpoint": endpoint, "require-signature": False,
            "requests": 2, "errors": 1},))

    async def test_requireSignature(self):
        endpoint = ipcEndpoint(self)
        self.start(endpoint, requireSignature=True)
        client = Peer(self, zmq.REQ, endpoint)
        reply = await client.request(b'{"version": 2, "action": "info"}')
        self.assertEqual(json.loads(reply[0]), {
            "error": "signed requests (version 3) are required"})

    async def test_maxMessage(self):
        """
        A request above C{max-message} bytes is dropped by ZeroMQ unread
        (MAXMSGSIZE: its sender is disconnected) and never reaches the
        plane; smaller ones from others are served.
        """
        endpoint = ipcEndpoint(self)
        service = self.start(endpoint, maxMessage=4096)
        big = Peer(self, zmq.DEALER, endpoint)
        big.send(b"", b'{"version": 2, "action": "info", "pad": "' +
                 b"x" * 8192 + b'"}')
        for n in (1, 2):
            client = Peer(self, zmq.REQ, endpoint)
            reply = await client.request(b'{"version": 2, "action": "info"}')
            self.assertIn("uuid", json.loads(reply[0]))
            self.assertEqual(service.plane.requests, n)

    def test_stopCloses(self):
        service = ManagementService(self.context, "inproc://management")
        service.startService()
        self.assertEqual(shared.users, 1)
        service.stopService()
        self.assertIsNone(shared.factory)
        self.assertFalse(service.running)

    def test_cannotBind(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        self.addCleanup(taken.close)
        endpoint = "tcp://127.0.0.1:{}".format(taken.getsockname()[1])
        service = ManagementService(self.context, endpoint)
        with self.assertRaises(StartupError) as caught:
            service.startService()
        self.assertEqual(str(caught.exception),
                         "management: cannot bind {}: Address already in "
                         "use".format(endpoint))
        self.assertFalse(service.running)


class PluginTests(SynchronousTestCase):

    def check(self, args, node=True):
        value = copy.deepcopy(DEFAULTS)
        services = value.setdefault("services", {})
        if not node:
            services.pop("node", None)
        else:
            services["node"] = {"type": "node"}
        services["mgmt"] = {"type": "management", "args": args}
        checkConfig(parse(value), loadPlugins())

    def error(self, args, node=True):
        with self.assertRaises(ConfigError) as caught:
            self.check(args, node)
        return str(caught.exception)

    def test_valid(self):
        self.check({})
        self.check({"endpoint": "ipc:///tmp/m", "require-signature": True,
                    "max-message": 4096, "replay-window": 5})

    def test_errors(self):
        self.assertEqual(self.error({"port": 1}),
                         "services.mgmt.args.port: unknown key (allowed: "
                         "endpoint, max-message, replay-window, "
                         "require-signature)")
        for bad, shown in ((1023, "1023"), (1024 ** 3 + 1, "1073741825"),
                           ("1M", '"1M"'), (True, "true"),
                           (2048.0, "2048.0")):
            self.assertEqual(self.error({"max-message": bad}),
                             "services.mgmt.args.max-message: must be a "
                             "number of bytes from 1024 to 1073741824, "
                             "got " + shown)
        for bad, shown in ((0, "0"), (3601, "3601"), ("30", '"30"'),
                           (True, "true")):
            self.assertEqual(self.error({"replay-window": bad}),
                             "services.mgmt.args.replay-window: must be a "
                             "number of seconds from 1 to 3600, got " + shown)
        self.assertIn("services.mgmt.args.endpoint: 'tcp://*:5000': write "
                      "the address out",
                      self.error({"endpoint": "tcp://*:5000"}))
        self.assertEqual(self.error({"require-signature": "yes"}),
                         "services.mgmt.args.require-signature: must be true "
                         'or false, got "yes"')
        self.assertIn("needs the node service", self.error({}, node=False))
