"""
Tests for L{cocaine.http.backends}: the gateway's backend inside a node.
The node's own apps come first, through L{cocaine.interfaces.INode}
(with the guard its apps' listeners apply); a refusal there is tried on
one remote provider. How the remote sessions themselves run is in
L{tests.http.test_remote}.
"""

import random

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from cocaine.cluster.remote import RemoteTable
from cocaine.errors import AccessDenied, Unauthorized
from cocaine.http.backends import LOCAL, LocalCall, NodeBackend
from cocaine.http.gateway import Backend, Call
from cocaine.testing import MemoryNode, memoryContext
from tests.http.test_remote import FakeUpstream


class _Session:
    """
    What C{INode.enqueue} returns: records what the backend does with it.
    """

    def __init__(self):
        self.events = []

    def write(self, chunk):
        self.events.append(("write", chunk))

    def close(self):
        self.events.append(("close",))

    def connectionLost(self):
        self.events.append(("connectionLost",))


class _Guard:
    """
    Admits what C{allowed} says; records every question.
    """

    def __init__(self, refusal=None):
        self.refusal = refusal
        self.asked = []

    def admit(self, name, kind, method, headers):
        self.asked.append((name, kind, method, list(headers)))
        if self.refusal is not None:
            raise self.refusal


class _Remote:
    """
    Stands where L{cocaine.http.remote.RemoteApps} would.
    """

    def __init__(self):
        self.calls = []

    def call(self, endpoints, app, event, headers, chunk, upstream,
             graph=None):
        self.calls.append((endpoints, app, event, headers, chunk, graph))
        return "remote call"


class _Locator:
    def __init__(self, remote):
        self.remote = remote


class LocalTests(SynchronousTestCase):
    """
    The first attempt goes to the node's own app.
    """

    def setUp(self):
        self.node = MemoryNode()
        self.context = memoryContext(self.node)
        self.backend = NodeBackend(self.context)
        self.enqueued = []

        def enqueue(name, upstream, event, tag=None, headers=()):
            session = _Session()
            self.enqueued.append((name, upstream, event, tag, headers,
                                  session))
            return session
        self.node.enqueue = enqueue

    def test_interfaces(self):
        """
        L{NodeBackend} is a L{Backend}; what it returns for the node's
        apps is a L{Call}.
        """
        self.assertTrue(verifyObject(Backend, self.backend))
        self.assertTrue(verifyObject(Call, LocalCall(None)))

    def test_session(self):
        """
        The node's app gets a session with the Cocaine headers, the one
        chunk and the close; the target is set first.
        """
        upstream = FakeUpstream()
        call = self.backend.call("echo", "http", [(b"trace_id", b"1")],
                                 b"req", upstream, [])
        [(name, given, event, tag, headers, session)] = self.enqueued
        self.assertEqual((name, event, tag, headers),
                         ("echo", "http", None, [(b"trace_id", b"1")]))
        self.assertIs(given, upstream)
        self.assertEqual(upstream.target, LOCAL)
        self.assertEqual(session.events, [("write", b"req"), ("close",)])
        self.assertIs(call.session, session)

    def test_cancel(self):
        """
        Cancelling a local call tells its session the client went away,
        once.
        """
        call = self.backend.call("echo", "http", [], b"req", FakeUpstream(),
                                 [])
        session = call.session
        call.cancel()
        call.cancel()
        self.assertEqual(session.events[2:], [("connectionLost",)])
        self.assertIsNone(call.session)

    def test_guardAdmits(self):
        """
        With a guard, the node's app is reached only once the guard
        admitted the call as the app's listener would (its C{enqueue},
        with the request's Cocaine headers).
        """
        self.context.guard = guard = _Guard()
        headers = [(b"authorization", b"5")]
        self.backend.call("echo", "http", headers, b"req", FakeUpstream(), [])
        self.assertEqual(guard.asked, [("echo", "app", "enqueue", headers)])
        self.assertEqual(len(self.enqueued), 1)

    def test_guardRefuses(self):
        """
        A call the guard refuses never reaches the node: the upstream gets
        the refusal, and the call returned cancels harmlessly.
        """
        for refusal in [Unauthorized("who?"), AccessDenied("no")]:
            self.context.guard = _Guard(refusal)
            upstream = FakeUpstream()
            call = self.backend.call("echo", "http", [], b"req", upstream,
                                     [])
            self.assertEqual(upstream.messages, [("error", refusal)])
            self.assertEqual(upstream.target, LOCAL)
            call.cancel()
        self.assertEqual(self.enqueued, [])

    def test_healthy(self):
        """
        Healthy while the node runs, or before it is known.
        """
        self.assertTrue(self.backend.healthy())
        self.node.running = False
        self.assertFalse(self.backend.healthy())
        self.context.node = None
        self.assertTrue(self.backend.healthy())


class RemoteProviderTests(SynchronousTestCase):
    """
    After the node, one of the other nodes that publish the app.
    """

    def setUp(self):
        self.context = memoryContext(MemoryNode())
        self.table = RemoteTable()
        self.context.locator = _Locator(self.table)
        self.remote = _Remote()
        self.backend = NodeBackend(self.context, self.remote,
                                   rng=random.Random(7))
        for uuid, port in [("n1", 4001), ("n2", 4002), ("n3", 4003)]:
            self.table.link(uuid, ["127.0.0.1", 10053], {
                "echo": [[["127.0.0.1", port]], 1, {}]})

    def test_notTriedAgain(self):
        """
        A remote attempt goes to a provider not tried yet, with the
        app's endpoints, and sets the target to its uuid.
        """
        upstream = FakeUpstream()
        call = self.backend.call("echo", "http", [(b"a", b"b")], b"req",
                                 upstream, [LOCAL, "n1", "n3"])
        self.assertEqual(call, "remote call")
        self.assertEqual(upstream.target, "n2")
        [(endpoints, app, event, headers, chunk, graph)] = self.remote.calls
        self.assertEqual(endpoints, [["127.0.0.1", 4002]])
        self.assertEqual((app, event, headers, chunk),
                         ("echo", "http", [(b"a", b"b")], b"req"))

    def test_choiceIsTheRng(self):
        """
        Among the providers left, the choice is the backend's random
        generator's (a seeded one chooses the same every time).
        """
        chosen = set()
        for seed in range(20):
            backend = NodeBackend(self.context, self.remote,
                                  rng=random.Random(seed))
            upstream = FakeUpstream()
            backend.call("echo", "http", [], b"", upstream, [LOCAL])
            chosen.add(upstream.target)
        self.assertEqual(chosen, {"n1", "n2", "n3"})
        targets = []
        for _ in range(2):
            upstream = FakeUpstream()
            NodeBackend(self.context, self.remote, rng=random.Random(3)).call(
                "echo", "http", [], b"", upstream, [LOCAL])
            targets.append(upstream.target)
        self.assertEqual(targets[0], targets[1])

    def test_hasOther(self):
        """
        The node first; then while a provider is left untried; never
        without remote connections or a locator with a remote table.
        """
        self.assertTrue(self.backend.hasOther("echo", []))
        self.assertTrue(self.backend.hasOther("echo", [LOCAL, "n1", "n2"]))
        self.assertFalse(self.backend.hasOther("echo",
                                               [LOCAL, "n1", "n2", "n3"]))
        self.assertFalse(self.backend.hasOther("other", [LOCAL]))
        self.assertFalse(NodeBackend(self.context).hasOther("echo", [LOCAL]))
        self.context.locator = object()
        self.assertFalse(self.backend.hasOther("echo", [LOCAL]))
        self.assertTrue(NodeBackend(self.context).hasOther("echo", []))
