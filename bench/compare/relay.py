# -*- test-case-name: tests.bench.test_relay -*-
"""
The two-hop floor: a bare Twisted relay in front of two bare worker
processes, with a bare client, all speaking the messages of a request to
an app through a node (client -> node -> worker and back), with no
framework at all.

    python -m bench.compare.relay server [--workers 2]
    python -m bench.compare.relay worker --socket NAME
    python -m bench.compare.loadgen relay --connect HOST:PORT ...

A request is what C{Service.callApp} sends and reads: on a new channel the
event (C{[channel, 0, [event]]}), the chunks (type 0), then the close
(type 2); the answer is chunks and a close. The worker answers C{echo}
with the request's chunks and C{stream} (one chunk, C{b"COUNT SIZE"}) with
COUNT chunks of SIZE bytes. The relay gives each new request to the
worker with the fewest open requests, as the node's pool does, under a
channel of its own, and sends every message on: the client's to the
worker, the worker's back under the client's channel. Every process
decodes with one L{msgpack.Unpacker} and writes once per read per peer.

The server listens on an abstract UNIX socket (nothing on disk), starts
its workers, which connect to it, and once all have connected listens on
TCP and prints C{ready 127.0.0.1:PORT} (the contract of
L{bench.peers.processes.PeerServer}). A worker that exits or hangs up
stops the relay with an error; a worker ends when the relay hangs up.

What this does is the least a client -> node -> worker design does in
Python on Twisted with the same messages: the comparison's C{ours/relay}
ratio is what ours costs over its own architecture (our client SDK,
node and uvloop workers against bare ones), C{relay/cote} what the
architecture costs.
"""

import argparse
import os
import sys

import msgpack
from twisted.internet import defer, task
from twisted.internet.protocol import Factory, ProcessProtocol, Protocol
from twisted.python.failure import Failure

from bench.arguments import positive

#: a request's first message and its chunks; the end of a stream
CHUNK, CLOSE = 0, 2


def _codec():
    return (msgpack.Unpacker(raw=True, strict_map_key=False),
            msgpack.Packer(use_bin_type=True).pack)


def _append(out, peer, data):
    pending = out.get(peer)
    if pending is None:
        out[peer] = [data]
    else:
        pending.append(data)


def _writeAll(out):
    for peer, pending in out.items():
        peer.transport.write(b"".join(pending))


class WorkerServer(Protocol):
    """
    A worker: echo and stream, over the relay's UNIX socket.

    @ivar requests: per open channel, the event and the chunks so far.
    """

    def connectionMade(self):
        self.unpacker, self.pack = _codec()
        self.requests = {}

    def dataReceived(self, data):
        self.unpacker.feed(data)
        requests, pack = self.requests, self.pack
        out = []
        for channel, mtype, args in self.unpacker:
            request = requests.get(channel)
            if request is None:
                requests[channel] = [args[0]]
            elif mtype == CHUNK:
                request.append(args[0])
            else:
                del requests[channel]
                self._answer(out, channel, request[0], request[1:])
        if out:
            self.transport.write(b"".join(out))

    def _answer(self, out, channel, event, chunks):
        pack = self.pack
        if event == b"stream":
            count, size = (int(n) for n in chunks[0].split())
            chunk = pack([channel, CHUNK, [b"x" * size]])
            for _ in range(count):
                out.append(chunk)
                if len(out) == 256:
                    self.transport.write(b"".join(out))
                    del out[:]
        else:
            for chunk in chunks:
                out.append(pack([channel, CHUNK, [chunk]]))
        out.append(pack([channel, CLOSE, []]))

    def connectionLost(self, reason):
        self.factory.done.callback(None)


class Relay:
    """
    The relay's state: its workers and the routes of open requests.

    @ivar expected: how many workers it waits for.
    @ivar workers: the connected L{WorkerLink}s.
    @ivar routes: relay channel -> C{(client, client channel)}.
    @ivar last: the last relay channel given out.
    @ivar ready: fires when every worker has connected, fails when one
        exits first.
    @ivar closing: whether the relay is shutting down (its workers go
        then, which is no error).
    """

    def __init__(self, expected):
        self.expected = expected
        self.workers = []
        self.routes = {}
        self.last = 0
        self.ready = defer.Deferred()
        self.closing = False

    def workerConnected(self, worker):
        self.workers.append(worker)
        if len(self.workers) == self.expected:
            self.ready.callback(None)

    def workerGone(self, why):
        """
        A worker exited or hung up: the relay cannot serve as measured.
        """
        if self.closing:
            return
        if not self.ready.called:
            self.ready.errback(Failure(RuntimeError(why)))
            return
        # the clients' connections drop with the process: their load
        # generators fail, and the comparison says so
        sys.stderr.write("relay: {}; exiting\n".format(why))
        sys.stderr.flush()
        os._exit(3)

    def pick(self):
        """
        @return: the worker with the fewest open requests.
        """
        best = self.workers[0]
        for worker in self.workers:
            if worker.load < best.load:
                best = worker
        return best


class WorkerLink(Protocol):
    """
    The relay's end of a worker's connection: answers back to clients.

    @ivar load: the worker's open requests.
    """

    def __init__(self, relay):
        self.relay = relay
        self.load = 0

    def connectionMade(self):
        self.unpacker, self.pack = _codec()
        self.relay.workerConnected(self)

    def dataReceived(self, data):
        self.unpacker.feed(data)
        routes, pack = self.relay.routes, self.pack
        out = {}
        for channel, mtype, args in self.unpacker:
            client, theirs = routes[channel]
            if mtype == CLOSE:
                del routes[channel]
                self.load -= 1
            _append(out, client, pack([theirs, mtype, args]))
        _writeAll(out)

    def connectionLost(self, reason):
        self.relay.workerGone("a worker hung up")


class ClientLink(Protocol):
    """
    The relay's end of a client's connection: requests to workers.

    @ivar open: client channel -> C{(worker, relay channel)}.
    """

    def __init__(self, relay):
        self.relay = relay
        self.open = {}

    def connectionMade(self):
        self.transport.setTcpNoDelay(True)
        self.unpacker, self.pack = _codec()

    def dataReceived(self, data):
        self.unpacker.feed(data)
        relay, pack, open_ = self.relay, self.pack, self.open
        out = {}
        for channel, mtype, args in self.unpacker:
            route = open_.get(channel)
            if route is None:
                worker = relay.pick()
                worker.load += 1
                relay.last += 1
                route = open_[channel] = (worker, relay.last)
                relay.routes[relay.last] = (self, channel)
            elif mtype == CLOSE:
                del open_[channel]
            worker, ours = route
            _append(out, worker, pack([ours, mtype, args]))
        _writeAll(out)


class _Worker(ProcessProtocol):
    def __init__(self, relay):
        self.relay = relay

    def processEnded(self, reason):
        self.relay.workerGone("a worker exited ({})".format(
            reason.value))


async def serve(reactor, workers):
    """
    Start the workers, wait for their connections, then serve clients.
    """
    name = "cocaine-bench-relay-{}".format(os.getpid())
    relay = Relay(workers)
    reactor.addSystemEventTrigger("before", "shutdown", setattr, relay,
                                  "closing", True)
    reactor.listenUNIX("\0" + name,
                       Factory.forProtocol(lambda: WorkerLink(relay)))
    for _ in range(workers):
        reactor.spawnProcess(
            _Worker(relay), sys.executable,
            [sys.executable, "-m", "bench.compare.relay", "worker",
             "--socket", name], env=os.environ, childFDs={2: 2})
    await relay.ready
    port = reactor.listenTCP(0, Factory.forProtocol(lambda: ClientLink(relay)),
                             interface="127.0.0.1")
    print("ready 127.0.0.1:{}".format(port.getHost().port), flush=True)
    await defer.Deferred()


async def work(reactor, name):
    """
    Serve the relay until it hangs up.
    """
    from twisted.internet.endpoints import UNIXClientEndpoint
    factory = Factory.forProtocol(WorkerServer)
    factory.done = defer.Deferred()
    await UNIXClientEndpoint(reactor, "\0" + name).connect(factory)
    await factory.done


class RelayClient(Protocol):
    """
    The bare client: a request's messages out, its answer's in.

    @ivar waiting: channel -> C{(onChunk, Deferred)} of open requests.
    """

    def connectionMade(self):
        self.transport.setTcpNoDelay(True)
        self.unpacker, self.pack = _codec()
        self.waiting = {}
        self.next = 0

    def request(self, event, chunk, onChunk):
        """
        Send C{event}, one chunk and the close on a new channel.

        @return: a Deferred that fires when the answer is closed.
        """
        self.next += 1
        channel, pack = self.next, self.pack
        d = defer.Deferred()
        self.waiting[channel] = (onChunk, d)
        self.transport.write(pack([channel, CHUNK, [event]])
                             + pack([channel, CHUNK, [chunk]])
                             + pack([channel, CLOSE, []]))
        return d

    def dataReceived(self, data):
        self.unpacker.feed(data)
        for channel, mtype, args in self.unpacker:
            onChunk, d = self.waiting[channel]
            if mtype == CLOSE:
                del self.waiting[channel]
                d.callback(None)
            else:
                onChunk(args[0])


async def relayTarget(reactor, host, port):
    """
    @return: C{(echo, stream)} callables on a bare connection to the
        relay (L{bench.compare.loadgen}'s contract).
    """
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
    client = await connectProtocol(TCP4ClientEndpoint(reactor, host, port),
                                   RelayClient())

    def echo(payload):
        reply = []

        def check(_):
            if reply != [payload]:
                raise ValueError("echo answered {} chunks".format(
                    len(reply)))
            return reply[0]
        return client.request(b"echo", payload, reply.append).addCallback(
            check)

    def stream(count, size, onChunk):
        return client.request(b"stream", "{} {}".format(
            count, size).encode(), onChunk)
    return echo, stream


def parse(argv):
    """
    @return: the command line's arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("role", choices=["server", "worker"])
    parser.add_argument("--workers", type=positive, default=2,
                        help="worker processes (server; at least 1)")
    parser.add_argument("--socket", help="the name of the relay's "
                        "abstract UNIX socket (worker)")
    return parser.parse_args(argv)


def main(argv=None):
    """
    Run the relay's server or one of its workers.
    """
    args = parse(argv)
    if args.role == "server":
        task.react(lambda reactor: defer.Deferred.fromCoroutine(
            serve(reactor, args.workers)))
    else:
        task.react(lambda reactor: defer.Deferred.fromCoroutine(
            work(reactor, args.socket)))


__all__ = ["Relay", "WorkerLink", "ClientLink", "WorkerServer",
           "RelayClient", "relayTarget"]


if __name__ == "__main__":
    main()
