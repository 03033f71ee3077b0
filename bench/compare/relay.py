"""
The two-hop floor: a bare Twisted relay in front of two bare worker
processes, the shape of ours (client -> node -> worker and back) with no
framework at all.

    python -m bench.compare.relay server [--workers 2]
    python -m bench.compare.relay worker --socket PATH

The server listens on a UNIX socket of a temporary directory, starts its
workers, which connect to it, and once all have connected listens on TCP
and prints C{ready 127.0.0.1:PORT} (the contract of
L{bench.peers.processes.PeerServer}). Clients speak the floor's protocol
(L{bench.compare.loadgen.FloorClient}): the relay gives each new request
to the worker with the fewest open requests, as the node's pool does,
under a channel of its own, and sends the worker's replies back under the
client's channel. Each side decodes with one L{msgpack.Unpacker} and
writes once per read per peer, as the floor does.

What the relay does is the least any client -> node -> worker design does
in Python on Twisted: the table's C{ours/relay} ratio is what ours costs
over its own architecture, C{relay/cote} what the architecture costs.
A worker ends when its connection to the relay closes.
"""

import argparse
import os
import shutil
import sys
import tempfile

import msgpack
from twisted.internet import defer, task
from twisted.internet.protocol import Factory, ProcessProtocol, Protocol

from bench.compare.loadgen import FloorServer

#: the floor's message types: an echo's request and its one reply, a
#: stream's request, a stream's close
ECHO, STREAM, CLOSE = 0, 1, 2


class WorkerServer(FloorServer):
    """
    A worker: the floor's echo and stream, over the relay's UNIX socket.
    """

    def connectionMade(self):
        self.unpacker = msgpack.Unpacker(raw=True, strict_map_key=False)
        self.pack = msgpack.Packer(use_bin_type=True).pack

    def connectionLost(self, reason):
        self.factory.done.callback(None)


class Relay:
    """
    The relay's routes: which client channel each of its own channels
    answers, and how many requests each worker holds.

    @ivar workers: the connected L{WorkerLink}s.
    @ivar routes: relay channel -> C{(client, client channel, whether the
        first reply ends it)}.
    """

    def __init__(self, expected):
        self.expected = expected
        self.workers = []
        self.routes = {}
        self.last = 0
        self.ready = defer.Deferred()

    def workerConnected(self, worker):
        self.workers.append(worker)
        if len(self.workers) == self.expected:
            self.ready.callback(None)

    def pick(self):
        best = self.workers[0]
        for worker in self.workers:
            if worker.load < best.load:
                best = worker
        return best


class WorkerLink(Protocol):
    """
    The relay's end of a worker's connection: replies back to clients.
    """

    def __init__(self, relay):
        self.relay = relay
        self.load = 0

    def connectionMade(self):
        self.unpacker = msgpack.Unpacker(raw=True, strict_map_key=False)
        self.pack = msgpack.Packer(use_bin_type=True).pack
        self.relay.workerConnected(self)

    def dataReceived(self, data):
        self.unpacker.feed(data)
        routes, pack = self.relay.routes, self.pack
        out = {}
        for channel, mtype, args in self.unpacker:
            client, theirs, once = routes[channel]
            if mtype == CLOSE or once:
                del routes[channel]
                self.load -= 1
            pending = out.get(client)
            if pending is None:
                pending = out[client] = []
            pending.append(pack([theirs, mtype, args]))
        for client, pending in out.items():
            client.transport.write(b"".join(pending))


class ClientLink(Protocol):
    """
    The relay's end of a client's connection: requests to workers.
    """

    def __init__(self, relay):
        self.relay = relay

    def connectionMade(self):
        self.transport.setTcpNoDelay(True)
        self.unpacker = msgpack.Unpacker(raw=True, strict_map_key=False)
        self.pack = msgpack.Packer(use_bin_type=True).pack

    def dataReceived(self, data):
        self.unpacker.feed(data)
        relay, pack = self.relay, self.pack
        routes = relay.routes
        out = {}
        for channel, mtype, args in self.unpacker:
            worker = relay.pick()
            worker.load += 1
            relay.last += 1
            routes[relay.last] = (self, channel, mtype == ECHO)
            pending = out.get(worker)
            if pending is None:
                pending = out[worker] = []
            pending.append(pack([relay.last, mtype, args]))
        for worker, pending in out.items():
            worker.transport.write(b"".join(pending))


async def serve(reactor, workers):
    """
    Start the workers, wait for their connections, then serve clients.
    """
    directory = tempfile.mkdtemp(prefix="cocaine-bench-relay-")
    reactor.addSystemEventTrigger("after", "shutdown", shutil.rmtree,
                                  directory, True)
    path = os.path.join(directory, "workers.sock")
    relay = Relay(workers)
    reactor.listenUNIX(path, Factory.forProtocol(lambda: WorkerLink(relay)))
    for _ in range(workers):
        reactor.spawnProcess(
            ProcessProtocol(), sys.executable,
            [sys.executable, "-m", "bench.compare.relay", "worker",
             "--socket", path], env=os.environ, childFDs={2: 2})
    await relay.ready
    port = reactor.listenTCP(0, Factory.forProtocol(lambda: ClientLink(relay)),
                             interface="127.0.0.1")
    print("ready 127.0.0.1:{}".format(port.getHost().port), flush=True)
    await defer.Deferred()


async def work(reactor, path):
    """
    Serve the relay until it closes the connection.
    """
    from twisted.internet.endpoints import UNIXClientEndpoint
    factory = Factory.forProtocol(WorkerServer)
    factory.done = defer.Deferred()
    await UNIXClientEndpoint(reactor, path).connect(factory)
    await factory.done


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("role", choices=["server", "worker"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--socket", help="the relay's UNIX socket (worker)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    if args.role == "server":
        task.react(lambda reactor: defer.Deferred.fromCoroutine(
            serve(reactor, args.workers)))
    else:
        task.react(lambda reactor: defer.Deferred.fromCoroutine(
            work(reactor, args.socket)))


if __name__ == "__main__":
    main()
