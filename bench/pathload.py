# -*- test-case-name: tests.bench.test_paths -*-
"""
One workload of L{bench.paths}, run in a process of its own with the
tree to measure first on C{sys.path}:

    python bench/pathload.py WORKLOAD REQUESTS

Standalone on purpose: it imports only C{cocaine}, and copes with the
module layout of older revisions (so a revision from before a refactor is
measured with the same code).

Workloads, each in one process, no sockets, 16 requests a read (or
C{PATHLOAD_BATCH} of them: 1 is a client that waits for each answer):
  - C{app}: a client's C{enqueue}, chunk and close through the server
    protocol into an app's engine, and the worker's answer back;
  - C{frames}: only the app workload's reads made, nothing served
    (what C{app} and the C{forward} workloads count besides the node);
  - C{forward}: the same reads through a bare forwarder in memory, the
    shape of C{bench.compare.relay} (decode, the least loaded worker, the
    channel rewritten, one write a read a peer): the two-hop floor;
    C{forward-machine} with a typed Automat machine a session as well,
    C{forward-accounting} with the engine's stats and running set too;
  - C{stream}: one session streaming back, the worker's 1 KiB chunks 64
    a read through the engine to the client's connection (a "request" is
    a chunk: the node's cost per chunk an app streams);
  - C{storage}: C{storage.read} of a 16-byte value from memory storage
    through the server protocol;
  - C{worker}: the worker SDK serving C{ping} (invoke and close in, a
    chunk and close out);
  - C{worker-loop}: the same on the SDK's real event loop and a real UNIX
    socket, its peer in a process of its own (not counted): what the
    event loop costs (uvloop or asyncio's, C{COCAINE_WORKER_LOOP});
  - C{worker-echo}, C{worker-echo-loop}: the same two serving the echo
    app's C{async def echo} (invoke, a 16-byte chunk and close in; the
    chunk and close out): a coroutine handler's cost;
  - C{client-app}: the client SDK's side of an app echo, as
    C{bench.compare.loadgen ours --pattern channel} makes it: C{Service(app).enqueue("echo")},
    a chunk, close, then reading to the close; 16 in flight, a new request
    started as one ends, the node's answers fed from memory into the
    client's protocol (a chunk and a close per request, 16 requests a
    read);
  - C{client-request}: the same echo through C{Service.callApp(event,
    payload)}: the same messages, one Deferred for the exchange;
  - C{client-stream}: the client SDK reading an app's stream of 1 KiB
    chunks, 64 a read, a C{recv} a chunk (a "request" is a chunk);
    C{client-consume} the same with C{Channel.consume}, as
    C{bench.compare.loadgen}'s C{stream} reads;
  - C{client-call}: the client SDK's plain call, C{storage.read} of a
    16-byte value, the same way (the value's message per request).
"""

import os
import sys
import tempfile

# Run as a script, this file's directory (bench/) comes first on sys.path,
# where bench/http.py would stand in for the standard library's http.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(
        os.path.abspath(__file__)):
    del sys.path[0]

import asyncio
import atexit
import shutil

import msgpack
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport



def _batch(environ):
    """
    @return: the requests a read C{PATHLOAD_BATCH} in C{environ} asks
        for, 16 when it is not set.
    @raise SystemExit: it is not a whole number of at least 1.
    """
    text = environ.get("PATHLOAD_BATCH", "16")
    try:
        batch = int(text)
    except ValueError:
        batch = 0
    if batch < 1:
        raise SystemExit("PATHLOAD_BATCH: a whole number of requests a "
                         "read, at least 1, not {!r}".format(text))
    return batch


#: requests a read (see the module's docstring)
BATCH = _batch(os.environ)
PAYLOAD = b"0123456789abcdef"


class _Transport(StringTransport):
    def write(self, data):
        pass

    def getPeer(self):
        return IPv4Address("TCP", "127.0.0.1", 1)


def _hostedService(*args):
    try:
        from cocaine.rpc.hosting import HostedService
    except ImportError:  # before the split of cocaine.rpc.server
        from cocaine.rpc.server import HostedService
    return HostedService(*args)


def _serverProtocol(hosted, clock=None):
    """
    A server protocol with the connection limits a node's ports have
    (issue 14), on revisions that have them.
    """
    from cocaine.rpc.server import ServerProtocol
    try:
        from cocaine.config import parse
        from cocaine.rpc.limits import ConnectionLimits
    except ImportError:
        return ServerProtocol(hosted)
    limits = ConnectionLimits.fromNetwork(parse({}).network)
    if clock is None:
        from twisted.internet.task import Clock
        clock = Clock()
    return ServerProtocol(hosted, limits=limits, reactor=clock)


class _Port:
    def stopListening(self):
        pass


class _Isolate:
    def __init__(self):
        self.args = None

    def spawn(self, protocol, executable, args, env, cwd, name):
        self.args = args
        return type("Process", (), {"pid": 1000})()

    def signalGroup(self, pid, signum):
        return True


def _appNode(guard=None):
    """
    @param guard: the L{cocaine.auth.guard.Guard} of the app's service,
        or L{None} for auth off.
    @return: C{(engine, worker, server)}: an app's engine with one active
        worker connected in memory, and a client's server protocol on it.
    """
    from cocaine.engine.engine import AppEngine
    from cocaine.engine.manifest import parseManifest, parseProfile
    from cocaine.engine.service import AppService
    try:
        from cocaine.engine.connection import WorkerConnection
    except ImportError:
        from cocaine.engine.worker import WorkerConnection
    clock = Clock()
    clock.listenUNIX = lambda path, factory, **kw: _Port()
    isolate = _Isolate()
    runtime = tempfile.mkdtemp(prefix="cocaine-pathload-")
    atexit.register(shutil.rmtree, runtime, True)
    engine = AppEngine(
        clock, "app", parseManifest({"slave": "w"}, "app"),
        parseProfile({"concurrency": 10000, "queue-limit": 100000}, "p"),
        "/apps/app", isolate, runtime,
        lambda: "127.0.0.1:1", None, environ={})
    # its fake transports have no peer to check
    engine.admits = lambda worker, transport: True
    engine.start()
    engine.pin(1)
    uuid = isolate.args[isolate.args.index("--uuid") + 1]
    worker = WorkerConnection(engine)
    worker.makeConnection(_Transport())
    worker.dataReceived(msgpack.packb([1, 0, [uuid]]))
    server = _serverProtocol(_hostedService("app", AppService(engine),
                                            AppService.protocol, 1, guard),
                             clock)
    server.makeConnection(_Transport())
    return engine, worker, server


def _appReads(requests, headers=()):
    """
    The app workloads' reads, made as they are consumed: per C{BATCH}
    requests, the client's (each request's enqueue, chunk and close) and
    the worker's answers (a chunk and a close each, on the worker's
    channels, which start at 2).

    @param headers: the header entries of each enqueue.
    """
    headers = list(headers)
    for first in range(0, requests, BATCH):
        channels = range(first + 1, first + 1 + BATCH)
        yield (b"".join(
            msgpack.packb([c, 0, ["echo"], headers])
            + msgpack.packb([c, 0, [PAYLOAD]]) + msgpack.packb([c, 2, []])
            for c in channels),
            b"".join(msgpack.packb([c + 1, 0, [PAYLOAD]]) + msgpack.packb(
                [c + 1, 2, []]) for c in channels))


def app(requests):
    engine, worker, server = _appNode()
    for fromClient, fromWorker in _appReads(requests):
        server.dataReceived(fromClient)
        worker.dataReceived(fromWorker)


def appAuth(requests):
    """
    The C{app} workload with token auth on: the service has a guard and
    every enqueue carries the C{authorization} header of a client with a
    token (a literal entry, as the client SDK sends it).
    """
    import time

    from cocaine.auth.authenticators import TokenAuthenticator
    from cocaine.auth.guard import Guard
    from cocaine.auth.token import issue
    from cocaine.protocol.client import authorizationHeader, openingHeaders
    from twisted.internet.task import Clock
    secret = b"pathload secret of at least 32 bytes"
    clock = Clock()
    clock.advance(time.time())
    guard = Guard(clock, TokenAuthenticator([secret]))
    token = issue(secret, uids=[0], expiry=int(time.time()) + 3600)
    entries = openingHeaders(None, authorizationHeader(token))
    engine, worker, server = _appNode(guard)
    for fromClient, fromWorker in _appReads(requests, entries):
        server.dataReceived(fromClient)
        worker.dataReceived(fromWorker)


def frames(requests):
    """
    The app workloads' reads made and nothing served: what C{app} and the
    C{forward} workloads count besides the node's work.
    """
    for _ in _appReads(requests):
        pass


def _forward(requests, level):
    """
    The two-hop floor in memory (C{bench.compare.relay}'s shape): the
    app workload's reads through a bare forwarder, then with a session
    machine, then with the engine's accounting, to price each.

    One worker, as in the app workload (whose reads answer on one
    worker's channels): choosing it is the least loaded's loop over one.

    @param level: 0 bare; 1 with a typed Automat machine a session (made
        as the node makes one, inputs for the two ends of the streams); 2
        with the engine's stats and running set as well.
    """
    from typing import Protocol

    from automat import TypeMachineBuilder

    from cocaine.engine.stats import AppStats
    from cocaine.protocol.framing import Decoder, Encoder
    from cocaine.statemachine import build, constructor

    class Inputs(Protocol):
        def requestEnded(self) -> None:
            "The client closed its stream."

        def responseEnded(self) -> None:
            "The worker closed its stream."

    class Session:
        __slots__ = ("channel", "worker", "theirs", "machine", "began")

    stats, running = AppStats(Clock()), set()
    builder = TypeMachineBuilder(Inputs, Session)
    open_ = builder.state("open")
    answering = builder.state("answering")
    over = builder.state("over")

    @open_.upon(Inputs.requestEnded).to(answering)
    def _requestEnded(inputs, session):
        pass

    @open_.upon(Inputs.responseEnded).to(over)
    @answering.upon(Inputs.responseEnded).to(over)
    def _over(inputs, session):
        if level >= 2:
            stats.succeeded(session.began)
            running.discard(session)
    make = constructor(build(builder))

    class Worker:
        def __init__(self):
            self.sessions, self.next = {}, 2
            self.transport = _Transport()
    workers = [Worker()]
    sessions, pack = {}, Encoder().pack
    fromClient, fromWorkers = Decoder(), Decoder()
    client = _Transport()
    for clientRead, workerRead in _appReads(requests):
        out = {}
        for channel, mtype, args, _ in fromClient.feed(clientRead):
            session = sessions.get(channel)
            if session is None:
                worker = min(workers, key=lambda w: len(w.sessions))
                session = sessions[channel] = Session()
                session.channel, session.worker = channel, worker
                session.theirs = theirs = worker.next
                worker.next += 1
                worker.sessions[theirs] = session
                if level >= 1:
                    session.machine = make(session)
                if level >= 2:
                    session.began = stats.now()
                    running.add(session)
                data = pack([theirs, 0, [args[0]]])
            elif mtype == 0:
                data = pack([session.theirs, 0, args])
            else:
                del sessions[channel]
                data = pack([session.theirs, 2, []])
                if level >= 1:
                    session.machine.requestEnded()
            pending = out.get(session.worker)
            if pending is None:
                out[session.worker] = [data]
            else:
                pending.append(data)
        for worker, pending in out.items():
            worker.transport.write(b"".join(pending))
        worker = workers[0]
        answers = []
        for channel, mtype, args, _ in fromWorkers.feed(workerRead):
            session = worker.sessions[channel]
            if mtype == 0:
                answers.append(pack([session.channel, 0, args]))
            else:
                del worker.sessions[channel]
                answers.append(pack([session.channel, 2, []]))
                if level >= 1:
                    session.machine.responseEnded()
        client.write(b"".join(answers))
    if sessions or workers[0].sessions or running:
        raise SystemExit("the forwarder left requests open")


def stream(requests):
    engine, worker, server = _appNode()
    server.dataReceived(msgpack.packb([1, 0, ["stream"], []])
                        + msgpack.packb([1, 0, [b"x"]])
                        + msgpack.packb([1, 2, []]))
    read = b"".join(msgpack.packb([2, 0, [b"y" * 1024]]) for _ in range(64))
    for _ in range(0, requests, 64):
        worker.dataReceived(read)
    if engine.stats.ok or len(engine.running) != 1:
        raise SystemExit("the stream's session did not stay open")


def storage(requests):
    from cocaine.storage.memory import MemoryStorage
    from cocaine.storage.service import StorageService
    backend = MemoryStorage()
    backend.write("c", "k", PAYLOAD, [])
    service = StorageService(backend)
    server = _serverProtocol(_hostedService("storage", service,
                                            service.protocol,
                                            service.version))
    server.makeConnection(_Transport())
    for first in range(0, requests, BATCH):
        server.dataReceived(b"".join(
            msgpack.packb([c, 0, ["c", "k"], []])
            for c in range(first + 1, first + 1 + BATCH)))


def _ping(request, response):
    response.write(b"pong")
    response.close()


async def _echo(request, response):
    # the example echo app's handler (examples/apps/echo)
    async for chunk in request:
        response.write(chunk)
    response.close()


#: what each worker workload serves: the handler and the messages of one
#: request on channel C{c} (the event's name is the workload's)
_SERVED = {
    "ping": (_ping, lambda c: msgpack.packb([c, 0, ["ping"]])
             + msgpack.packb([c, 2, []])),
    "echo": (_echo, lambda c: msgpack.packb([c, 0, ["echo"]])
             + msgpack.packb([c, 0, [PAYLOAD]]) + msgpack.packb([c, 2, []])),
}


def worker(requests, event="ping"):
    import cocaine.worker.worker as sdk

    handler, messages = _SERVED[event]

    class Connection:
        def write(self, data):
            pass

        async def drain(self):
            pass

    serving = sdk.Worker(app="app", endpoint="/nonexistent",
                         uuid="uuid", locator="127.0.0.1:1", argv=[])
    serving._connection = Connection()
    serving._decoder = sdk.Decoder()
    serving.on(event, handler)

    async def run():
        for first in range(0, requests, BATCH):
            serving._received(b"".join(
                messages(c) for c in range(first + 2, first + 2 + BATCH)))
            # the sessions' tasks run, then their writes are flushed
            await asyncio.sleep(0)
            await asyncio.sleep(0)
    asyncio.run(run())


def workerEcho(requests):
    """
    The worker SDK serving the echo app's C{async def echo} (invoke, a
    16-byte chunk and close in; the chunk and close out), eager as the
    example app is (C{COCAINE_WORKER_EAGER=1} unless the environment sets
    it; a revision without eager handlers ignores it).
    """
    os.environ.setdefault("COCAINE_WORKER_EAGER", "1")
    worker(requests, "echo")


#: The peer of L{workerLoop}, run natively in a process of its own (not
#: under callgrind): it accepts the worker on the listening socket it is
#: given, sends it batches of pings and reads their answers to the close.
_DRIVER = """
import socket, sys, msgpack
listener = socket.socket(fileno=int(sys.argv[1]))
requests, batch = int(sys.argv[2]), int(sys.argv[3])
event, payload = sys.argv[4], sys.argv[5].encode()
connection, _ = listener.accept()
unpacker = msgpack.Unpacker()
for first in range(0, requests, batch):
    connection.sendall(b"".join(
        msgpack.packb([c, 0, [event]])
        + (msgpack.packb([c, 0, [payload]]) if payload else b"")
        + msgpack.packb([c, 2, []])
        for c in range(first + 2, first + 2 + batch)))
    closed = 0
    while closed < batch:
        data = connection.recv(65536)
        if not data:
            sys.exit("the worker went away")
        unpacker.feed(data)
        closed += sum(1 for m in unpacker if m[1] == 2 and m[0] != 1)
connection.close()
"""


def workerLoop(requests, event="ping"):
    """
    The worker SDK serving C{ping} (or C{event} of L{_SERVED}) on its real
    event loop (uvloop's where the SDK picks it, C{COCAINE_WORKER_LOOP})
    over a real UNIX socket.
    """
    import socket
    import subprocess
    import cocaine.worker.worker as sdk

    directory = tempfile.mkdtemp(prefix="cocaine-pathload-")
    atexit.register(shutil.rmtree, directory, True)
    path = os.path.join(directory, "worker.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    driver = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, str(listener.fileno()),
         str(requests), str(BATCH), event,
         PAYLOAD.decode() if event == "echo" else ""],
        pass_fds=(listener.fileno(),))
    listener.close()
    serving = sdk.Worker(app="app", endpoint=path, uuid="uuid",
                         locator="127.0.0.1:1", argv=[])
    serving.on(event, _SERVED[event][0])
    run = getattr(sdk, "runLoop", asyncio.run)
    run(serving.serve())
    if driver.wait() != 0:
        raise SystemExit("the driver failed")


def workerEchoLoop(requests):
    """
    L{workerEcho} on the SDK's real event loop and a UNIX socket.
    """
    os.environ.setdefault("COCAINE_WORKER_EAGER", "1")
    workerLoop(requests, "echo")


class _Connecting(Clock):
    """
    A reactor whose TCP connections are made at once to a transport that
    drops what is written: the client SDK connects through it as through
    a real one (its endpoints and the wrapping protocol), no sockets.
    """

    def connectTCP(self, host, port, factory, timeout=30, bindAddress=None):
        protocol = factory.buildProtocol(IPv4Address("TCP", host, port))
        protocol.makeConnection(_Transport())


class _Resolved:
    """
    A locator that knows one service's endpoint and dispatch graph (the
    client SDK's resolve is not what the workloads measure).
    """

    authorization = None
    tls = None

    def __init__(self, reactor, protocol, version):
        self.reactor = reactor
        self._answer = ([["127.0.0.1", 1]], version, protocol.graph())

    def resolve(self, name, *seed, timeout=None):
        return succeed(self._answer)


def _connected(name, protocol, version):
    """
    @return: a client SDK L{cocaine.client.Service} of C{name}, connected in
        memory, and its connection (a
        L{cocaine.rpc.client.ClientProtocol}) to feed the answers into.
    """
    from cocaine.client import Service
    service = Service(name, _Resolved(_Connecting(), protocol, version))
    ready = []
    service.ready().addCallback(ready.append)
    if not ready:
        raise SystemExit("the client SDK did not connect in memory")
    return service, service._connection


def _inFlight(call, requests, answers):
    """
    Keep L{BATCH} calls in flight, starting a new one as one ends (as
    C{bench.compare.stats.keepInFlight} does, without its clock), until
    C{requests} have ended; after each L{BATCH} calls started, feed their
    answers in one read with C{answers(firstChannel)}.
    """
    state = {"sent": 0, "ended": 0}
    failures = []

    def ended(result):
        state["ended"] += 1
        if state["sent"] < requests:
            send()

    def failed(failure):
        failures.append(failure)
        ended(None)

    def send():
        state["sent"] += 1
        call().addCallbacks(ended, failed)

    for _ in range(min(BATCH, requests)):
        send()
    for first in range(1, requests + 1, BATCH):
        answers(first)
    if failures or state["ended"] != requests:
        raise SystemExit("{} of {} calls ended, {} failed: {}".format(
            state["ended"], requests, len(failures),
            failures[0] if failures else ""))


def _framer():
    """
    @return: C{frames(messages)}: the bytes of C{messages} one after the
        other, packed in one call (an array of them, less its header).
    """
    packer = msgpack.Packer(use_bin_type=True)
    pack, header = packer.pack, packer.pack_array_header

    def frames(messages):
        return pack(messages)[len(header(len(messages))):]
    return frames


def _readUntilClose(channel, onChunk):
    # bench.compare.loadgen's, mirrored (this file imports only cocaine)
    d = Deferred()

    def next(event):
        name, args = event
        if name == "close":
            d.callback(None)
        elif name == "write":
            onChunk(args[0])
            channel.recv().addCallbacks(next, d.errback)
        elif name == "error":
            d.errback(args)
        else:
            d.errback(ValueError("{}: {!r}".format(name, args)))
    channel.recv().addCallbacks(next, d.errback)
    return d


def clientApp(requests):
    """
    The client SDK's side of an app echo: C{oursTarget}'s C{echo} of
    C{bench.compare.loadgen --pattern channel}, mirrored.
    """
    from cocaine.protocol.services import APP, APP_VERSION
    app, connection = _connected("echo", APP, APP_VERSION)
    frames = _framer()

    def echo(payload):
        reply = []

        def opened(channel):
            channel.write(payload)
            channel.close()
            return _readUntilClose(channel, reply.append)

        def check(_):
            if reply != [payload]:
                raise ValueError("echo answered {} chunks".format(
                    len(reply)))
            return reply[0]
        return app.enqueue("echo").addCallback(opened).addCallback(check)

    def answers(first):
        connection.dataReceived(frames([
            message for c in range(first, first + BATCH)
            for message in ([c, 0, [PAYLOAD]], [c, 2, []])]))

    _inFlight(lambda: echo(PAYLOAD), requests, answers)


def clientRequest(requests):
    """
    The client SDK's side of an app echo made with C{Service.callApp}
    (C{bench.compare.loadgen}'s C{echo} since it exists): the same
    messages as C{client-app}, one Deferred per request.
    """
    from cocaine.protocol.services import APP, APP_VERSION
    app, connection = _connected("echo", APP, APP_VERSION)
    frames = _framer()

    def check(reply):
        if reply != [PAYLOAD]:
            raise ValueError("echo answered {} chunks".format(len(reply)))
        return reply[0]

    def answers(first):
        connection.dataReceived(frames([
            message for c in range(first, first + BATCH)
            for message in ([c, 0, [PAYLOAD]], [c, 2, []])]))

    _inFlight(lambda: app.callApp("echo", PAYLOAD).addCallback(check),
              requests, answers)


def clientStream(requests, consume=False):
    """
    The client SDK reading an app's stream a C{recv} a chunk, as
    C{bench.compare.loadgen}'s C{stream} did, or with C{consume} (one
    Deferred for the stream), as it does: one C{enqueue("stream")}, then
    1 KiB chunks, 64 a read (a "request" is a chunk).
    """
    from cocaine.protocol.services import APP, APP_VERSION
    app, connection = _connected("echo", APP, APP_VERSION)
    frames = _framer()
    opened = []
    app.enqueue("stream").addCallback(opened.append)
    channel = opened[0]
    got = []
    if consume:
        ended = channel.consume(got.append)
    else:
        ended = _readUntilClose(channel, got.append)
    chunk = b"x" * 1024
    for first in range(0, requests, 64):
        connection.dataReceived(frames(
            [[channel.id, 0, [chunk]]] * min(64, requests - first)))
    connection.dataReceived(frames([[channel.id, 2, []]]))
    if len(got) != requests or not ended.called:
        raise SystemExit("the stream was not read whole")


def clientCall(requests):
    """
    The client SDK's plain call: C{storage.read} of a value.
    """
    from cocaine.protocol.services import STORAGE, STORAGE_VERSION
    storage, connection = _connected("storage", STORAGE, STORAGE_VERSION)
    frames = _framer()

    def answers(first):
        connection.dataReceived(frames([
            [c, 0, [PAYLOAD]] for c in range(first, first + BATCH)]))

    _inFlight(lambda: storage.read("c", "k"), requests, answers)


WORKLOADS = {"app": app, "app-auth": appAuth, "frames": frames,
             "forward": lambda requests: _forward(requests, 0),
             "forward-machine": lambda requests: _forward(requests, 1),
             "forward-accounting": lambda requests: _forward(requests, 2),
             "stream": stream, "storage": storage, "worker": worker,
             "worker-loop": workerLoop, "worker-echo": workerEcho,
             "worker-echo-loop": workerEchoLoop, "client-app": clientApp,
             "client-request": clientRequest, "client-call": clientCall,
             "client-stream": clientStream,
             "client-consume": lambda requests: clientStream(requests, True)}

if __name__ == "__main__":
    WORKLOADS[sys.argv[1]](int(sys.argv[2]))
