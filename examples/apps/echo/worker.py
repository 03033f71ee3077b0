#!/usr/bin/env python3
# -*- test-case-name: tests.worker.test_worker -*-
"""
The echo app: a Cocaine worker written with the Python worker SDK.

Events:
  - C{echo}: streams every request chunk back, then closes;
  - C{ping}: answers C{b"pong"} (a plain, non-async handler);
  - C{http}: an HTTP handler (reached through the HTTP gateway as
    C{/echo/http/...}): a request with a body gets it back byte for byte
    with the request's C{Content-Type}; one without gets 200 "hello from
    cocaine" with its method and path;
  - C{fail}: raises C{ValueError("boom")};
  - C{slow}: reads one chunk, sleeps that many milliseconds (ASCII digits),
    then answers C{b"done"};
  - C{stream}: reads one chunk C{b"COUNT SIZE"} (ASCII digits) and answers
    COUNT chunks of SIZE bytes, waiting for the node to take them whenever
    the socket's buffer fills.
"""

import asyncio
import os
import sys

try:
    import cocaine.worker  # noqa: F401 (the installed package or PYTHONPATH)
except ImportError:
    # Run from a checkout: the repository root is three levels up.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))))

from cocaine.worker import Worker, http  # noqa: E402


async def echo(request, response):
    async for chunk in request:
        response.write(chunk)
    response.close()


def ping(request, response):
    response.write(b"pong")
    response.close()


@http
async def hello(request, response):
    if request.body:
        response.write_head(200, [("Content-Type", request.header(
            "Content-Type", "application/octet-stream"))])
        response.write(request.body)
        return
    response.write_head(200, [("Content-Type", "text/plain; charset=utf-8")])
    response.write("hello from cocaine\n{} {}\n".format(
        request.method, request.path))


async def fail(request, response):
    raise ValueError("boom")


async def slow(request, response):
    chunk = await request.read()
    milliseconds = int(chunk or b"0")
    await asyncio.sleep(milliseconds / 1000.0)
    response.write(b"done")


async def stream(request, response):
    count, size = (int(field) for field in (await request.read()).split())
    chunk = b"x" * size
    for index in range(count):
        response.write(chunk)
        if index % 256 == 255:
            await response.drain()
    response.close()


if __name__ == "__main__":
    # eager: none of these handlers needs an asyncio task before it first
    # waits (no asyncio.timeout, TaskGroup, aiohttp or anyio there), so
    # an echo whose request came in one read is answered without a task
    # (docs/apps.md, "How handlers run")
    Worker(eager=True).run({
        "echo": echo,
        "ping": ping,
        "http": hello,
        "fail": fail,
        "slow": slow,
        "stream": stream,
    })
