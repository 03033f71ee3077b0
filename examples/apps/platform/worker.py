#!/usr/bin/env python3
# -*- test-case-name: tests.integration.test_platform_app -*-
"""
The platform app: a worker (our SDK) that uses the node's platform
services from its handlers: a node-local cache, a distributed cache,
urlfetch, chrono and notifications.

The node needs these services (the names are the defaults; a variable of
the manifest's or the profile's C{environment} names another):

  variable                service name   config
  PLATFORM_CACHE          cache          {"type": "cache"}
  PLATFORM_DCACHE         dcache         {"type": "cache", "args": {
                                            "backend": "redis",
                                            "url": "redis://HOST:6379/0"}}
  PLATFORM_URLFETCH       urlfetch       {"type": "urlfetch"}
  PLATFORM_CHRONO         chrono         {"type": "chrono"}
  PLATFORM_NOTIFICATIONS  notifications  {"type": "notifications"}, with
                                         "args": {"backend": "redis",
                                         "url": ...} to reach other nodes

Every node running the app with the same Redis shares C{dcache} and the
notifications; C{cache} stays each node's own. An event whose service the
node lacks answers an error naming the service; the others still work.

Each request is one JSON object (its chunks are joined; the client closes
the request), each answer one JSON chunk:

  cache-put, dcache-put  {"key": K, "value": V, "ttl": S?}
                         -> {"key": K, "stored": true}
  cache-get, dcache-get  {"key": K}
                         -> {"key": K, "exists": bool, "value": V or null}
  fetch                  {"url": U, "timeout": MS?}   (urlfetch.get)
                         -> {"url": U, "success": bool, "code": C,
                             "length": N}   (N: bytes of the body)
  after                  {"seconds": S}   (chrono.notify_after)
                         -> {"seconds": S, "timer": ID}, once it fired
  publish                {"channel": C, "value": V}
                         -> {"channel": C, "delivered": N}
  listen                 {"channel": C, "timeout": S?}   (default 60)
                         -> {"channel": C, "value": V}: the first message
                            (notices, channel "", are skipped)

Values are text (bytes from a service are read as UTF-8). Errors, in
category 43 (the apps' own):

  1  bad request: not a JSON object, or a field missing or of a wrong type
     (named in the message);
  2  a service failed or is missing: "<role> service '<name>' failed in
     <method>: <Class> [<category>, <code>] <its message>";
  3  listen: no message within its timeout.

Deploy it and call it (a node configured as above, C{make run} say):

    cocaine-tool app upload examples/apps/platform
    cocaine-tool app start platform
    echo '{"key": "k", "value": "v"}' | \\
        cocaine-tool call platform.enqueue dcache-put --stdin
    echo '{"key": "k"}' | cocaine-tool call platform.enqueue dcache-get \\
        --stdin                    # {"key": "k", "exists": true, "value": "v"}
"""

import asyncio
import json
import os
import sys

try:
    from cocaine.worker import Service, Worker
except ImportError:
    # Run from a checkout: the repository root is three levels up.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))))
    from cocaine.worker import Service, Worker

from cocaine.errors import CocaineError  # noqa: E402

#: The app's error codes (category 43).
BAD_REQUEST = 1
SERVICE_FAILED = 2
NO_MESSAGE = 3

#: Seconds any one service call may take (resolve and connect included).
CALL_TIMEOUT = 10

#: The services the app uses, by role: C{cache} the node-local cache,
#: C{dcache} the distributed one.
ROLES = ("cache", "dcache", "urlfetch", "chrono", "notifications")

#: The clients by role, each named by C{PLATFORM_<ROLE>} or the role.
services = {
    role: Service(os.environ.get("PLATFORM_" + role.upper(), role),
                  timeout=CALL_TIMEOUT)
    for role in ROLES}


class Failed(Exception):
    """
    What the handler answers as its error: C{code} and C{message}.
    """

    def __init__(self, code, message):
        Exception.__init__(self, code, message)
        self.code = code
        self.message = message


def serviceFailed(role, method, error):
    """
    The L{Failed} for a service's error, naming the service.

    @param error: a L{CocaineError} the SDK raised (the service's own, or
        the locator's C{ServiceNotAvailable}, C{CallTimeout},
        C{NotConnected}...).
    """
    return Failed(SERVICE_FAILED, "{} service '{}' failed in {}: {} [{}, {}]"
                  " {}".format(role, services[role].name, method,
                               type(error).__name__, error.category,
                               error.code, error.message))


async def call(role, method, *args, **kwargs):
    """
    C{await services[role].method(*args)}, its errors as L{Failed}.
    """
    try:
        return await getattr(services[role], method)(*args, **kwargs)
    except CocaineError as error:
        raise serviceFailed(role, method, error) from None


def text(value):
    """
    A service's value as JSON can carry it: bytes read as UTF-8.
    """
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (list, tuple)):
        return [text(v) for v in value]
    if isinstance(value, dict):
        return {str(text(k)): text(v) for k, v in value.items()}
    return value


def field(body, name, kinds, default=None, required=True):
    """
    C{body[name]}, checked to be of one of C{kinds}.

    @raise Failed: C{BAD_REQUEST} naming the field.
    """
    if name not in body:
        if required:
            raise Failed(BAD_REQUEST, "bad request: '{}' is missing".format(
                name))
        return default
    value = body[name]
    if not isinstance(value, kinds) or isinstance(value, bool):
        raise Failed(BAD_REQUEST, "bad request: '{}' must be {}, got "
                     "{!r}".format(name, " or ".join(
                         k.__name__ for k in kinds), value))
    return value


def handler(function):
    """
    Make C{function(body) -> answer} an event handler: it reads the JSON
    request, writes the JSON answer, and answers a L{Failed} as the app's
    error.
    """
    async def handle(request, response):
        data = b"".join([chunk async for chunk in request])
        try:
            try:
                body = json.loads(data)
            except ValueError as e:
                raise Failed(BAD_REQUEST, "bad request: not JSON ({})"
                             .format(e)) from None
            if not isinstance(body, dict):
                raise Failed(BAD_REQUEST,
                             "bad request: not a JSON object")
            answer = await function(body)
        except Failed as failure:
            response.error(failure.code, failure.message)
            return
        response.write(json.dumps(answer))
        response.close()
    handle.__name__ = function.__name__
    return handle


def cachePut(role):
    async def put(body):
        key = field(body, "key", (str,))
        value = field(body, "value", (str,))
        ttl = field(body, "ttl", (int, float), required=False)
        args = (key, value) if ttl is None else (key, value, ttl)
        await call(role, "put", *args)
        return {"key": key, "stored": True}
    return handler(put)


def cacheGet(role):
    async def get(body):
        key = field(body, "key", (str,))
        exists, value = await call(role, "get", key)
        return {"key": key, "exists": exists,
                "value": text(value) if exists else None}
    return handler(get)


@handler
async def fetch(body):
    url = field(body, "url", (str,))
    timeout = field(body, "timeout", (int,), 5000, required=False)
    success, content, code, headers = await call(
        "urlfetch", "get", url, timeout,
        timeout=timeout / 1000.0 + CALL_TIMEOUT)
    return {"url": url, "success": success, "code": code,
            "length": len(content)}


@handler
async def after(body):
    seconds = field(body, "seconds", (int, float))
    timer = await call("chrono", "notify_after", seconds)
    try:
        fired = await timer.read(timeout=seconds + CALL_TIMEOUT)
    except CocaineError as error:
        raise serviceFailed("chrono", "notify_after", error) from None
    except asyncio.TimeoutError:
        raise Failed(SERVICE_FAILED, "chrono service '{}' failed in "
                     "notify_after: the timer did not fire within {} s"
                     .format(services["chrono"].name,
                             seconds + CALL_TIMEOUT)) from None
    return {"seconds": seconds, "timer": fired}


@handler
async def publish(body):
    channel = field(body, "channel", (str,))
    if "value" not in body:
        raise Failed(BAD_REQUEST, "bad request: 'value' is missing")
    delivered = await call("notifications", "publish", channel,
                           body["value"])
    return {"channel": channel, "delivered": delivered}


@handler
async def listen(body):
    channel = field(body, "channel", (str,))
    timeout = field(body, "timeout", (int, float), 60, required=False)
    subscription = await call("notifications", "subscribe", [channel])
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise asyncio.TimeoutError()
            message = await subscription.read(timeout=left)
            if message is None:
                raise Failed(SERVICE_FAILED, "notifications service '{}' "
                             "ended the subscription".format(
                                 services["notifications"].name))
            name, value = message
            if text(name) != "":             # "" carries notices
                return {"channel": text(name), "value": text(value)}
    except CocaineError as error:
        raise serviceFailed("notifications", "subscribe", error) from None
    except asyncio.TimeoutError:
        raise Failed(NO_MESSAGE, "no message on '{}' within {} s".format(
            channel, timeout)) from None
    finally:
        if not subscription.done:
            try:
                subscription.close()          # ends the subscription
            except CocaineError:
                pass                          # the connection is gone


EVENTS = {
    "cache-put": cachePut("cache"),
    "cache-get": cacheGet("cache"),
    "dcache-put": cachePut("dcache"),
    "dcache-get": cacheGet("dcache"),
    "fetch": fetch,
    "after": after,
    "publish": publish,
    "listen": listen,
}


if __name__ == "__main__":
    Worker().run(EVENTS)
