"""
Tests for L{cocaine.unicorn.service} through its declared protocol (an
in-memory connection), on the memory backend.
"""

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from cocaine.errors import CATEGORY_UNICORN, INVALID_ARGUMENT
from cocaine.interfaces import IRPCService
from cocaine.testing import ServiceHarness
from cocaine.unicorn.memory import MemoryUnicorn
from cocaine.unicorn.service import UnicornService

NODE_EXISTS, NO_NODE, INVALID_PATH = 9, 8, 6


class ServiceTests(SynchronousTestCase):

    def setUp(self):
        self.backend = MemoryUnicorn()
        self.service = UnicornService(self.backend)
        self.harness = ServiceHarness(self.service, "unicorn")

    def errorOf(self, answer):
        [(name, [[category, code], message])] = answer
        self.assertEqual(name, "error")
        return category, code, message

    def test_interface(self):
        """
        It is an L{IRPCService} of protocol version 1.
        """
        self.assertTrue(verifyObject(IRPCService, self.service))
        self.assertEqual(self.service.version, 1)

    def test_oneShotCalls(self):
        """
        The answers' shapes are 0.12's: a versioned value is one
        C{[value, version]} argument.
        """
        call = self.harness.call
        self.assertEqual(call("get", "/a"), [("value", [[None, -1]])])
        self.assertEqual(call("create", "/a", {"k": "v"}),
                         [("value", [True])])
        self.assertEqual(call("get", "/a"), [("value", [[{"k": "v"}, 0]])])
        self.assertEqual(call("put", "/a", "w", 0),
                         [("value", [True, ["w", 1]])])
        self.assertEqual(call("put", "/a", "x", 0),
                         [("value", [False, ["w", 1]])])
        self.assertEqual(call("increment", "/n", 2), [("value", [[2, 0]])])
        self.assertEqual(call("del", "/a", 1), [("value", [True])])
        self.assertEqual(call("remove", "/n", 0), [("value", [True])])

    def test_errors(self):
        """
        Backend errors travel in category 0x0B with 0.12's codes; the root
        and bad paths are C{invalid_path}; a path that is not a string is
        a dispatch error naming the argument.
        """
        self.harness.call("create", "/e", 1)
        self.assertEqual(self.errorOf(self.harness.call("create", "/e", 1))
                         [:2], (CATEGORY_UNICORN, NODE_EXISTS))
        self.assertEqual(self.errorOf(self.harness.call("del", "/none", 0))
                         [:2], (CATEGORY_UNICORN, NO_NODE))
        self.assertEqual(self.errorOf(self.harness.call("get", "/")),
                         (CATEGORY_UNICORN, INVALID_PATH,
                          "root path is not allowed"))
        category, code, message = self.errorOf(self.harness.call(
            "get", "relative"))
        self.assertEqual((category, code), (CATEGORY_UNICORN, INVALID_PATH))
        self.assertIn("'relative'", message)
        category, code, message = self.errorOf(self.harness.call("get", 5))
        self.assertEqual(code, INVALID_ARGUMENT)
        self.assertIn("path", message)

    def test_subscribeAndClose(self):
        """
        Subscribe streams the value and its changes; C{close} stops the
        watch.
        """
        self.harness.call("create", "/s", 1)
        channel = self.harness.open("subscribe", "/s")
        self.harness.call("put", "/s", 2, 0)
        self.assertEqual(channel.received(),
                         [("write", [[1, 0]]), ("write", [[2, 1]])])
        channel.send("close")
        self.assertEqual(self.backend._watches, {})
        self.harness.call("put", "/s", 3, 1)
        self.assertEqual(len(channel.received()), 2)

    def test_subscribeDeleted(self):
        """
        Deleting the node ends the stream with C{no_node}.
        """
        self.harness.call("create", "/d", 1)
        channel = self.harness.open("subscribe", "/d")
        self.harness.call("del", "/d", 0)
        received = channel.received()
        self.assertEqual(received[0], ("write", [[1, 0]]))
        self.assertEqual(self.errorOf(received[1:])[:2],
                         (CATEGORY_UNICORN, NO_NODE))

    def test_childrenSubscribe(self):
        """
        Children come as C{[cversion, [names]]}.
        """
        self.harness.call("create", "/c/x", 1)
        channel = self.harness.open("children_subscribe", "/c")
        self.harness.call("create", "/c/y", 1)
        self.assertEqual(channel.received(), [
            ("write", [1, ["x"]]), ("write", [2, ["x", "y"]])])

    def test_lock(self):
        """
        The lock is written C{true} once held; C{close} gives it up and
        the next waiter gets it; a client that goes away gives it up too.
        """
        first = self.harness.open("lock", "/l")
        second = self.harness.open("lock", "/l")
        self.assertEqual(first.received(), [("write", [True])])
        self.assertEqual(second.received(), [])
        first.send("close")
        self.assertEqual(second.received(), [("write", [True])])
        other = ServiceHarness(self.service, "unicorn")
        third = other.open("lock", "/l")
        self.assertEqual(third.received(), [])
        self.harness.close()
        self.assertEqual(third.received(), [("write", [True])])

    def test_closeBeforeAnswer(self):
        """
        A one-shot call closed before the backend answers gets no answer.
        """
        pending = Deferred()
        self.backend.get = lambda path: pending
        channel = self.harness.open("get", "/slow")
        channel.send("close")
        pending.callback((1, 0))
        self.assertEqual(channel.received(), [])

    def test_closeBeforeAnswerForgotten(self):
        """
        The connection forgets a one-shot call closed before its answer at
        once, not when the connection closes: a client that cancels many
        slow calls does not fill its channel table.
        """
        self.backend.get = lambda path: Deferred()
        for _ in range(3):
            self.harness.open("get", "/slow").send("close")
        server = self.harness._server
        self.assertEqual((server._dispatch, server._upstreams), ({}, {}))
