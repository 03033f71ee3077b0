#!/usr/bin/env python3
# -*- test-case-name: tests.worker.test_worker -*-
"""
A worker exercising the SDK's corners, for L{tests.worker.test_worker}.
"""

import asyncio
import os
import sys

try:
    import cocaine.worker  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))

import msgpack  # noqa: E402

from cocaine.worker import RequestError, Worker, http  # noqa: E402


async def requestError(request, response):
    """
    Report the client's error on the request stream, and that reading
    again raises it again.
    """
    chunks = []
    try:
        async for chunk in request:
            chunks.append(chunk)
    except RequestError as error:
        try:
            await request.read()
        except RequestError as again:
            same = again is error
        response.write(msgpack.packb(
            [chunks, error.category, error.code, error.reason, same],
            use_bin_type=True))


async def count(request, response):
    """
    Read chunk by chunk until the end of the stream (L{None}, also on a
    second read), then answer the number of chunks and bytes.
    """
    chunks = 0
    size = 0
    while True:
        chunk = await request.read()
        if chunk is None:
            break
        chunks += 1
        size += len(chunk)
    again = await request.read()
    response.write("{} {} {}".format(chunks, size, again))


def plain(request, response):
    """
    A plain function that writes and returns without closing.
    """
    response.write("plain " + request.event)


async def userError(request, response):
    response.write(b"partial")
    response.error(7, "nope")


async def writeThenRaise(request, response):
    response.write(b"partial")
    raise KeyError("missing")


async def badChunk(request, response):
    response.write(4.2)


async def readTimeout(request, response):
    try:
        await request.read(timeout=0.05)
    except asyncio.TimeoutError:
        response.write(b"timeout")
    chunk = await request.read(timeout=5)
    response.write(chunk)


async def bigEcho(request, response):
    async for chunk in request:
        response.write(chunk)
        await response.drain()


@http
async def httpInfo(request, response):
    response.writeHead(201, [("X-A", "b"), ("Content-Type", "x/y")])
    response.write(msgpack.packb(
        [request.method, request.uri, request.path, request.query,
         request.version, [list(pair) for pair in request.headers],
         request.body, request.header("host")], use_bin_type=True))


@http
def httpNoHead(request, response):
    response.write(b"body")


@http
async def httpStream(request, response):
    response.write_head(200, {"X-Streamed": 1})
    async for chunk in request.stream:
        response.write(chunk)


async def forever(request, response):
    await asyncio.sleep(3600)


if __name__ == "__main__":
    Worker().run({
        "request-error": requestError,
        "count": count,
        "plain": plain,
        "user-error": userError,
        "write-then-raise": writeThenRaise,
        "bad-chunk": badChunk,
        "read-timeout": readTimeout,
        "big-echo": bigEcho,
        "http-info": httpInfo,
        "http-nohead": httpNoHead,
        "http-stream": httpStream,
        "forever": forever,
    })
