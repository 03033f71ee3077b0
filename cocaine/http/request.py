# -*- test-case-name: tests.http.test_server -*-
"""
One HTTP request as the server hands it to its handler: read whole, its
head and its body (a chunked body already decoded).
"""


class HTTPRequest:
    """
    A complete HTTP request.

    @ivar method: the method, C{b"GET"}.
    @ivar target: the raw request target, C{b"/app/event/rest?x=1"}.
    @ivar version: C{b"1.1"} or C{b"1.0"}.
    @ivar headers: C{[(name, value)]} as L{bytes}, in arrival order, the
        names as received (case kept).
    @ivar body: the whole body, L{bytes}.
    @ivar peer: C{(host, port)} of the client, a L{str} and an L{int}.
    @ivar keepAlive: whether the connection may carry another request after
        this one's response, as the client asked (HTTP/1.1 unless
        C{Connection: close}; HTTP/1.0 only with C{Connection: keep-alive}).
    """

    __slots__ = ("method", "target", "version", "headers", "body", "peer",
                 "keepAlive", "expectContinue")

    def __init__(self, method, target, version, headers, body=b"",
                 peer=("", 0), keepAlive=True):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        self.peer = peer
        self.keepAlive = keepAlive
        self.expectContinue = False

    def header(self, name):
        """
        The value of the first header called C{name}, compared without case.

        @type name: L{bytes}
        @return: L{bytes}, or L{None} when there is none.
        """
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def __repr__(self):
        return "<HTTPRequest {} {} HTTP/{} from {}>".format(
            self.method.decode("latin-1"), self.target.decode("latin-1"),
            self.version.decode("latin-1"), self.peer)
