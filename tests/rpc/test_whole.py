"""
Tests for L{cocaine.rpc.server}'s whole requests: an opening, its one
chunk and its close in one read go to the handler's C{<method>Whole} in
one call, and the channel is then as if the three had come one by one.
"""

from cocaine.errors import AccessDenied
from cocaine.protocol.idl import Arg, Message, Protocol, STREAMING
from cocaine.rpc.hosting import HostedService
from tests.rpc.test_server import Connection, _Case, pack


class _Target:
    """
    The dispatch target of an C{ask} channel, recording what it hears.
    """

    finishedWithUpstream = True

    def __init__(self, upstream, whole=None):
        self.upstream = upstream
        self.whole = whole
        self.chunks = []
        self.closed = 0
        self.lost = 0

    def write(self, chunk):
        self.chunks.append(chunk)

    def close(self):
        self.closed += 1

    def connectionLost(self):
        self.lost += 1


class _Impl:
    """
    C{ask(x)} streams both ways; its C{askWhole} takes a whole request.
    C{x} says what the handler does: C{"answer now"} closes the upstream
    at once, C{"raise"} raises.
    """

    protocol = Protocol("once", [
        Message("ask", [Arg("x", "str")], dispatch=STREAMING,
                upstream=STREAMING),
        Message("plain", [Arg("x", "str")], dispatch=STREAMING,
                upstream=STREAMING),
        Message("tell", [Arg("x", "str")], dispatch=STREAMING,
                upstream=STREAMING, headers=True)])
    version = 1

    def __init__(self):
        self.targets = []
        self.wholes = []

    def _target(self, upstream, x, whole=None):
        if x == "raise":
            raise ZeroDivisionError("handler bug")
        if x == "answer now":
            upstream.close()
        target = _Target(upstream, whole)
        self.targets.append(target)
        return target

    def ask(self, upstream, x):
        return self._target(upstream, x)

    def askWhole(self, upstream, chunk, x):
        self.wholes.append((chunk, x))
        return self._target(upstream, x, chunk)

    def plain(self, upstream, x):
        return self._target(upstream, x)

    def tell(self, upstream, x, headers):
        return self._target(upstream, x)

    def tellWhole(self, upstream, chunk, headers, x):
        self.wholes.append((chunk, headers, x))
        return self._target(upstream, x, chunk)


class _Guard:
    """
    Refuses an C{ask} of C{"forbidden"}; everyone is anonymous.
    """

    def __init__(self):
        self.refusals = []

    def rules(self, name, protocol):
        def check(identity, values):
            if values[0] == "forbidden":
                raise AccessDenied("no")
        return [check] * len(protocol.messages)

    def identifyPeer(self, transport):
        return None

    def refused(self, *args):
        self.refusals.append(args)


def _whole(channel, x, chunk=b"x", mtype=0):
    return (pack([channel, mtype, [x]]) + pack([channel, 0, [chunk]])
            + pack([channel, 2, []]))


class WholeRequestTests(_Case):
    """
    A message whose implementation has C{<method>Whole} takes the whole
    request in one call when it comes in one read.
    """

    def setUp(self, guard=None):
        self.impl = _Impl()
        self.service = HostedService("once", self.impl, _Impl.protocol, 1,
                                     guard)
        self.connection = Connection(self.service)
        self.protocol = self.connection.protocol

    def test_wholes(self):
        """
        L{HostedService.wholes} has the C{Whole} handler of each message
        that has one, with the ids of its stream's C{write} and C{close}
        and how many args a C{write} takes, and is L{None} for a service
        without any.
        """
        self.assertEqual(self.service.wholes,
                         [(self.impl.askWhole, 0, 2, 1, 1), None,
                          (self.impl.tellWhole, 0, 2, 1, 1)])
        from tests.rpc._fakes import echoService
        self.assertIsNone(echoService().wholes)

    def test_headers(self):
        """
        A message declared with headers gives its C{Whole} handler the
        opening's decoded headers after the chunk, positionally; L{None}
        when none came.
        """
        self.connection.feed(
            pack([1, 2, ["a"], [[False, b"x-trace", b"7"]]])
            + pack([1, 0, [b"x"]]) + pack([1, 2, []]))
        self.connection.feed(_whole(3, "b", mtype=2))
        self.assertEqual(self.impl.wholes,
                         [([b"x"], [(b"x-trace", b"7")], "a"),
                          ([b"x"], None, "b")])

    def test_together(self):
        """
        The opening, a chunk and the close in one read: one call of
        C{askWhole} with the chunk's args, no C{write} and no C{close};
        the client's side has ended while the answer goes on, so a late
        message is refused as on a channel the client closed.
        """
        self.connection.feed(_whole(1, "later"))
        self.assertEqual(self.impl.wholes, [([b"x"], "later")])
        [target] = self.impl.targets
        self.assertEqual((target.chunks, target.closed), ([], 0))
        self.assertEqual(self.connection.replies(), [])
        self.connection.send(1, 0, [b"too late"])
        [reply] = self.connection.replies()
        self.assertIn("closed by the client", reply[2][1])
        self.assertEqual(target.lost, 1)

    def test_answeredLater(self):
        """
        Once its answer is complete, the target is forgotten and nothing
        of the channel lingers (the client's stream was complete).
        """
        self.connection.feed(_whole(1, "later"))
        [target] = self.impl.targets
        self.assertIs(target.upstream.target, target)
        target.upstream.write(b"reply")
        target.upstream.close()
        self.assertIsNone(target.upstream.target)
        self.assertEqual(self.connection.replies(),
                         [[1, 0, [b"reply"]], [1, 2, []]])
        self.assertEqual((self.protocol._dispatch, len(
            self.protocol._lingering)), ({}, 0))

    def test_answeredAlready(self):
        """
        A target whose answer was complete when it was returned is not
        kept at all.
        """
        self.connection.feed(_whole(1, "answer now"))
        self.assertEqual(self.connection.replies(), [[1, 2, []]])
        self.assertEqual((self.protocol._dispatch, len(
            self.protocol._lingering)), ({}, 0))

    def test_connectionLost(self):
        """
        A target still answering hears the connection go.
        """
        self.connection.feed(_whole(1, "later") + _whole(2, "answer now"))
        self.connection.transport.loseConnection()
        self.assertEqual([t.lost for t in self.impl.targets], [1, 0])

    def test_many(self):
        """
        Many whole requests in one read each take one call, in order.
        """
        self.connection.feed(b"".join(
            _whole(channel, "n{}".format(channel), b"%d" % channel)
            for channel in range(1, 6)))
        self.assertEqual(self.impl.wholes,
                         [([b"%d" % c], "n{}".format(c))
                          for c in range(1, 6)])

    def test_notWhole(self):
        """
        Anything but an opening, one chunk of the stream's C{write} and a
        plain close, in one read and on one channel, goes one by one:
        each read below ends with the target having one chunk and one
        close, through C{ask}.
        """
        opening = pack([1, 0, ["later"]])
        chunk, close = pack([1, 0, [b"x"]]), pack([1, 2, []])
        cases = [
            [opening + chunk, close],
            [opening, chunk + close],
            [opening + chunk + pack([2, 0, ["later"]]) + close],
            [opening + chunk + pack([1, 2, [], [[b"k", b"v"]]])],
            [opening + pack([1, 0, [b"x"], [[b"k", b"v"]]]) + close],
        ]
        for reads in cases:
            self.setUp()
            for data in reads:
                self.connection.feed(data)
            self.assertEqual(self.impl.wholes, [])
            target = self.impl.targets[0]
            self.assertEqual((target.chunks, target.closed), ([b"x"], 1))

    def test_noWholeHandler(self):
        """
        A message without C{<method>Whole} takes its requests one by one.
        """
        self.connection.feed(_whole(1, "later", mtype=1))
        [target] = self.impl.targets
        self.assertEqual((target.whole, target.chunks, target.closed),
                         (None, [b"x"], 1))

    def test_handlerFails(self):
        """
        A C{Whole} handler that raises is logged and its channel answered
        with the error; the connection serves on.
        """
        self.connection.feed(_whole(1, "raise") + _whole(2, "later"))
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        replies = self.connection.replies()
        self.assertEqual([r[:2] for r in replies], [[1, 1]])
        self.assertEqual(len(self.impl.targets), 1)
        self.assertTrue(self.connection.open)

    def test_badArguments(self):
        """
        An opening whose arguments do not convert is answered with the
        error, and its chunk and close after it are handled as they come
        (each answered as on a channel that is not open), as without a
        C{Whole} handler.
        """
        def replies(mtype):
            self.setUp()
            self.connection.feed(pack([1, mtype, [7]])
                                 + pack([1, 0, [b"x"]]) + pack([1, 2, []]))
            return [r[:2] for r in self.connection.replies()]
        self.assertEqual(replies(0), replies(1))
        self.assertEqual(replies(0), [[1, 1]] * 3)
        self.assertEqual(self.impl.wholes, [])

    def test_refused(self):
        """
        An opening the guard refuses is answered with the error once; its
        chunk and close go nowhere, as without a C{Whole} handler.
        """
        guard = _Guard()
        self.setUp(guard)
        self.connection.feed(_whole(1, "forbidden") + _whole(2, "later"))
        replies = self.connection.replies()
        self.assertEqual([r[:2] for r in replies], [[1, 1]])
        self.assertEqual(len(guard.refusals), 1)
        self.assertEqual(self.impl.wholes, [([b"x"], "later")])
        self.assertEqual(len(self.protocol._lingering), 0)

    def test_reusedChannel(self):
        """
        A whole request on a channel already used is refused as any
        message on it would be; the handler is not called.
        """
        self.connection.feed(_whole(1, "answer now"))
        self.connection.replies()
        self.connection.feed(_whole(1, "later"))
        self.assertEqual(len(self.impl.wholes), 1)
        replies = self.connection.replies()
        self.assertTrue(replies)
        self.assertTrue(all(r[:2] == [1, 1] for r in replies))
