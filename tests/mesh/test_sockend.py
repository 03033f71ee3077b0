# -*- test-case-name: tests.mesh.test_sockend -*-
"""
Tests for L{cocaine.mesh.sockend}.

  - L{MappingTests}: the Sockend's logic on fakes (a L{MemoryReactorClock},
    hellos fed by hand, a fake socket.io side, fake requesters and
    subscribers): what is exposed where, how a browser's event becomes a
    request and its answer the callback's C{(err, result)}, publications
    and rooms.
  - L{CommandLineTests}: the arguments and their loopback defaults.
  - L{LoopbackProcessTests}: C{python -m cocaine.mesh.sockend} and Python
    services as real processes, discovery on a free port of loopback, and
    python-socketio's own client.
  - L{BrowserTests}: headless Chromium (Debian's) loads a page with the real
    socket.io 4 browser client, in a network namespace the test makes
    (only C{lo} up; deleted afterwards) with the sockend, a real cote
    Responder and Publisher, and ours. The page's DOM is checked and a
    screenshot saved (into the test's temporary directory, or to
    C{$COCAINE_SCREENSHOT} when set:
    C{COCAINE_SCREENSHOT=docs/sockend-screenshot.png}
    regenerates the one in the docs). It installs what it needs (cote and
    playwright-core with npm under C{~/.cache/cocaine-tests/}, Debian's
    C{chromium} with apt-get) and skips, saying why, when it cannot.
"""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from cocaine.mesh.errors import MeshError, RemoteError, RequestTimeout
from cocaine.mesh.hello import buildHello, encodeHello
from cocaine.mesh.browsers import SocketIOServer, sockendErrorObject
from cocaine.mesh.exposure import socketNamespace
from cocaine.mesh.sockend import Sockend
from cocaine.mesh.sockendcli import parseArguments
from tests.integration.netns import loopbackNamespace
from tests.mesh.test_components import fakeListen
from tests.mesh import test_interop as interop
from tests.locks import exclusive
from tests.mesh.npm import ensurePackage
from tests.ports import freeUDPPort

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BROWSER_DIR = os.path.join(HERE, "browser")
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "cocaine-tests")
PLAYWRIGHT_DIR = os.path.join(CACHE, "playwright")
PLAYWRIGHT_VERSION = "1.65.1"
CHROMIUM = "/usr/bin/chromium"


# ---------------------------------------------------------------- fakes


class FakeSocketServer:
    """
    The socket.io side, recording what the Sockend asks of it.
    """

    def __init__(self):
        self.emitted = []
        self.rooms = []
        self.stopped = False

    def listen(self):
        return 4321

    def emit(self, namespace, event, data, rooms=None):
        self.emitted.append((namespace, event, data, rooms))
        return defer.succeed(None)

    def enterRoom(self, sid, room, namespace):
        self.rooms.append(("enter", sid, room, namespace))

    def leaveRoom(self, sid, room, namespace):
        self.rooms.append(("leave", sid, room, namespace))

    def stop(self):
        self.stopped = True
        return defer.succeed(None)


class FakeComponent:
    def __init__(self, name, **kwargs):
        self.name = name
        self.kwargs = kwargs
        self.running = False

    def startService(self):
        self.running = True

    def stopService(self):
        self.running = False
        return defer.succeed(None)


class FakeRequester(FakeComponent):
    def __init__(self, name, **kwargs):
        FakeComponent.__init__(self, name, **kwargs)
        self.sent = []

    def send(self, message, timeout=None, where=None):
        d = defer.Deferred()
        self.sent.append((message, timeout, where, d))
        return d


class FakeSubscriber(FakeComponent):
    def __init__(self, name, **kwargs):
        FakeComponent.__init__(self, name, **kwargs)
        self.listeners = []

    def on(self, topic, callback):
        self.listeners.append((topic, callback))

    def deliver(self, topic, data):
        for _, callback in self.listeners:
            callback(data, topic)


class FakePeer:
    def __init__(self, advertisement):
        self.advertisement = advertisement


def responder(name="rep", respondsTo=("add",), namespace=None, key="$$",
              port=7000):
    ad = {"type": "service", "name": name, "key": key, "axon_type": "rep",
          "port": port}
    if respondsTo is not None:
        ad["respondsTo"] = list(respondsTo)
    if namespace is not None:
        ad["namespace"] = namespace
    return ad


def publisher(name="pub", broadcasts=("news",), namespace=None, key="$$",
              port=7100):
    ad = {"type": "service", "name": name, "key": key,
          "axon_type": "pub-emitter",
          "port": port}
    if broadcasts is not None:
        ad["broadcasts"] = list(broadcasts)
    if namespace is not None:
        ad["namespace"] = namespace
    return ad


# ---------------------------------------------------------------- unit tests


class NamespaceAndErrorTests(SynchronousTestCase):
    def test_socketNamespace(self):
        """
        cote's namespace C{""} or none is socket.io's C{"/"}; C{"foo"} is
        C{"/foo"}.
        """
        self.assertEqual(
            [socketNamespace(n) for n in (None, "", "foo", "a-b")],
            ["/", "/", "/foo", "/a-b"])

    def test_errorWithMessagePassesThrough(self):
        """
        A responder's error object with a message reaches the browser as
        it is, with every field.
        """
        error = {"message": "no", "code": "ENOPE", "name": "MeshError",
                 "extra": [1]}
        self.assertEqual(sockendErrorObject(RemoteError(error)), error)

    def test_errorWithoutMessageGetsOne(self):
        """
        cote sends a thrown error as C{{}}: the browser gets an object with
        a message, and what was received under C{error}.
        """
        for received in ({}, "text", None, [1]):
            error = sockendErrorObject(RemoteError(received))
            self.assertIsInstance(error["message"], str)
            self.assertTrue(error["message"])
            self.assertEqual((error["code"], error["name"], error["error"]),
                             ("EREMOTE", "RemoteError", received))

    def test_ownFailures(self):
        """
        Our own failures are message/code/name objects.
        """
        self.assertEqual(sockendErrorObject(RequestTimeout("late")),
                         {"message": "late", "code": "ETIMEDOUT",
                          "name": "RequestTimeout"})


class MappingTests(SynchronousTestCase):
    def make(self, **kwargs):
        kwargs.setdefault("environment", "")
        self.reactor = MemoryReactorClock()
        self.server = FakeSocketServer()
        self.requesters = []
        self.subscribers = []

        def requester(name, **kw):
            r = FakeRequester(name, **kw)
            self.requesters.append(r)
            return r

        def subscriber(name, **kw):
            s = FakeSubscriber(name, **kw)
            self.subscribers.append(s)
            return s

        sockend = Sockend("sockend", reactor=self.reactor,
                          socketServer=self.server,
                          requesterFactory=requester,
                          subscriberFactory=subscriber, **kwargs)
        sockend._listenDiscovery = fakeListen
        self.changes = []
        sockend.observe(lambda *change: self.changes.append(change))
        sockend.startService()
        self.addCleanup(sockend.stopService)
        return sockend

    def announce(self, sockend, iid, advertisement):
        sockend.discovery.datagramReceived(
            encodeHello(buildHello(iid, advertisement)), ("127.0.0.1", 12345))

    def event(self, sockend, namespace, event, *args, sid="s1"):
        return self.successResultOf(
            sockend.socketEvent(namespace, sid, event, list(args)))

    def test_advertisement(self):
        """
        The Sockend says hello as cote's: C{axon_type} C{sockend}, its key
        string; its HTTP port is the socket.io side's.
        """
        sockend = self.make(key="k", environment="prod")
        self.assertEqual(sockend.advertisement, {
            "type": "service", "name": "sockend", "key": "prod:$$k",
            "axon_type": "sockend"})
        self.assertEqual(sockend.port, 4321)

    def test_exposesRespondersAndPublishers(self):
        """
        Responders with C{respondsTo} and Publishers with C{broadcasts} are
        exposed on the socket.io namespace of their cote namespace, with
        one requester and one subscriber per cote namespace, started and
        made with the Sockend's key and namespace.
        """
        sockend = self.make()
        self.announce(sockend, "r1", responder(respondsTo=["add", "fail"]))
        self.announce(sockend, "r2",
                      responder(respondsTo=["mul"], namespace="math"))
        self.announce(sockend, "r3",
                      responder(respondsTo=["div"], namespace="math"))
        self.announce(sockend, "p1",
                      publisher(broadcasts=["news"], namespace="math"))
        self.assertEqual(sockend.exposed(), {
            "/": {"requests": ["add", "fail"], "broadcasts": []},
            "/math": {"requests": ["div", "mul"], "broadcasts": ["news"]}})
        self.assertEqual([(r.name, r.kwargs["namespace"], r.kwargs["key"],
                           r.running) for r in self.requesters],
                         [("sockendReq", None, None, True),
                          ("sockendReq", "math", None, True)])
        self.assertEqual([(s.name, s.kwargs["namespace"], s.running)
                          for s in self.subscribers],
                         [("sockendSub", "math", True)])
        self.assertEqual(self.changes[-1], ("/math", ["div", "mul"], ["news"]))

    def test_ignoresOthers(self):
        """
        Responders without C{respondsTo}, Publishers without C{broadcasts},
        other keys or environments and other axon types are not exposed
        (as cote, which needs C{respondsTo} to know the events).
        """
        sockend = self.make(key="k", environment="prod")
        self.announce(sockend, "a", responder(respondsTo=None, key="prod:$$k"))
        self.announce(sockend, "b", publisher(broadcasts=None, key="prod:$$k"))
        self.announce(sockend, "c", responder(key="prod:$$other"))
        self.announce(sockend, "d", responder(key="$$k"))
        self.announce(sockend, "e",
                      dict(responder(key="prod:$$k"), axon_type="req"))
        self.announce(sockend, "f",
                      dict(responder(key="prod:$$k"), respondsTo="add"))
        self.assertEqual(sockend.exposed(), {})
        self.assertEqual(self.requesters, [])
        self.announce(sockend, "g", responder(key="prod:$$k"))
        self.assertEqual(sockend.exposed(),
                         {"/": {"requests": ["add"], "broadcasts": []}})
        kwargs = self.requesters[0].kwargs
        self.assertEqual((kwargs["key"], kwargs["environment"]),
                         ("k", "prod"))

    def test_noneAndEmptyNamespaceAreBothRoot(self):
        """
        A responder without namespace and one with C{""} are both on C{"/"},
        each reached through a requester of its own namespace (they do not
        pair with each other's requester).
        """
        sockend = self.make()
        self.announce(sockend, "a", responder(respondsTo=["one"]))
        self.announce(sockend, "b",
                      responder(respondsTo=["two"], namespace=""))
        self.assertEqual(sockend.exposed(),
                         {"/": {"requests": ["one", "two"], "broadcasts": []}})
        sockend.socketEvent("/", "s", "one", [])
        sockend.socketEvent("/", "s", "two", [])
        self.assertEqual([(r.kwargs["namespace"],
                           [m["type"] for m, _, _, _ in r.sent])
                          for r in self.requesters],
                         [(None, ["one"]), ("", ["two"])])

    def test_restrictedNamespaces(self):
        """
        With C{namespaces}, only those cote namespaces are exposed and
        browsers may only connect to their socket.io namespaces.
        """
        sockend = self.make(namespaces=["math"])
        self.announce(sockend, "a", responder(respondsTo=["add"]))
        self.announce(sockend, "b",
                      responder(respondsTo=["mul"], namespace="math"))
        self.assertEqual(list(sockend.exposed()), ["/math"])
        self.assertFalse(
            self.successResultOf(sockend.socketConnected("/", "s1")))
        self.assertTrue(
            self.successResultOf(sockend.socketConnected("/math", "s2")))

    def test_peerGone(self):
        """
        A responder silent for C{nodeTimeout} is no longer exposed; the
        namespace's requester stays (as cote's).
        """
        sockend = self.make()
        self.announce(sockend, "a", responder(respondsTo=["add"]))
        self.reactor.pump([1.0] * 12)
        self.assertEqual(sockend.exposed(),
                         {"/": {"requests": [], "broadcasts": []}})
        self.assertEqual(self.changes[-1], ("/", [], []))
        self.assertEqual(self.event(sockend, "/", "add", {})[0]["code"],
                         "ENOHANDLER")
        self.assertTrue(self.requesters[0].running)

    def test_request(self):
        """
        C{emit(type, data, cb)} sends C{{...data, "type": type}} with the
        default timeout, only to responders that respond to C{type}; the
        callback gets C{(null, result)}.
        """
        sockend = self.make(timeout=7.0)
        self.announce(sockend, "a", responder(respondsTo=["add"]))
        d = sockend.socketEvent("/", "s1", "add",
                                [{"a": 2, "b": 3, "type": "evil"}])
        ((message, timeout, where, sent),) = self.requesters[0].sent
        self.assertEqual(message, {"a": 2, "b": 3, "type": "add"})
        self.assertEqual(timeout, 7.0)
        self.assertTrue(where(FakePeer(responder(respondsTo=["x", "add"]))))
        self.assertFalse(where(FakePeer(responder(respondsTo=["x"]))))
        self.assertFalse(where(FakePeer(responder(respondsTo=None))))
        self.assertNoResult(d)
        sent.callback(5)
        self.assertEqual(self.successResultOf(d), (None, 5))

    def test_requestWithoutData(self):
        """
        C{emit(type, cb)} and C{emit(type, null, cb)} send C{{"type": type}}
        (cote: the callback may come first).
        """
        sockend = self.make()
        self.announce(sockend, "a", responder(respondsTo=["ping"]))
        sockend.socketEvent("/", "s1", "ping", [])
        sockend.socketEvent("/", "s1", "ping", [None])
        self.assertEqual([m for m, _, _, _ in self.requesters[0].sent],
                         [{"type": "ping"}, {"type": "ping"}])

    def test_badRequests(self):
        """
        Data that is not an object, and types no responder of the namespace
        responds to, answer at once with an error object (cote: an
        exception, or no answer ever).
        """
        sockend = self.make()
        self.announce(sockend, "a",
                      responder(respondsTo=["add"], namespace="math"))
        err, result = self.event(sockend, "/math", "add", "text")
        self.assertEqual((err["code"], err["name"], result),
                         ("EBADREQUEST", "MeshError", None))
        err, _ = self.event(sockend, "/math", "mul", {})
        self.assertEqual(err["code"], "ENOHANDLER")
        self.assertIn("mul", err["message"])
        err, _ = self.event(sockend, "/", "add", {})
        self.assertEqual(err["code"], "ENOHANDLER")
        self.assertEqual(self.requesters[0].sent, [])

    def test_errors(self):
        """
        The responder's error, a timeout or any failure of the requester
        reach the callback as C{(errorObject, null)}, always with a message.
        """
        sockend = self.make()
        self.announce(sockend, "a", responder(respondsTo=["x"]))
        outcomes = [RemoteError({}),
                    RemoteError({"message": "no", "code": "ENOPE"}),
                    RequestTimeout("no reply"),
                    MeshError("stopped", "ESTOPPED")]
        results = []
        for outcome in outcomes:
            d = sockend.socketEvent("/", "s1", "x", [{}])
            self.requesters[0].sent[-1][3].errback(outcome)
            results.append(self.successResultOf(d))
        self.assertEqual([r[1] for r in results], [None] * 4)
        self.assertEqual([r[0]["code"] for r in results],
                         ["EREMOTE", "ENOPE", "ETIMEDOUT", "ESTOPPED"])
        self.assertTrue(all(r[0]["message"] for r in results))
        self.assertEqual(results[1][0], {"message": "no", "code": "ENOPE"})

    def test_unexpectedFailureIsLogged(self):
        """
        An unexpected exception (here from a transformer) still answers
        the callback, and is logged.
        """
        sockend = self.make()
        self.announce(sockend, "a", responder(respondsTo=["x"]))

        def broken(request, info):
            raise ZeroDivisionError("oops")

        sockend.requestTransformers.append(broken)
        err, _ = self.event(sockend, "/", "x", {})
        self.assertEqual((err["message"], err["code"], err["name"]),
                         ("oops", "EHANDLER", "ZeroDivisionError"))
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_timeoutFromRequest(self):
        """
        C{__timeout} (milliseconds, as cote) shortens the timeout, never
        lengthens it.
        """
        sockend = self.make(timeout=5.0)
        self.announce(sockend, "a", responder(respondsTo=["x"]))
        for wanted in (1500, 60000, "soon", -1, True):
            sockend.socketEvent("/", "s1", "x", [{"__timeout": wanted}])
        self.assertEqual([t for _, t, _, _ in self.requesters[0].sent],
                         [1.5, 5.0, 5.0, 5.0, 5.0])

    def test_transformers(self):
        """
        Request transformers see the request and the socket (its
        namespace, sid, HTTP environment and auth), as cote's
        C{requesterTransformators} see the socket.
        """
        sockend = self.make()
        self.announce(sockend, "a", responder(respondsTo=["whoami"]))
        self.assertTrue(self.successResultOf(sockend.socketConnected(
            "/", "s9", {"HTTP_COOKIE": "user=ann"}, {"token": "t"})))

        def addUser(request, info):
            request["user"] = info.environ["HTTP_COOKIE"].split("=")[1]
            request["token"] = info.auth["token"]
            request["sid"] = info.sid

        sockend.requestTransformers.append(addUser)
        sockend.socketEvent("/", "s9", "whoami", [{}])
        self.assertEqual(self.requesters[0].sent[0][0],
                         {"type": "whoami", "user": "ann", "token": "t",
                          "sid": "s9"})
        sockend.socketDisconnected("/", "s9")
        self.assertEqual(sockend.sockets, {})

    def test_connectHook(self):
        """
        A connection hook may refuse a socket (returning or firing
        C{False}) or put it in a room.
        """
        sockend = self.make()
        sockend.onConnect(lambda info: info.auth is not None)
        sockend.onConnect(
            lambda info: sockend.enterRoom(info.sid, "all", info.namespace))
        self.assertFalse(
            self.successResultOf(sockend.socketConnected("/", "s1", {}, None)))
        self.assertTrue(
            self.successResultOf(sockend.socketConnected("/x", "s2", {}, {})))
        self.assertEqual(self.server.rooms, [("enter", "s2", "all", "/x")])
        self.assertEqual(list(sockend.sockets), [("/x", "s2")])

    def test_roomEventsOffByDefault(self):
        """
        Without C{rooms}, C{join} is an ordinary request type.
        """
        sockend = self.make()
        self.announce(sockend, "a", responder(respondsTo=["join"]))
        sockend.socketEvent("/", "s1", "join", [{"room": "vip"}])
        self.assertEqual(self.server.rooms, [])
        self.assertEqual(len(self.requesters[0].sent), 1)

    def test_roomEvents(self):
        """
        With C{rooms}, C{emit("join", room)} and C{emit("leave", room)} move
        the socket in and out of a room of its namespace.
        """
        sockend = self.make(rooms=True)
        self.assertEqual(self.event(sockend, "/py", "join", "vip", sid="s1"),
                         (None, True))
        self.assertEqual(self.event(sockend, "/py", "leave", "vip", sid="s1"),
                         (None, True))
        self.assertEqual(self.server.rooms, [("enter", "s1", "vip", "/py"),
                                             ("leave", "s1", "vip", "/py")])
        err, _ = self.event(sockend, "/", "join", {"room": "x"})
        self.assertEqual(err["code"], "EBADREQUEST")

    def test_publications(self):
        """
        Publications of advertised topics are emitted under their topic on
        the socket.io namespace of the publisher's namespace; others are
        dropped and counted.
        """
        sockend = self.make()
        self.announce(sockend, "p",
                      publisher(broadcasts=["news"], namespace="feed"))
        (subscriber,) = self.subscribers
        self.assertEqual(subscriber.kwargs["namespace"], "feed")
        self.assertEqual([t for t, _ in subscriber.listeners], ["*"])
        subscriber.deliver("news", {"n": 1})
        subscriber.deliver("secret", {"n": 2})
        self.assertEqual(self.server.emitted,
                         [("/feed", "news", {"n": 1}, None)])
        self.assertEqual(sockend.dropped, 1)

    def test_rooms(self):
        """
        C{__room} and C{__rooms} restrict a publication to those rooms (each
        socket once) and are removed from it, as cote does; C{__rooms: []}
        reaches nobody. The published object itself is not changed.
        """
        sockend = self.make()
        self.announce(sockend, "p", publisher(broadcasts=["news"]))
        (subscriber,) = self.subscribers
        data = {"n": 1, "__room": "a", "__rooms": ["c", "b", "a"]}
        subscriber.deliver("news", data)
        subscriber.deliver("news", {"n": 2, "__room": "x"})
        subscriber.deliver("news", {"n": 3, "__rooms": "solo"})
        subscriber.deliver("news", {"n": 4, "__rooms": []})
        subscriber.deliver("news", [1, 2])
        self.assertEqual(self.server.emitted, [
            ("/", "news", {"n": 1}, ["a", "b", "c"]),
            ("/", "news", {"n": 2}, ["x"]),
            ("/", "news", {"n": 3}, ["solo"]),
            ("/", "news", [1, 2], None)])
        self.assertIn("__room", data)

    def test_stop(self):
        """
        Stopping stops the socket.io side, discovery, and every requester
        and subscriber.
        """
        sockend = self.make()
        self.announce(sockend, "a", responder())
        self.announce(sockend, "p", publisher())
        self.successResultOf(sockend.stopService())
        self.assertTrue(self.server.stopped)
        self.assertFalse(
            self.requesters[0].running or self.subscribers[0].running)
        self.assertEqual(sockend.discovery.peers, {})


class CommandLineTests(SynchronousTestCase):
    def test_defaults(self):
        """
        By default the command line serves on 127.0.0.1:5555, every
        namespace, rooms off, same-origin pages only, loopback discovery.
        """
        args = parseArguments([])
        self.assertEqual((args.host, args.port, args.namespaces, args.rooms,
                          args.corsOrigins, args.broadcast, args.multicast,
                          args.unicast),
                         ("127.0.0.1", 5555, None, False, None, None, None,
                          None))

    def test_options(self):
        args = parseArguments(["--port", "0", "--namespace", "",
                               "--namespace", "py", "--rooms",
                               "--cors-origin", "http://127.0.0.1:8000",
                               "--discovery-port", "23456"])
        self.assertEqual((args.port, args.namespaces, args.rooms,
                          args.corsOrigins, args.discoveryPort),
                         (0, ["", "py"], True, ["http://127.0.0.1:8000"],
                          23456))

    def test_needsAsyncioReactor(self):
        """
        The socket.io side refuses another reactor, saying how to fix it.
        """
        e = self.assertRaises(RuntimeError, SocketIOServer, None,
                              MemoryReactorClock())
        self.assertIn("asyncioreactor", str(e))

    def test_class(self):
        """
        The class serves on loopback unless told otherwise.
        """
        self.assertEqual(Sockend(reactor=MemoryReactorClock()).host,
                         "127.0.0.1")


# ---------------------------------------------------------------- processes


def socketioClientScript():
    """
    The socket.io 4 browser client shipped in cote's install, or L{None}.
    """
    path = os.path.join(interop.CACHE, "node_modules", "socket.io",
                        "client-dist",
                        "socket.io.min.js")
    return path if os.path.exists(path) else None


class Processes:
    """
    Processes started by a test, read as JSON lines, killed by PID.
    """

    def __init__(self, test, prefix=()):
        self.test = test
        self.prefix = list(prefix)

    def spawn(self, argv, name, **env):
        full = dict(os.environ, PYTHONPATH=ROOT)
        for key in ("COTE_KEY", "COTE_NAMESPACE", "COTE_SECRET", "COTE_ENV"):
            full.pop(key, None)
        full.update({k: str(v) for k, v in env.items()})
        peer = interop.Peer(self.prefix + argv, full, name)
        self.test.addCleanup(peer.stop)
        return peer

    def python(self, module, *args, **env):
        return self.spawn([sys.executable, "-m", module] + list(args), module,
                          **env)


def waitFor(peer, predicate, timeout=20.0):
    """
    Read JSON lines of C{peer} until one passes C{predicate}; fail at the
    deadline.
    """
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        event = peer.nextEvent(timeout=max(0.1, deadline - time.monotonic()))
        if event is None:
            break
        seen.append(event)
        if predicate(event, seen):
            return seen
    raise AssertionError(
        "{}: no such line within {} s; printed {!r} (stderr: {!r})".format(
            peer.name, timeout, peer.lines, _stderr(peer)))


def _stderr(peer):
    if peer.process.poll() is None:
        return "(running)"
    return peer.process.stderr.read().decode("utf-8", "replace")[-2000:]


def exposedAll(wanted):
    """
    A predicate for L{waitFor}: the sockend's C{exposed} lines cover
    C{wanted} (socket.io namespace to C{(requests, broadcasts)}).
    """
    def predicate(event, seen):
        latest = {}
        for e in seen:
            if e.get("event") == "exposed":
                latest[e["namespace"]] = (e["requests"], e["broadcasts"])
        return (any(e.get("event") == "listening" for e in seen)
                and all(set(r) <= set(latest.get(ns, ([], []))[0])
                        and set(b) <= set(latest.get(ns, ([], []))[1])
                        for ns, (r, b) in wanted.items()))
    return predicate


def runInThread(coroutineFunction, timeout):
    """
    Run an asyncio coroutine in a thread of its own (so it never touches
    the reactor's loop) and return its result.
    """
    outcome = {}

    def target():
        try:
            outcome["result"] = asyncio.run(
                asyncio.wait_for(coroutineFunction(), timeout))
        except BaseException as e:
            outcome["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout + 5)
    if thread.is_alive():
        raise AssertionError(
            "the client did not finish within {} s".format(timeout))
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


class LoopbackProcessTests(SynchronousTestCase):
    """
    The command line with our Responder and Publisher as processes, and
    python-socketio's client; discovery on a free port of loopback.
    """

    def test_commandLine(self):
        """
        A socket.io client calls a Python responder through the sockend,
        gets its error objects and our own, and receives publications;
        the sockend serves a static page and the socket.io client script.
        """
        discovery = str(freeUDPPort())
        static = os.path.abspath(self.mktemp())
        os.makedirs(static)
        with open(os.path.join(static, "index.html"), "w") as f:
            f.write("<p>hello from the page</p>")
        script = os.path.join(static, "client.js")
        with open(script, "w") as f:
            f.write("// a socket.io client\n")
        procs = Processes(self)
        env = {"COTE_DISCOVERY_PORT": discovery}
        rep = procs.python("tests.mesh.pypeer", "responder", **env)
        pub = procs.python("tests.mesh.pypeer", "publisher", **env)
        for peer in (rep, pub):
            waitFor(peer, lambda e, _: e.get("event") == "ready")
        sockend = procs.python(
            "cocaine.mesh.sockend", "--port", "0",
            "--discovery-port", discovery, "--hello-interval", "0.2",
            "--node-timeout", "2", "--static", static,
            "--client-script", script)
        seen = waitFor(sockend, exposedAll({"/": (["add", "fail"], ["news"])}))
        (port,) = [e["port"] for e in seen if e.get("event") == "listening"]
        base = "http://127.0.0.1:{}".format(port)
        with urllib.request.urlopen(base + "/", timeout=10) as page:
            self.assertIn(b"hello from the page", page.read())
        with urllib.request.urlopen(base + "/socket.io/socket.io.js",
                                    timeout=10) as js:
            self.assertEqual(js.read(), b"// a socket.io client\n")
            self.assertIn("javascript", js.headers["Content-Type"])

        async def client():
            import socketio

            sio = socketio.AsyncClient()
            news = asyncio.get_running_loop().create_future()
            sio.on("news", lambda data: news.done() or news.set_result(data))
            await sio.connect(base, wait_timeout=10)
            try:
                return {
                    "add": await sio.call("add", {"a": 2, "b": 3}, timeout=10),
                    "fail": await sio.call("fail", {}, timeout=10),
                    "unknown": await sio.call("nothing", timeout=10),
                    "news": await news,
                }
            finally:
                await sio.disconnect()

        results = runInThread(client, 30)
        self.assertEqual(results["add"], (None, 5))
        self.assertEqual(results["fail"], (
            {"message": "python says no", "code": "ENOPE",
             "name": "MeshError"}, None))
        self.assertEqual(results["unknown"][0]["code"], "ENOHANDLER")
        self.assertEqual(results["news"]["from"], "python")


# ---------------------------------------------------------------- browser


_browserPrepared = []


def _installChromium():
    """
    C{apt-get install chromium} when L{CHROMIUM} is missing, with
    C{apt-get update} first when that fails.

    @raise SkipTest: it could not be installed, saying why.
    """
    if os.path.exists(CHROMIUM):
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise SkipTest(
            "{} is missing and cannot be installed here (needs root and "
            "apt-get: apt-get install chromium)".format(CHROMIUM))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "install", "-y", "-q", "chromium"],
                    ["apt-get", "update", "-q"],
                    ["apt-get", "install", "-y", "-q", "chromium"]):
        try:
            result = subprocess.run(command, capture_output=True, text=True,
                                    timeout=900, env=env)
        except subprocess.TimeoutExpired:
            raise SkipTest("{} timed out".format(" ".join(command)))
        if command[1] == "install" and result.returncode == 0:
            break
    if not os.path.exists(CHROMIUM):
        raise SkipTest("apt-get install chromium failed: {}".format(
            result.stderr.strip()[-500:]))


def _prepareBrowser():
    """
    Make sure Debian's Chromium and playwright-core are installed.

    @return: the C{NODE_PATH} of playwright-core.
    @raise SkipTest: when they cannot be.
    """
    if _browserPrepared:
        if isinstance(_browserPrepared[0], SkipTest):
            raise _browserPrepared[0]
        return _browserPrepared[0]
    try:
        # as L{tests.locks.aptInstalled} does: looked for and installed
        # by one test process at a time
        with exclusive("apt-get"):
            _installChromium()
        modules = ensurePackage(PLAYWRIGHT_DIR, "playwright-core",
                                PLAYWRIGHT_VERSION)
        _browserPrepared.append(modules)
        return modules
    except SkipTest as e:
        _browserPrepared.append(e)
        raise


class BrowserTests(SynchronousTestCase):
    """
    Headless Chromium and the real socket.io browser client against the
    sockend, a real cote Responder and Publisher and ours, all in a network
    namespace of the test's own.
    """

    def setUp(self):
        self.cotePath = interop._installCote()
        self.client = socketioClientScript()
        if self.client is None:
            raise SkipTest(
                "cote's install has no socket.io/client-dist/socket.io.min.js")
        self.playwrightPath = _prepareBrowser()
        self.namespace = loopbackNamespace(
            self, "cocaine-sockend-{}-{}".format(
                os.getpid(), next(interop._counter)))
        self.procs = Processes(self, ["ip", "netns", "exec", self.namespace])

    def test_browser(self):
        """
        A page in Chromium calls a cote Responder (result, and cote's C{{}}
        error given a message) and a Python one (result, and a raised
        exception's message), gets C{ENOHANDLER} for an unknown type,
        receives a cote publication on C{"/"} and, after joining the room,
        a Python publication sent to that room on C{"/py"}.
        """
        services = os.path.join(HERE, "cote", "sockend-services.js")
        cote = self.procs.spawn(["node", services], "cote services",
                                NODE_PATH=self.cotePath)
        ours = self.procs.python("tests.mesh.sockendpeer")
        for peer in (cote, ours):
            waitFor(peer, lambda e, _: e.get("event") == "ready")
        page = os.path.abspath(self.mktemp())
        os.makedirs(page)
        shutil.copy(os.path.join(BROWSER_DIR, "index.html"), page)
        shutil.copy(self.client, os.path.join(page, "socket.io.min.js"))
        pagePort, sockendPort = 8000, 5555  # a fresh namespace: both are free
        origin = "http://127.0.0.1:{}".format(pagePort)
        sockend = self.procs.python(
            "cocaine.mesh.sockend", "--port", str(sockendPort), "--rooms",
            "--cors-origin", origin, "--hello-interval", "0.2",
            "--node-timeout", "2")
        waitFor(sockend, exposedAll({"/": (["add", "fail"], ["news"]),
                                     "/py": (["add", "boom"], ["alert"])}))
        server = self.procs.spawn(
            [sys.executable, "-u", "-c", SERVE_PAGE, page,
             str(pagePort)], "page server")
        waitFor(server, lambda e, _: e.get("event") == "ready")

        screenshot = os.environ.get("COCAINE_SCREENSHOT")
        if screenshot:  # a relative path is from the repository's root
            screenshot = os.path.join(ROOT, screenshot)
        else:
            screenshot = os.path.abspath(self.mktemp() + "-screenshot.png")
        profile = tempfile.mkdtemp(prefix="cocaine-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        browser = self.procs.spawn(
            ["node", os.path.join(BROWSER_DIR, "drive.js"),
             "{}/index.html?sockend=http://127.0.0.1:{}".format(
                 origin, sockendPort),
             screenshot, profile],
            "chromium", NODE_PATH=self.playwrightPath, HOME=profile)
        (result,) = browser.events(timeout=120)
        self.assertEqual(result["status"], "done", result)
        self.assertEqual(result["transports"], ["websocket", "websocket"])
        cells = {k: json.loads(v) for k, v in result["cells"].items()}
        self.assertEqual(cells["add"], {"err": None, "res": 5})
        self.assertEqual(cells["py-add"], {"err": None, "res": 42})
        fail = cells["fail"]["err"]
        self.assertEqual((fail["code"], fail["error"]), ("EREMOTE", {}))
        self.assertIn("without a message", fail["message"])
        self.assertEqual(cells["boom"]["err"], {
            "message": "boom from python", "code": "EHANDLER",
            "name": "ValueError"})
        self.assertEqual(cells["unknown"]["err"]["code"], "ENOHANDLER")
        self.assertEqual(cells["news"]["from"], "cote")
        self.assertEqual(cells["join"], {"err": None, "res": True})
        self.assertEqual(cells["alert"]["to"], "vip")
        self.assertNotIn("__room", cells["alert"])
        self.assertTrue(os.path.getsize(screenshot) > 1000)


#: A static HTTP server on 127.0.0.1 (the page and the socket.io client),
#: printing a JSON line once it listens: C{python -c SERVE_PAGE DIR PORT}.
SERVE_PAGE = """
import functools, http.server, json, sys
handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                            directory=sys.argv[1])
handler.func.log_message = lambda *a: None
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])),
                                         handler)
print(json.dumps({"event": "ready"}), flush=True)
server.serve_forever()
"""
