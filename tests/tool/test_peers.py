"""
L{cocaine.tool.peers}, and the wording of why a node did not answer,
with fake nodes in process.
"""

import threading
import time
from contextlib import contextmanager

from twisted.internet.defer import TimeoutError as DeferredTimeout
from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import CallTimeout, NotConnected, ServiceNotAvailable
from cocaine.rpc.client import ChannelClosed
from cocaine.tool import peers
from cocaine.tool.context import unreachableReason
from tests.tool.fakes import FakeContext, FakeService


class _Channel:
    """
    A blocking channel that gives C{chunks} in order (raising those that
    are exceptions), then times out.
    """

    def __init__(self, chunks):
        self.chunks = list(chunks)
        self.timeouts = []

    def read(self, timeout=None):
        self.timeouts.append(timeout)
        if not self.chunks:
            raise DeferredTimeout(timeout, "Deferred")
        chunk = self.chunks.pop(0)
        if isinstance(chunk, Exception):
            raise chunk
        return chunk


def _raising(error):
    """
    A method that raises C{error}.
    """
    def method(*args):
        raise error
    return method


class HelperTests(SynchronousTestCase):

    def test_linkedNodes(self):
        ctx = FakeContext({"locator": FakeService(cluster=lambda: {
            b"u1": [b"127.0.0.1", 10054], "u2": ["::1", 10055]})})
        self.assertEqual(peers.linkedNodes(ctx), {
            "u1": ("127.0.0.1", 10054), "u2": ("::1", 10055)})
        ctx = FakeContext({"locator": FakeService(cluster=lambda: None)})
        self.assertEqual(peers.linkedNodes(ctx), {})

    def test_address(self):
        self.assertEqual(peers.address("127.0.0.1", 1), "127.0.0.1:1")
        self.assertEqual(peers.address("::1", 1), "[::1]:1")

    def test_peerTimeout(self):
        """
        A peer never gets to make the tool wait forever.
        """
        self.assertEqual(peers.peerTimeout(FakeContext({}, timeout=2.5)),
                         2.5)
        self.assertEqual(peers.peerTimeout(FakeContext({}, timeout=0)),
                         peers.PEER_TIMEOUT)

    def test_unreachableReason(self):
        for error, reason in [
                (NotConnected("cannot connect to locator at 127.0.0.1:1: "
                              "Connection was refused by other side: 111: "
                              "Connection refused."), "connection refused"),
                (NotConnected("cannot connect to locator at h:1: User "
                              "timeout caused connection failure."),
                 "connection timed out"),
                (NotConnected("cannot connect to locator at h:1: No route "
                              "to host."), "No route to host"),
                (CallTimeout("node.list did not answer within 5s"),
                 "node.list did not answer within 5s"),
                (DeferredTimeout(2.5, "Deferred"), "no answer within 2.5s"),
                (DeferredTimeout(), "no answer"),
                (ServiceNotAvailable("service 'node' is not available"),
                 "service 'node' is not available"),
                (OSError(), "OSError")]:
            self.assertEqual(unreachableReason(error), reason, error)


class AskEachTests(SynchronousTestCase):
    """
    L{peers.askEach} with fake node contexts, by port.
    """

    def setUp(self):
        self.nodes = {}
        self.closed = []

        @contextmanager
        def peerContext(ctx, host, port):
            node = self.nodes[port]
            if isinstance(node, Exception):
                raise node
            try:
                yield node
            finally:
                self.closed.append(port)
        self.patch(peers, "peerContext", peerContext)
        self.ctx = FakeContext({}, timeout=1.0)

    def test_answersAndReasons(self):
        self.nodes = {
            1: FakeContext({"node": FakeService(list=lambda: ["echo"])}),
            2: NotConnected("cannot connect to locator at 127.0.0.1:2: "
                            "Connection refused"),
            3: FakeContext({"node": FakeService(list=_raising(CallTimeout(
                "node.list did not answer within 1s")))})}
        answers = peers.askEach(
            self.ctx, {"a": ("127.0.0.1", 1), "b": ("127.0.0.1", 2),
                       "c": ("127.0.0.1", 3)},
            lambda peer: peer.node.list())
        self.assertEqual(answers, {
            "a": (["echo"], None),
            "b": (None, "connection refused"),
            "c": (None, "node.list did not answer within 1s")})
        self.assertEqual(sorted(self.closed), [1, 3])

    def test_atOnce(self):
        """
        Every node is asked at the same time: two that each take a while
        take that while, not twice.
        """
        both = threading.Barrier(2, timeout=5)

        def question(peer):
            both.wait()
            return "met"
        self.nodes = {1: FakeContext({}), 2: FakeContext({})}
        answers = peers.askEach(self.ctx, {"a": ("h", 1), "b": ("h", 2)},
                                question)
        self.assertEqual(answers, {"a": ("met", None), "b": ("met", None)})

    def test_stuckNodeNamed(self):
        """
        A node still being asked at the deadline is named, and the tool
        does not wait for it.
        """
        self.patch(peers, "SLACK", 0.0)
        release = threading.Event()
        self.addCleanup(release.set)
        self.nodes = {1: FakeContext({}), 2: FakeContext({})}

        def question(peer):
            if peer is self.nodes[2]:
                release.wait(10)
            return "ok"
        ctx = FakeContext({}, timeout=0.05)
        started = time.monotonic()
        answers = peers.askEach(ctx, {"a": ("h", 1), "b": ("h", 2)},
                                question)
        self.assertLess(time.monotonic() - started, 2)
        self.assertEqual(answers, {"a": ("ok", None),
                                   "b": (None, "no answer within 0.05s")})

    def test_bugsRaised(self):
        self.nodes = {1: FakeContext({})}
        self.assertRaises(ZeroDivisionError, peers.askEach, self.ctx,
                          {"a": ("h", 1)}, lambda peer: 1 / 0)


class NodeLoadTests(SynchronousTestCase):
    """
    L{peers.nodeLoad} over a fake locator's C{connect} stream.
    """

    def load(self, chunks, timeout=10.0):
        channel = _Channel(chunks)
        connects = []

        def connect(uuid, options):
            connects.append((uuid, options))
            return channel
        peer = FakeContext({"locator": FakeService(connect=connect)},
                           timeout=timeout)
        return peers.nodeLoad(peer), connects, channel

    def test_firstReport(self):
        """
        The snapshot, service changes up to the first load report, and
        that report.
        """
        report = {"cpu": 5.0, "apps": {}}
        (uuid, services, load), connects, channel = self.load([
            [b"u1", {b"storage": [[["h", 1]], 1, {}], b"node": [
                [["h", 2]], 1, {}]}],
            ["u1", {"echo": [[["h", 3]], 1, {}], "node": []}],
            ["u1", {}, {"load": report}],
            ["u1", {}, {"load": {"cpu": 99.0}}]])
        self.assertEqual(connects, [("cocaine-tool", {"load": True})])
        self.assertEqual((uuid, services, load),
                         ("u1", ["echo", "storage"], report))
        self.assertEqual(channel.timeouts[0], 10.0)
        self.assertLessEqual(max(channel.timeouts[1:]), peers.LOAD_WAIT)

    def test_noReport(self):
        """
        A node that sends no report (no cluster section, or not ours): its
        services and no load, once the wait is over or the stream ends.
        """
        self.assertEqual(self.load([["u1", {"node": [[["h", 2]], 1, {}]}]],
                                   timeout=0.2)[0], ("u1", ["node"], None))
        self.assertEqual(self.load([["u1", {}], ChannelClosed()])[0],
                         ("u1", [], None))
