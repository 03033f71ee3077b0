#!/usr/bin/env python3
"""
An app fed by event drivers rather than clients (see manifest.json):

  tick   a recurring timer, every second: counts
  file   the filesystem monitor of inbox/ (*.txt): remembers the last file
  upper  a ZeroMQ server on tcp://127.0.0.1:5560: answers in capitals
  stats  for clients: what the drivers did so far, as JSON
"""

import json
import sys

try:
    from cocaine.worker import Worker
except ImportError:  # run from a checkout without the package installed
    import os
    sys.path.insert(0, os.path.join(os.path.dirname(
        os.path.abspath(__file__)), "..", "..", ".."))
    from cocaine.worker import Worker

import msgpack

state = {"ticks": 0, "files": [], "upper": 0}


def tick(request, response):
    state["ticks"] += 1
    response.close()


async def file(request, response):
    body = msgpack.unpackb(await request.read(), raw=False)
    state["files"].append([body["path"], body["event"], body["size"]])
    del state["files"][:-10]
    print("inbox:", body["event"], body["path"], flush=True)
    response.close()


async def upper(request, response):
    async for chunk in request:
        state["upper"] += 1
        response.write(chunk.upper())
    response.close()


def stats(request, response):
    response.write(json.dumps(state).encode())


Worker().run({"tick": tick, "file": file, "upper": upper, "stats": stats})
