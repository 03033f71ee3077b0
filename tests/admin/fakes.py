"""
Fakes for the dashboard's tests: a L{MemoryNode} with the counters of
C{INode.stats} and a full info map, and HTTP over a L{StringTransport}.
"""

import copy
import json

from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from cocaine.errors import AppNotRunning
from cocaine.testing import MemoryNode

#: The latency histogram's bounds (seconds).
BOUNDS = [0.001, 0.01, 0.1, 1.0, float("inf")]


def emptyStats():
    return {"requests": {"ok": 0, "error": 0, "timeout": 0, "rejected": 0,
                         "disconnected": 0},
            "duration": {"buckets": [[le, 0] for le in BOUNDS], "sum": 0.0,
                         "count": 0},
            "workers": {"spawned": 0, "crashed": 0}}


def appInfo(active=1, idle=1, starting=0, capacity=4, depth=0,
            workers=((101, "active"), (102, "idle"))):
    return {"pool": {"active": active, "idle": idle, "starting": starting,
                     "capacity": capacity, "pinned": None},
            "queue": {"capacity": 100, "depth": depth},
            "sessions": {"pending": active},
            "workers": [{"uuid": "w{}".format(pid), "pid": pid,
                         "state": state, "load": 1 if state == "active"
                         else 0, "rss": 10 * 1048576, "cpu": 2.5,
                         "accepted": 3} for pid, state in workers]}


class StatsNode(MemoryNode):
    """
    A L{MemoryNode} whose apps count requests (L{serve}) as
    C{INode.stats} reports them.
    """

    def __init__(self):
        MemoryNode.__init__(self)
        self.counters = {}

    def add(self, name, handler=None, info=None, **kwargs):
        MemoryNode.add(self, name, handler,
                       appInfo() if info is None else info, **kwargs)
        self.counters[name] = emptyStats()

    def stats(self, name):
        if name not in self.apps():
            raise AppNotRunning("app {!r} is not running".format(name))
        return copy.deepcopy(self.counters[name])

    def serve(self, name, count=1, outcome="ok", seconds=0.005):
        stats = self.counters[name]
        stats["requests"][outcome] += count
        for bucket in stats["duration"]["buckets"]:
            if seconds <= bucket[0]:
                bucket[1] += count
        stats["duration"]["count"] += count
        stats["duration"]["sum"] += count * seconds

    def info(self, name):
        info = MemoryNode.info(self, name)
        info["pool"] = dict(info["pool"],
                            pinned=self._app(name)["pinned"])
        return info


class HTTPClient:
    """
    Requests to a site over a L{StringTransport}, one connection each,
    HTTP/1.0 (no chunking): the whole of twisted.web's path is taken.
    """

    def __init__(self, site, host="127.0.0.1", hostHeader="127.0.0.1:10080",
                 headers=None):
        """
        @param host: the client's address.
        @param hostHeader: the C{Host} header sent.
        @param headers: headers sent with every request.
        """
        self.site = site
        self.host = host
        self.hostHeader = hostHeader
        self.headers = dict(headers or {})

    def connect(self):
        protocol = self.site.buildProtocol(None)
        transport = StringTransport(
            peerAddress=IPv4Address("TCP", self.host, 40000),
            hostAddress=IPv4Address("TCP", "127.0.0.1", 10080))
        protocol.makeConnection(transport)
        return protocol, transport

    def send(self, method, path, body=None, headers=None):
        """
        @return: the C{(protocol, transport)} of the request's connection.
        """
        protocol, transport = self.connect()
        headers = dict({"Host": self.hostHeader}, **self.headers,
                       **(headers or {}))
        if body is not None:
            headers["Content-Length"] = str(len(body))
        head = "{} {} HTTP/1.0\r\n".format(method, path) + "".join(
            "{}: {}\r\n".format(k, v) for k, v in headers.items()) + "\r\n"
        protocol.dataReceived(head.encode("latin-1") + (body or b""))
        return protocol, transport

    def request(self, method, path, body=None, headers=None):
        """
        @return: C{(status, headers, body bytes)} of a finished answer.
        """
        _, transport = self.send(method, path, body, headers)
        return parseResponse(transport.value())

    def json(self, method, path, value=None, headers=None):
        """
        C{(status, decoded JSON)}; a C{value} is sent as JSON.
        """
        body = None
        if value is not None:
            body = json.dumps(value).encode()
            headers = dict({"Content-Type": "application/json"},
                           **(headers or {}))
        status, _, raw = self.request(method, path, body, headers)
        return status, json.loads(raw)


def clientOf(service, host="127.0.0.1", headers=None):
    """
    An L{HTTPClient} of a started L{AdminService} that names it in its
    C{Host} header (C{127.0.0.1:PORT}).
    """
    return HTTPClient(service.site, host, "127.0.0.1:{}".format(
        service.port.getHost().port), headers)


def parseResponse(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body
