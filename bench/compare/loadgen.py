# -*- test-case-name: tests.integration.test_bench -*-
"""
The load generators and the floor server written on Twisted.

    python -m bench.compare.loadgen floor-server
    python -m bench.compare.loadgen ours --connect HOST:PORT --app NAME \\
        --workload echo --size BYTES --requests N --inflight K
    python -m bench.compare.loadgen floor --connect HOST:PORT \\
        --workload stream --count C --size BYTES
    python -m bench.compare.loadgen relay --connect HOST:PORT ...

C{ours} calls an app through a node with our client SDK: an C{echo}
request is C{enqueue("echo")}, one chunk, close, then the echoed chunk and
the close (client -> node -> worker and back), made with
C{Service.callApp("echo", payload)}, one Deferred per request as a cote
Requester's C{send} is one promise (C{--pattern channel} makes the same
messages with the channel's calls: C{enqueue}, C{write}, C{close} and a
C{recv} per message, six Deferreds); a C{stream} request is
C{enqueue("stream")} with C{b"COUNT SIZE"}, then the chunks until close,
handed to a callback as they come by C{Channel.consume}, as the floor's
bare client hands them on (C{--stream-read recv} reads them with a
C{recv} each, a Deferred a chunk, as it did until the eighteenth round
of issue 17).

C{relay} calls the two-hop floor (L{bench.compare.relay}) with its bare
client: the messages of C{ours}, no SDK.

C{floor} is what Python on Twisted does with no framework at all: a bare
msgpack echo server (one L{msgpack.Unpacker} per connection, the reply
written as soon as a request is decoded) and a bare client protocol.
Messages are Cocaine-shaped C{[channel, type, args]}: type 0 echoes
C{args}, type 1 C{[count, size]} streams C{count} chunks and a close
(type 2).

Each prints one JSON line, the contract of L{bench.compare.stats}.
"""

import argparse
import json
import sys
import time

import msgpack
from twisted.internet import defer, task
from twisted.internet.protocol import Factory, Protocol

from bench.compare.stats import hostPort, keepInFlight, streamSummary


class FloorServer(Protocol):
    """
    The floor's server side: decode, answer, no framework.
    """

    def connectionMade(self):
        self.transport.setTcpNoDelay(True)
        self.unpacker = msgpack.Unpacker(raw=True, strict_map_key=False)
        self.pack = msgpack.Packer(use_bin_type=True).pack

    def dataReceived(self, data):
        self.unpacker.feed(data)
        out = []
        for channel, mtype, args in self.unpacker:
            if mtype == 0:
                out.append(self.pack([channel, 0, args]))
            else:
                count, size = args
                chunk = self.pack([channel, 0, [b"x" * size]])
                for index in range(count):
                    out.append(chunk)
                    if len(out) == 256:
                        self.transport.write(b"".join(out))
                        del out[:]
                out.append(self.pack([channel, 2, []]))
        if out:
            self.transport.write(b"".join(out))


class FloorClient(Protocol):
    """
    The floor's client side: one callable per open channel.
    """

    def connectionMade(self):
        self.transport.setTcpNoDelay(True)
        self.unpacker = msgpack.Unpacker(raw=True, strict_map_key=False)
        self.pack = msgpack.Packer(use_bin_type=True).pack
        self.channels = {}
        self.next = 0

    def open(self, mtype, args, receive):
        self.next += 1
        self.channels[self.next] = receive
        self.transport.write(self.pack([self.next, mtype, args]))
        return self.next

    def dataReceived(self, data):
        self.unpacker.feed(data)
        for channel, mtype, args in self.unpacker:
            if self.channels[channel](mtype, args):
                del self.channels[channel]


async def floorTarget(reactor, host, port):
    """
    @return: C{(echo, stream)} callables on a bare connection.
    """
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
    client = await connectProtocol(TCP4ClientEndpoint(reactor, host, port),
                                   FloorClient())

    def echo(payload):
        d = defer.Deferred()

        def receive(mtype, args):
            d.callback(args[0])
            return True
        client.open(0, [payload], receive)
        return d

    def stream(count, size, onChunk):
        d = defer.Deferred()

        def receive(mtype, args):
            if mtype == 2:
                d.callback(None)
                return True
            onChunk(args[0])
            return False
        client.open(1, [count, size], receive)
        return d
    return echo, stream


class BadReply(Exception):
    """
    The system answered something else than what was asked for.
    """


def _readUntilClose(channel, onChunk):
    """
    Read an app's reply: every C{write} to C{onChunk}, until C{close}.
    """
    d = defer.Deferred()

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
            d.errback(BadReply("{}: {!r}".format(name, args)))
    channel.recv().addCallbacks(next, d.errback)
    return d


async def oursTarget(reactor, host, port, appName, pattern="request",
                     streamRead="consume"):
    """
    @param pattern: C{"request"} for L{cocaine.client.Service.callApp},
        C{"channel"} for the channel's own calls.
    @param streamRead: C{"consume"} reads a stream with
        C{Channel.consume}, C{"recv"} with a C{recv} a chunk.
    @return: C{(echo, stream)} callables on an app through a node.
    """
    from cocaine.client import Locator, Service
    locator = Locator(reactor, [(host, port)])
    app = Service(appName, locator)

    def answered(reply, payload):
        if reply != [payload]:
            raise BadReply("echo answered {} chunks".format(len(reply)))
        return reply[0]

    def request(payload):
        return app.callApp("echo", payload).addCallback(answered, payload)

    def echo(payload):
        reply = []

        def opened(channel):
            channel.write(payload)
            channel.close()
            return _readUntilClose(channel, reply.append)

        def check(_):
            if reply != [payload]:
                raise BadReply("echo answered {} chunks".format(len(reply)))
            return reply[0]
        return app.enqueue("echo").addCallback(opened).addCallback(check)

    def stream(count, size, onChunk):
        def opened(channel):
            channel.write("{} {}".format(count, size).encode())
            channel.close()
            if streamRead == "consume":
                return channel.consume(onChunk)
            return _readUntilClose(channel, onChunk)
        return app.enqueue("stream").addCallback(opened)
    return (request if pattern == "request" else echo), stream


async def measure(reactor, args):
    host, port = args.connect
    if args.target == "ours":
        echo, stream = await oursTarget(reactor, host, port, args.app,
                                        args.pattern, args.stream_read)
    elif args.target == "relay":
        from bench.compare.relay import relayTarget
        echo, stream = await relayTarget(reactor, host, port)
    else:
        echo, stream = await floorTarget(reactor, host, port)
    if args.workload == "echo":
        payload = b"x" * args.size
        for _ in range(min(1000, max(args.requests // 10, 10))):
            await echo(payload)
        if args.announce:
            # for a caller sampling the server's CPU over the timed part
            sys.stdout.write("timed\n")
            sys.stdout.flush()
        began = time.process_time()
        summary = await keepInFlight(lambda: echo(payload), args.requests,
                                     args.inflight)
        # the load generator's own CPU over the timed requests
        summary["client_cpu_s"] = time.process_time() - began
        return summary
    await stream(10, args.size, lambda chunk: None)        # warm-up
    clock = time.perf_counter
    first = []
    received = [0]

    def onChunk(chunk):
        if not first:
            first.append(clock())
        if len(chunk) != args.size:
            raise BadReply("a chunk of {} bytes".format(len(chunk)))
        received[0] += 1
    began = clock()
    await stream(args.count, args.size, onChunk)
    elapsed = clock() - began
    if received[0] != args.count:
        raise BadReply("{} chunks of {}".format(received[0], args.count))
    return streamSummary(args.count, args.size, elapsed, first[0] - began)


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("target",
                        choices=["ours", "floor", "relay", "floor-server"])
    parser.add_argument("--connect", type=hostPort,
                        default=("127.0.0.1", 10053), metavar="HOST:PORT")
    parser.add_argument("--app", default="echo")
    parser.add_argument("--announce", action="store_true",
                        help="print a line 'timed' when the warm-up ends")
    parser.add_argument("--pattern", choices=["request", "channel"],
                        default="request",
                        help="ours: Service.callApp, or the channel's calls")
    parser.add_argument("--stream-read", choices=["consume", "recv"],
                        default="consume",
                        help="ours: a stream read with Channel.consume, or "
                        "a recv a chunk")
    parser.add_argument("--workload", choices=["echo", "stream"],
                        default="echo")
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--inflight", type=int, default=1)
    parser.add_argument("--count", type=int, default=10000)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse(argv)
    if args.target == "floor-server":
        from twisted.internet import reactor
        port = reactor.listenTCP(0, Factory.forProtocol(FloorServer),
                                 interface="127.0.0.1")
        print("ready 127.0.0.1:{}".format(port.getHost().port), flush=True)
        reactor.run()
        return

    async def run(reactor):
        result = await measure(reactor, args)
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    task.react(lambda reactor: defer.Deferred.fromCoroutine(run(reactor)))


if __name__ == "__main__":
    main()
