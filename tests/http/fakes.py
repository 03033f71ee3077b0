"""
Fakes of the HTTP server's interface (docs: the server's L{HTTPRequest}
and L{Responder}) for the gateway's unit tests.
"""


class FakeRequest:
    """
    A parsed request as the server hands it over.
    """

    def __init__(self, method=b"GET", target=b"/", headers=(), body=b"",
                 version=b"1.1", peer=("127.0.0.1", 40000)):
        self.method = method
        self.target = target
        self.version = version
        self.headers = list(headers)
        self.body = body
        self.peer = peer

    def header(self, name):
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


class FakeResponder:
    """
    Records the response.

    @ivar code: the status, once the head is written.
    @ivar headers: the head's headers.
    @ivar body: the body chunks joined.
    @ivar chunks: the body chunks, in order.
    @ivar aborted: whether L{abort} was called.
    @ivar writable: whether the client takes what it is sent (as
        L{cocaine.http.responder.Responder.writable}).
    """

    writable = True

    def __init__(self):
        self.code = None
        self.headers = None
        self.chunks = []
        self.headWritten = False
        self.finished = False
        self.aborted = False
        self._lost = []

    def whenWritable(self, callback):
        callback()

    def writeHead(self, code, headers):
        assert not self.headWritten, "head written twice"
        assert not self.finished
        self.headWritten = True
        self.code = code
        self.headers = list(headers)

    def write(self, data):
        assert self.headWritten and not self.finished
        assert isinstance(data, bytes), data
        self.chunks.append(data)

    def finish(self):
        assert self.headWritten and not self.finished and not self.aborted
        self.finished = True

    def abort(self):
        assert not self.finished
        self.aborted = True

    def notifyLost(self, callback):
        self._lost.append(callback)

    def loseClient(self):
        """
        The client goes away.
        """
        callbacks, self._lost = self._lost, []
        for callback in callbacks:
            callback()

    @property
    def body(self):
        return b"".join(self.chunks)

    def header(self, name):
        name = name.lower()
        for key, value in self.headers or ():
            if key.lower() == name:
                return value
        return None

    def registerProducer(self, producer, streaming):
        pass

    def unregisterProducer(self):
        pass
