"""
Small fake services for the RPC tests, declared with
L{cocaine.protocol.idl} and served by L{cocaine.rpc.server}.
"""

from twisted.internet.defer import Deferred, fail

from cocaine.errors import KeyNotFound, ServiceNotAvailable
from cocaine.protocol.idl import (
    MUTE, RECURRENT, STREAMING, Arg, Message, Protocol)
from cocaine.protocol.services import DISCARD, STORAGE
from cocaine.rpc.hosting import HostedService

#: What a C{chat} channel accepts after it is opened.
CHAT = Protocol("chat", [
    Message("say", [Arg("text", "str")], dispatch=RECURRENT),
    Message("bye", []),
])

#: The fake service's protocol; the comments give the message ids.
ECHO = Protocol("echo", [
    Message("echo", [Arg("text", "str"), Arg("extra", "any", True)]),  # 0
    Message("void", []),                                               # 1
    Message("pair", []),                                               # 2
    Message("later", [Arg("n", "int")]),                               # 3
    Message("coro", [Arg("n", "int")]),                                # 4
    Message("fail", [Arg("kind", "str")]),                             # 5
    Message("note", [Arg("text", "str")], upstream=MUTE),              # 6
    Message("count", [Arg("n", "int")], upstream=STREAMING),           # 7
    Message("watch", [], upstream=STREAMING),                          # 8
    Message("publish", [Arg("name", "str")], dispatch=DISCARD),        # 9
    Message("chat", [], dispatch=CHAT, upstream=STREAMING),            # 10
    Message("upload", [], dispatch=STREAMING),                         # 11
    Message("bad_stream", [Arg("kind", "str")], upstream=STREAMING),   # 12
])

ECHO_IDS = {m.name: i for i, m in enumerate(ECHO.messages)}


class Published:
    """
    The dispatch target of C{publish}: records C{discard} and connection
    loss.
    """

    def __init__(self, name):
        self.name = name
        self.events = []

    def discard(self):
        self.events.append("discard")

    def connectionLost(self):
        self.events.append("connectionLost")


class Chat:
    """
    The dispatch target of C{chat}: echoes each C{say} as a chunk.
    """

    def __init__(self, upstream):
        self.upstream = upstream
        self.said = []
        self.lost = False

    def say(self, text):
        if text == "boom":
            raise RuntimeError("chat failed")
        self.said.append(text)
        self.upstream.write(text.upper())

    def bye(self):
        self.upstream.close()

    def connectionLost(self):
        self.lost = True


class Upload:
    """
    The dispatch target of C{upload}: collects a request stream and answers
    with its concatenation.
    """

    def __init__(self, upstream):
        self.upstream = upstream
        self.chunks = []
        self.errors = []

    def write(self, chunk):
        self.chunks.append(chunk)

    def close(self):
        self.upstream.value(b"".join(self.chunks))

    def error(self, pair, message=b""):
        self.errors.append((pair, message))
        self.upstream.value(b"error")


class FakeEcho:
    """
    The implementation of L{ECHO}; records what it was asked.

    @ivar pending: Deferreds returned by C{later} and awaited by C{coro},
        by their C{n}.
    @ivar upstreams: the upstreams C{watch} was given.
    @ivar targets: the dispatch targets handed out.
    @ivar notes: the texts C{note} received.
    """

    def __init__(self):
        self.pending = {}
        self.upstreams = []
        self.closed = []
        self.targets = []
        self.notes = []
        self.voids = 0

    def echo(self, text, extra=None):
        return (text,) if extra is None else (text, extra)

    def void(self):
        self.voids += 1

    def pair(self):
        return ("a", b"b", 3)

    def later(self, n):
        d = self.pending[n] = Deferred()
        return d

    async def coro(self, n):
        value = await self.later(n)
        return (value * 2,)

    def fail(self, kind):
        if kind == "key":
            raise KeyNotFound("key 'k' not found in 'c'")
        if kind == "zero":
            raise ZeroDivisionError("secret-detail")
        if kind == "deferred":
            return fail(ServiceNotAvailable("gone"))
        if kind == "unencodable":
            return (object(),)
        if kind == "not-iterable":
            return 42
        raise AssertionError(kind)

    def note(self, text):
        if text == "boom":
            raise RuntimeError("note failed")
        self.notes.append(text)

    def count(self, upstream, n):
        for i in range(n):
            upstream.write(i)
        upstream.close()

    def watch(self, upstream):
        self.upstreams.append(upstream)
        upstream.notifyClose(lambda: self.closed.append(upstream))

    def publish(self, upstream, name):
        upstream.value()
        target = Published(name)
        self.targets.append(target)
        return target

    def chat(self, upstream):
        target = Chat(upstream)
        self.targets.append(target)
        return target

    def upload(self, upstream):
        target = Upload(upstream)
        self.targets.append(target)
        return target

    def badStream(self, upstream, kind):
        if kind == "raise":
            raise ValueError("secret-stream")
        if kind == "async":
            async def failing():
                raise KeyNotFound("later")
            return failing()
        if kind == "unencodable":
            upstream.write(object())
        raise AssertionError(kind)


def echoService():
    """
    @return: a L{HostedService} of a new L{FakeEcho}.
    """
    return HostedService("echo", FakeEcho(), ECHO, 1)


class FakeStorage:
    """
    An in-memory implementation of L{STORAGE}.
    """

    def __init__(self):
        self.data = {}

    def read(self, collection, key):
        try:
            return (self.data[collection, key],)
        except KeyError:
            raise KeyNotFound("key {!r} not found in {!r}".format(
                key, collection))

    def write(self, collection, key, blob, tags=None):
        self.data[collection, key] = blob

    def remove(self, collection, key):
        self.data.pop((collection, key), None)

    def find(self, collection, tags):
        return ([key for (c, key) in self.data if c == collection],)


def storageService():
    """
    @return: a L{HostedService} of a new L{FakeStorage}.
    """
    return HostedService("storage", FakeStorage(), STORAGE, 1)
