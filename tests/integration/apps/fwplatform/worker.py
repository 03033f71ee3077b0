"""
The fwplatform app: examples/apps/platform written with the REAL Cocaine
0.12 Python framework (C{cocaine} 0.12.14.5 from PyPI, tornado 4), run by
that framework's own interpreter. Nothing of this repository is imported
here: the services are the framework's own C{cocaine.services.Service},
resolved through the C{--locator} the node passes the worker.

The same events, requests and answers as examples/apps/platform (see its
docstring): C{cache-put}, C{cache-get}, C{dcache-put}, C{dcache-get},
C{fetch}, C{after}, C{publish}, C{listen}, with the same service names
(C{PLATFORM_CACHE}... in the environment, by default C{cache}, C{dcache},
C{urlfetch}, C{chrono}, C{notifications}). Errors have the same codes and
messages, but in category 42: the framework's C{response.error} knows no
other.

The slave (C{run}) is a C{/bin/sh} wrapper the tests generate next to a
copy of this file; it execs the framework's python on it.
"""

import collections
import collections.abc
import json
import os

# Python 3.10 removed the alias the framework (and tornado 4) use.
collections.MutableMapping = collections.abc.MutableMapping

from tornado import gen  # noqa: E402

from cocaine.exceptions import (  # noqa: E402
    ChokeEvent, CocaineError, ServiceError)
from cocaine.services import Service  # noqa: E402
from cocaine.worker import Worker  # noqa: E402

BAD_REQUEST = 1
SERVICE_FAILED = 2
NO_MESSAGE = 3

#: Seconds any one reply may take.
CALL_TIMEOUT = 10

ROLES = ("cache", "dcache", "urlfetch", "chrono", "notifications")
NAMES = {role: os.environ.get("PLATFORM_" + role.upper(), role)
         for role in ROLES}
_services = {}


def service(role):
    """
    The framework's client of the service for C{role}, made on first use
    (on the worker's IOLoop).
    """
    if role not in _services:
        _services[role] = Service(NAMES[role], timeout=CALL_TIMEOUT)
    return _services[role]


class Failed(Exception):
    def __init__(self, code, message):
        Exception.__init__(self, code, message)
        self.code = code
        self.message = message


def serviceFailed(role, method, error):
    """
    The L{Failed} for what the framework raised, naming the service.
    """
    if isinstance(error, ServiceError):
        what = "{} [{}, {}] {}".format(type(error).__name__, error.category,
                                      error.code, text(error.reason))
    elif isinstance(error, gen.TimeoutError):
        what = "no reply within {} s".format(CALL_TIMEOUT)
    else:
        what = "{}: {}".format(type(error).__name__, error)
    return Failed(SERVICE_FAILED, "{} service '{}' failed in {}: {}".format(
        role, NAMES[role], method, what))


#: What a service call may raise in the framework.
ERRORS = (CocaineError, gen.TimeoutError, IOError)


@gen.coroutine
def call(role, method, *args, **kwargs):
    """
    Open C{method} of the service for C{role}: its channel, errors as
    L{Failed}.
    """
    try:
        channel = yield getattr(service(role), method)(*args)
    except ERRORS as error:
        raise serviceFailed(role, method, error)
    raise gen.Return(channel)


@gen.coroutine
def value(role, method, *args):
    """
    Call C{method} and return its one reply.
    """
    channel = yield call(role, method, *args)
    try:
        reply = yield channel.rx.get(timeout=CALL_TIMEOUT)
    except ERRORS as error:
        raise serviceFailed(role, method, error)
    raise gen.Return(reply)


def text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [text(v) for v in value]
    if isinstance(value, dict):
        return dict((str(text(k)), text(v)) for k, v in value.items())
    return value


def field(body, name, kinds, default=None, required=True):
    if name not in body:
        if required:
            raise Failed(BAD_REQUEST, "bad request: '{}' is missing".format(
                name))
        return default
    found = body[name]
    if not isinstance(found, kinds) or isinstance(found, bool):
        raise Failed(BAD_REQUEST, "bad request: '{}' must be {}, got "
                     "{!r}".format(name, " or ".join(
                         k.__name__ for k in kinds), found))
    return found


def handler(function):
    """
    A framework handler (a plain generator function: the framework wraps
    it in a coroutine itself) around the coroutine C{function(body)}.
    """
    def handle(request, response):
        chunks = []
        while True:
            try:
                chunk = yield request.read()
            except ChokeEvent:
                break
            chunks.append(chunk if isinstance(chunk, bytes)
                          else chunk.encode("utf-8"))
        try:
            try:
                body = json.loads(b"".join(chunks).decode("utf-8"))
            except ValueError as e:
                raise Failed(BAD_REQUEST, "bad request: not JSON ({})"
                             .format(e))
            if not isinstance(body, dict):
                raise Failed(BAD_REQUEST, "bad request: not a JSON object")
            answer = yield function(body)
        except Failed as failure:
            response.error(failure.code, failure.message)
            return
        response.write(json.dumps(answer).encode("utf-8"))
        response.close()
    handle.__name__ = function.__name__
    return handle


def cachePut(role):
    @gen.coroutine
    def put(body):
        key = field(body, "key", (str,))
        stored = field(body, "value", (str,))
        ttl = field(body, "ttl", (int, float), required=False)
        args = (key, stored) if ttl is None else (key, stored, ttl)
        yield value(role, "put", *args)
        raise gen.Return({"key": key, "stored": True})
    return handler(put)


def cacheGet(role):
    @gen.coroutine
    def get(body):
        key = field(body, "key", (str,))
        exists, found = yield value(role, "get", key)
        raise gen.Return({"key": key, "exists": exists,
                          "value": text(found) if exists else None})
    return handler(get)


@gen.coroutine
def fetch(body):
    url = field(body, "url", (str,))
    timeout = field(body, "timeout", (int,), 5000, required=False)
    success, content, code, headers = yield value(
        "urlfetch", "get", url, timeout)
    raise gen.Return({"url": url, "success": success, "code": code,
                      "length": len(content)})


@gen.coroutine
def after(body):
    seconds = field(body, "seconds", (int, float))
    timer = yield call("chrono", "notify_after", seconds)
    try:
        fired = yield timer.rx.get(timeout=seconds + CALL_TIMEOUT)
    except ERRORS as error:
        raise serviceFailed("chrono", "notify_after", error)
    raise gen.Return({"seconds": seconds, "timer": fired})


@gen.coroutine
def publish(body):
    channel = field(body, "channel", (str,))
    if "value" not in body:
        raise Failed(BAD_REQUEST, "bad request: 'value' is missing")
    delivered = yield value("notifications", "publish", channel,
                            body["value"])
    raise gen.Return({"channel": channel, "delivered": delivered})


@gen.coroutine
def listen(body):
    channel = field(body, "channel", (str,))
    timeout = field(body, "timeout", (int, float), 60, required=False)
    subscription = yield call("notifications", "subscribe", [channel])
    try:
        while True:
            try:
                message = yield subscription.rx.get(timeout=timeout)
            except gen.TimeoutError:
                raise Failed(NO_MESSAGE, "no message on '{}' within {} s"
                             .format(channel, timeout))
            except ERRORS as error:
                raise serviceFailed("notifications", "subscribe", error)
            if not isinstance(message, (list, tuple)):  # the stream ended
                raise Failed(SERVICE_FAILED, "notifications service '{}' "
                             "ended the subscription".format(
                                 NAMES["notifications"]))
            name, found = message
            if text(name) != "":             # "" carries notices
                raise gen.Return({"channel": text(name),
                                  "value": text(found)})
    finally:
        try:
            subscription.tx.close()          # ends the subscription
        except ERRORS:
            pass


EVENTS = {
    "cache-put": cachePut("cache"),
    "cache-get": cacheGet("cache"),
    "dcache-put": cachePut("dcache"),
    "dcache-get": cacheGet("dcache"),
    "fetch": handler(fetch),
    "after": handler(after),
    "publish": handler(publish),
    "listen": handler(listen),
}


if __name__ == "__main__":
    Worker().run(EVENTS)
