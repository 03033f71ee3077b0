# -*- test-case-name: tests.bench.test_http -*-
"""
Bare HTTP servers answering C{b"hello"} to every request, one process
each, for L{bench.httpservers}:

    python http_servers.py twisted|httptools|cocaine [PORT]

  - C{twisted}: C{twisted.web.server.Site} with one leaf resource, as
    shipped (no log file);
  - C{httptools}: the smallest keep-alive server on httptools' C parser
    under a Twisted protocol (one write per read, TCP_NODELAY): what a C
    parser costs without any framework;
  - C{cocaine}: our server, L{cocaine.http.server}, with a handler that
    answers the same.

Prints C{ready PORT} once listening on 127.0.0.1, then serves until
SIGTERM.
"""

import sys

from twisted.internet import reactor
from twisted.internet.protocol import Factory, Protocol

HELLO = b"hello"
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 5\r\n\r\n" + HELLO)
CLOSING = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
           b"Content-Length: 5\r\nConnection: close\r\n\r\n" + HELLO)
BAD = (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
       b"Connection: close\r\n\r\n")


def twistedWeb():
    from twisted.web.resource import Resource
    from twisted.web.server import Site

    class Hello(Resource):
        isLeaf = True

        def render(self, request):
            request.setHeader(b"content-type", b"text/plain")
            return HELLO

    return Site(Hello())


class BareHello(Protocol):
    """
    The httptools parser fed from C{dataReceived}; the answers to one read
    go out in one write.
    """

    def connectionMade(self):
        import httptools
        self.transport.setTcpNoDelay(True)
        self.parser = httptools.HttpRequestParser(self)
        self.error = httptools.HttpParserError
        self.out = []
        self.closing = False

    def on_message_complete(self):
        if self.parser.should_keep_alive():
            self.out.append(RESPONSE)
        else:
            self.out.append(CLOSING)
            self.closing = True

    def dataReceived(self, data):
        if self.closing:
            return
        try:
            self.parser.feed_data(data)
        except self.error:
            self.out.append(BAD)
            self.closing = True
        if self.out:
            self.transport.write(b"".join(self.out))
            del self.out[:]
        if self.closing:
            self.transport.loseConnection()


def bareHttptools():
    return Factory.forProtocol(BareHello)


class Hello:
    """
    The handler of L{cocaine.http.server.HTTPFactory}: one response in one
    write.
    """

    def handleRequest(self, request, responder):
        responder.respond(200, [(b"Content-Type", b"text/plain")], HELLO)


def ours():
    from cocaine.http.server import HTTPFactory
    return HTTPFactory(reactor, Hello())


SERVERS = {"twisted": twistedWeb, "httptools": bareHttptools,
           "cocaine": ours}


def main(argv):
    kind = argv[0]
    port = int(argv[1]) if len(argv) > 1 else 0
    listening = reactor.listenTCP(port, SERVERS[kind](), backlog=1024,
                                  interface="127.0.0.1")
    print("ready", listening.getHost().port, flush=True)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1:])
