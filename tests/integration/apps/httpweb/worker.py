#!/usr/bin/env python3
"""
The httpweb app for the HTTP gateway's integration tests (our worker SDK):

  - C{slow}: answers after 20 s (the gateway's timeout comes first);
  - C{big}: streams C{?size} bytes (10 MiB by default) in 64 KiB chunks
    without a Content-Length;
  - C{crash}: the worker kills itself before answering;
  - C{show}: answers JSON of what it was given (method, URI, version,
    headers);
  - C{whoami}: answers JSON naming the node that runs this worker (its
    C{--locator} argument) and the worker's pid;
  - C{hold}: answers as C{whoami} once the file C{?path} exists (at most
    C{?max} seconds later, 20 by default), holding its worker meanwhile.
"""

import asyncio
import json
import os
import signal
import sys
import time

from cocaine.worker import Worker, http


@http
async def slow(request, response):
    await asyncio.sleep(20)
    response.write_head(200, [])


@http
async def big(request, response):
    size = int(request.query.get("size", [str(10 * 2 ** 20)])[0])
    response.write_head(200, [("Content-Type", "application/octet-stream")])
    chunk = bytes(range(256)) * 256
    sent = 0
    while sent < size:
        part = chunk[:size - sent]
        response.write(part)
        sent += len(part)
        await response.drain()


@http
async def crash(request, response):
    os.kill(os.getpid(), signal.SIGKILL)


@http
async def show(request, response):
    response.write_head(200, [("Content-Type", "application/json")])
    response.write(json.dumps({
        "method": request.method, "uri": request.uri,
        "version": request.version, "headers": request.headers,
        "body": request.body.decode("latin-1")}))


def _identity():
    argv = sys.argv
    locator = argv[argv.index("--locator") + 1] if "--locator" in argv \
        else None
    return json.dumps({"locator": locator, "pid": os.getpid()})


@http
async def whoami(request, response):
    response.write_head(200, [("Content-Type", "application/json")])
    response.write(_identity())


@http
async def hold(request, response):
    path = request.query["path"][0]
    deadline = time.monotonic() + float(request.query.get("max", ["20"])[0])
    while not os.path.exists(path) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    response.write_head(200, [("Content-Type", "application/json")])
    response.write(_identity())


if __name__ == "__main__":
    Worker().run({"slow": slow, "big": big, "crash": crash, "show": show,
                  "whoami": whoami, "hold": hold})
