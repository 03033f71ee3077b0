# -*- test-case-name: tests.urlfetch.test_fetcher -*-
"""
Fetching URLs on Twisted's HTTP client as Cocaine 0.12's C{urlfetch} does
on libcurl.

One L{Fetcher} per service: at most C{connectionsLimit} requests in
flight (the rest wait their turn), persistent connections kept per host,
a body size cap, and the L{cocaine.urlfetch.network} deny list checked on
every connection, redirects included. No cookie is ever kept between
requests: the cookies a caller gives are sent as C{Cookie: name=value}
headers, one per cookie, as 0.12 sends them. Bodies come as the server
encoded them (no C{Accept-Encoding} unless the caller gives one), as curl
hands them over.

The agent is called directly, not through treq: treq wrapped every request
in a cookie agent and a gzip decoder (whose work had to be undone here)
and parsed every URL with C{hyperlink}, 28% of the node's CPU a fetch
(docs/performance.md, tenth round).
"""

import errno
import re
from io import BytesIO
from urllib.parse import urlsplit

from twisted.internet.defer import (
    CancelledError, Deferred, DeferredSemaphore, succeed)
from twisted.internet.error import (
    ConnectError, ConnectionDone, ConnectionLost, ConnectionRefusedError,
    DNSLookupError, TimeoutError)
from twisted.internet.protocol import Protocol, connectionDone
from twisted.web.client import (
    Agent, BrowserLikeRedirectAgent, FileBodyProducer, HTTPConnectionPool,
    ResponseDone, ResponseFailed)
from twisted.web.http import PotentialDataLoss
from twisted.web.error import (
    InfiniteRedirection, RedirectWithNoLocation, SchemeNotSupported)
from twisted.web.http_headers import Headers

from cocaine.errors import FetchFailed, InvalidArgument
from cocaine.rpc import writes
from cocaine.urlfetch.network import AddressDenied, DenyList, GuardedEndpoints

#: The default body size cap, in bytes.
DEFAULT_MAX_BODY = 64 * 1024 * 1024

#: As 0.12's C{connections-limit}.
DEFAULT_CONNECTIONS_LIMIT = 10

#: Redirects followed before giving up (curl's and Twisted's bound).
REDIRECT_LIMIT = 20


class BodyTooLarge(Exception):
    """
    A response body over the cap.
    """


class _Body(Protocol):
    """
    Reads a response body up to the cap; over it, or when the fetch is
    cancelled, the connection is dropped.

    @ivar finished: a Deferred of the body.
    """

    def __init__(self, limit, declared):
        self._limit = limit
        self._declared = declared
        self._chunks = []
        self._size = 0
        self.finished = Deferred(self._cancel)

    def connectionMade(self):
        declared = self._declared
        if isinstance(declared, int) and declared > self._limit:
            self._fail(BodyTooLarge("the body of {} bytes is over the cap "
                                    "of {} bytes".format(declared,
                                                         self._limit)))

    def dataReceived(self, data):
        if self.finished is None:
            return
        self._size += len(data)
        if self._size > self._limit:
            self._fail(BodyTooLarge("the body is over the cap of {} bytes"
                                    .format(self._limit)))
            return
        self._chunks.append(data)

    def _fail(self, exception):
        finished, self.finished = self.finished, None
        self.transport.stopProducing()
        finished.errback(exception)

    def _cancel(self, finished):
        self.finished = None
        self.transport.stopProducing()

    def connectionLost(self, reason=connectionDone):
        finished, self.finished = self.finished, None
        if finished is None:
            return
        if reason.check(ResponseDone, PotentialDataLoss):
            finished.callback(b"".join(self._chunks))
        else:
            finished.errback(ResponseFailed([reason]))


class _Redirects(BrowserLikeRedirectAgent):
    """
    Redirects as curl follows them (301, 302 and 303 go on as a GET),
    except that a POST answered 307 gets that answer: its body is not
    sent again.
    """

    def _handleResponse(self, response, method, uri, headers, count):
        if response.code in self._redirectResponses and method not in (
                b"GET", b"HEAD"):
            return response
        return BrowserLikeRedirectAgent._handleResponse(
            self, response, method, uri, headers, count)


def checkURL(url):
    """
    @return: C{url} when it is an http or https URL with a host.
    @raise InvalidArgument: naming the URL and what is wrong with it.
    """
    try:
        parts = urlsplit(url)
        parts.port
    except ValueError as e:
        raise InvalidArgument("bad URL {!r}: {}".format(url, e))
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidArgument("bad URL {!r}: the scheme must be http or "
                              "https".format(url))
    if not parts.hostname:
        raise InvalidArgument("bad URL {!r}: no host".format(url))
    return url


#: A character a URI may not hold as it is (RFC 3986 allows only these,
#: and C{%} of an escape).
_NEEDS_ENCODING = re.compile(r"[^A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]")


def uriBytes(url):
    """
    @return: C{url} (text, checked by L{checkURL}) as the bytes an agent
        takes: as it is when every character may stand in a URI; else
        with its host IDNA-encoded and the rest percent-encoded as UTF-8
        (C{hyperlink}, as treq did for every URL).
    @raise InvalidArgument: the host cannot be IDNA-encoded (a space in
        it, an empty or overlong label), naming the URL.
    """
    if _NEEDS_ENCODING.search(url) is None:
        return url.encode("ascii")
    from hyperlink import URL
    try:
        return URL.from_text(url).to_uri().to_text().encode("ascii")
    except (ValueError, UnicodeError) as e:
        raise InvalidArgument("bad URL {!r}: {}".format(url, e)) from None


def _headerText(value, what):
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not isinstance(value, bytes):
        raise InvalidArgument("{} must be a string, got {}".format(
            what, type(value).__name__))
    if b"\r" in value or b"\n" in value or b"\0" in value:
        raise InvalidArgument("{} must not hold line breaks".format(what))
    return value


def requestHeaders(headers, cookies):
    """
    The request's headers: C{headers} as given, then one C{Cookie} per
    cookie.

    @param headers: C{{name: value}} or L{None}.
    @param cookies: C{{name: value}} or L{None}.
    @raise InvalidArgument: naming the header or cookie that is not text.
    """
    result = Headers()
    for name, value in (headers or {}).items():
        name = _headerText(name, "a header name")
        if not name or b":" in name or b" " in name:
            raise InvalidArgument("bad header name {!r}".format(name))
        result.addRawHeader(name, _headerText(
            value, "header {!r}".format(name.decode("latin-1"))))
    for name, value in (cookies or {}).items():
        name = _headerText(name, "a cookie name")
        if b"=" in name or b";" in name:
            raise InvalidArgument("bad cookie name {!r}".format(name))
        value = _headerText(value, "cookie {!r}".format(
            name.decode("latin-1")))
        result.addRawHeader(b"Cookie", name + b"=" + value)
    return result


def responseHeaders(response):
    """
    C{{name: value}} of a response's headers; of a repeated header the
    last value, as 0.12 kept it. Twisted keeps C{Content-Length} aside:
    it is put back.
    """
    result = {name.decode("latin-1"): values[-1].decode("latin-1")
              for name, values in response.headers.getAllRawHeaders()
              if values}
    if isinstance(response.length, int):
        result.setdefault("Content-Length", str(response.length))
    return result


def _reason(failure):
    """
    @return: C{(errno, text)} for why a fetch failed.
    """
    reasons = getattr(failure.value, "reasons", None)
    if isinstance(reasons, list):
        # the wrappers of twisted.web.client (ResponseFailed and others)
        for reason in reasons:
            if not reason.check(CancelledError, ConnectionDone,
                                ConnectionLost):
                return _reason(reason)
        return errno.ECONNRESET, "connection lost"
    mapping = [
        (AddressDenied, errno.EACCES, None),
        (BodyTooLarge, errno.EFBIG, None),
        (DNSLookupError, errno.EHOSTUNREACH, "could not resolve host"),
        (ConnectionRefusedError, errno.ECONNREFUSED, "connection refused"),
        (TimeoutError, errno.ETIMEDOUT, "connection timed out"),
        (InfiniteRedirection, errno.ELOOP, "too many redirects"),
        (RedirectWithNoLocation, errno.EPROTO, "redirect without location"),
        (SchemeNotSupported, errno.EPROTONOSUPPORT, None),
        (ConnectError, errno.ECONNABORTED, None),
    ]
    for kind, code, text in mapping:
        if failure.check(kind):
            return code, text or failure.getErrorMessage()
    return errno.EIO, failure.getErrorMessage()


class Fetcher:
    """
    Fetches URLs; L{fetch} answers as 0.12's C{urlfetch} does.
    """

    def __init__(self, reactor, connectionsLimit=DEFAULT_CONNECTIONS_LIMIT,
                 maxBody=DEFAULT_MAX_BODY, deny=None, trustRoot=None):
        """
        @param connectionsLimit: requests in flight at most.
        @param maxBody: the largest body, in bytes, a response may have.
        @param deny: a L{DenyList} (the default one when L{None}).
        @param trustRoot: for https, the authorities to trust (the
            platform's by default).
        """
        self._reactor = reactor
        self.maxBody = maxBody
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        self.pool.maxPersistentPerHost = connectionsLimit
        self.pool.cachedConnectionTimeout = 60
        self._plain = Agent.usingEndpointFactory(
            reactor, GuardedEndpoints(reactor, deny or DenyList(),
                                      trustRoot=trustRoot),
            pool=self.pool)
        self._following = _Redirects(self._plain,
                                     redirectLimit=REDIRECT_LIMIT)
        self._slots = DeferredSemaphore(connectionsLimit)

    def fetch(self, method, url, body=None, timeout=5.0, cookies=None,
              headers=None, followLocation=True):
        """
        @param method: C{"GET"} or C{"POST"}.
        @param timeout: seconds for the whole fetch, waiting its turn
            included.
        @return: a Deferred of C{(success, body, code, headers)}, C{success}
            true unless the code is 400 to 599.
        @raise InvalidArgument: (at once) a bad URL, header or cookie.
        @raise FetchFailed: (in the Deferred) no HTTP answer; the message
            names the URL.
        """
        checkURL(url)
        uri = uriBytes(url)
        sent = requestHeaders(headers, cookies)
        d = self._slots.run(self._request, method, uri, body, sent,
                            followLocation)
        expired = []

        def expire():
            expired.append(True)
            d.cancel()
        timer = self._reactor.callLater(timeout, expire)

        def finished(result):
            if timer.active():
                timer.cancel()
            return result

        def failed(failure):
            if expired:
                code, text = errno.ETIMEDOUT, "timed out after {} ms".format(
                    int(round(timeout * 1000)))
            else:
                code, text = _reason(failure)
            raise FetchFailed("Unable to download {}, error {}".format(
                url, text), code=code)
        return d.addBoth(finished).addErrback(failed)

    def _request(self, method, uri, body, headers, followLocation):
        agent = self._following if followLocation else self._plain
        d = agent.request(
            method.encode("ascii"), uri, headers,
            None if body is None else FileBodyProducer(BytesIO(body)))
        return d.addCallback(self._read)

    def _read(self, response):
        body = _Body(self.maxBody, response.length)
        code = response.code

        def done(data):
            # the answers that this turn's responses complete leave at its
            # end, in one send per client (one each cost the node a send
            # and the client a read per answer)
            writes.holdForTurn(self._reactor)
            return (not 400 <= code < 600, data, code,
                    responseHeaders(response))
        if response.length == 0:
            return succeed(done(b""))
        finished = body.finished
        response.deliverBody(body)
        return finished.addCallback(done)

    def close(self):
        """
        Drop the idle persistent connections.

        @return: a Deferred that fires once they are closed.
        """
        return self.pool.closeCachedConnections()
