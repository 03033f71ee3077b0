"""
Faults on a real node (issue 6, "Faults and soak"): the node SIGKILLed while
clients write to storage, and workers SIGKILLed and SIGSTOPped at random
under load. Bounded counts; the long versions are C{python -m bench.soak
--chaos} (20,000 requests).
"""

import os
import random
import signal

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import deferLater

from bench import soak
from cocaine.client import Locator, Service
from cocaine.client.deploy import upload
from cocaine.errors import CocaineError
from tests.integration.test_apps import ECHO, _AppTestCase

#: keys per storage client, and clients
KEYS, CLIENTS = 60, 4
COLLECTION = "faults"
#: requests of the worker chaos load (bench.soak --chaos does 20,000)
CHAOS_REQUESTS = int(os.environ.get("COCAINE_CHAOS_REQUESTS", "2000"))


def value(key, version):
    """
    The value of C{key} at C{version}: derived from both, of varied size
    (some past the storage's 1 MiB thread threshold).
    """
    seed = sum(key.encode())
    size = (seed * 37 + version * 101) % 4000 + 1
    if seed % 17 == 0:
        size += 1024 * 1024 + 3
    stamp = "{}@{}|".format(key, version).encode()
    return (stamp * (size // len(stamp) + 1))[:size]


class NodeKilledWhileWriting(_AppTestCase):
    """
    SIGKILL of the node with storage writes in flight.
    """

    timeout = 90

    async def test_acknowledgedWritesSurvive(self):
        storage = self.service("storage")
        await upload(storage, "echo", path=ECHO,
                     profile={"pool-limit": 2}, profileName="small")
        await self.service("node").start_app("echo", "small")
        # every write, and the versions acknowledged, per key
        written = {}
        acked = {}
        total = [0]
        clients = []

        async def client(index):
            service = Service("storage", self.locator, timeout=20)
            clients.append(service)
            try:
                for n in range(KEYS):
                    key = "c{}-k{}".format(index, n)
                    for version in (0, 1):
                        written.setdefault(key, []).append(
                            value(key, version))
                        await service.write(COLLECTION, key,
                                            value(key, version), ["fault"])
                        acked[key] = version
                        total[0] += 1
            except Exception:
                return  # the node is gone: later writes are not acked

        async def killer():
            for _ in range(20000):
                if total[0] >= CLIENTS * KEYS // 2:
                    break
                await deferLater(reactor, 0.002)
            self.node.process.kill()

        runs = [Deferred.fromCoroutine(client(i)) for i in range(CLIENTS)]
        await Deferred.fromCoroutine(killer())
        await gatherResults(runs)
        for service in clients:
            await service.disconnect()
        self.node.process.wait()
        self.assertEqual(self.node.process.returncode, -signal.SIGKILL)
        self.assertGreater(len(acked), 0)
        unacked = sum(len(v) for v in written.values()) - total[0]
        self.assertGreater(unacked, 0, "the kill came after every write")
        await self.locator.disconnect()
        self.node.start()
        self.locator = Locator(reactor, [("127.0.0.1", self.node.port)],
                               timeout=20)
        self.addCleanup(self.locator.disconnect)
        storage = self.service("storage")
        # every acknowledged write reads back exactly (or a later version
        # whose write was sent but not acknowledged)
        for key, version in acked.items():
            blob = await storage.read(COLLECTION, key)
            self.assertIn(blob, written[key][version:], key)
        # no file of the collection holds a partial value
        root = os.path.join(self.node.directory, "var", "data", "storage")
        directory = os.path.join(root, COLLECTION)
        names = os.listdir(directory)
        self.assertTrue(set(acked) <= set(names))
        for name in names:
            with open(os.path.join(directory, name), "rb") as f:
                self.assertIn(f.read(), written[name], name)
        # temporary files may be left over, but are not keys
        leftovers = os.listdir(os.path.join(root, ".tmp"))
        keys = set(await storage.find(COLLECTION, ["fault"]))
        self.assertTrue(set(acked) <= keys)
        self.assertFalse(keys & set(leftovers))
        for name in leftovers[:20]:
            with self.assertRaises(CocaineError):
                await storage.read(COLLECTION, name)
            with self.assertRaises(CocaineError):
                await storage.read(".tmp", name)
        # the app of the runlist is running again
        self.assertEqual(await self.service("node").list(), ["echo"])
        self.assertEqual(await self.call(self.service("echo"), "ping"),
                         [b"pong"])


class WorkersKilledUnderLoad(_AppTestCase):
    """
    Workers SIGKILLed and SIGSTOPped at random during a load of
    C{CHAOS_REQUESTS} requests, the heartbeat timeout 2 s.
    """

    timeout = 120

    def nodeConfig(self):
        return soak.nodeConfig(soak.makeApp(os.path.abspath(self.mktemp())))

    async def test_everyRequestEnds(self):
        tally, faults, recovered = await soak.chaos(
            reactor, self.locator, CHAOS_REQUESTS, 400, random.Random(6),
            log=lambda line: None)
        self.assertEqual(tally.sent, CHAOS_REQUESTS)
        self.assertEqual(tally.timeouts, 0)
        self.assertEqual(tally.ok + tally.errorCount, CHAOS_REQUESTS)
        # errors are the ones a lost worker gives, nothing else
        self.assertLessEqual(set(tally.errors), {"WorkerLost"})
        self.assertGreater(faults["kill"], 0)
        self.assertGreater(faults["stop"] + faults["stop-forever"], 0)
        self.assertTrue(recovered, "the pool did not come back to 4")
        self.assertIn("no heartbeat within 2s", self.node.log())
        # and it still answers
        self.assertEqual(await self.call(self.service("echo"), "ping"),
                         [b"pong"])
