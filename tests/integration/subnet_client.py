"""
A client of ours run inside a network namespace by
L{tests.integration.test_cluster_subnets} (C{ip netns exec NS python
subnet_client.py}): one JSON request a line on standard input, one JSON
answer a line on standard output (L{tests.integration.lines.LineDriver}).
Every request names the locator it goes through (C{host}, C{port}).

Operations:
  - C{cluster}: the locator's C{cluster()};
  - C{resolve}: the locator's C{resolve(name)};
  - C{call}: C{event} of app C{name} with one chunk C{data}, answering
    the chunks and the endpoint that served it;
  - C{write}, C{read}: the C{storage} service;
  - C{writes}: keys C{prefix0}, C{prefix1}, ... written one after the
    other until C{after} writes were acknowledged following the first
    failure (or C{limit} seconds passed): the keys acknowledged, and the
    errors seen. It answers C{"writing"} at its first acknowledged write,
    before its result.
"""

import json
import sys
import time

from cocaine.client.blocking import connect


def call(request):
    service = connect(request["name"], host=request["host"],
                      port=request["port"], timeout=request["timeout"])
    try:
        channel = service.enqueue(request["event"])
        channel.write(request["data"].encode())
        channel.close()
        chunks = [chunk.decode() for chunk in channel]
        return {"chunks": chunks,
                "served": list(service._service.endpoints[0])}
    finally:
        service.close(timeout=2)


def storage(request):
    return connect("storage", host=request["host"], port=request["port"],
                   timeout=request.get("timeout", 10))


def writes(request):
    service = storage(request)
    acked, errors = [], []
    failedAt = None
    started = time.monotonic()
    index = 0
    try:
        while time.monotonic() - started < request["limit"]:
            key = "{}{}".format(request["prefix"], index)
            index += 1
            try:
                service.write(request["collection"], key, key.encode(),
                              ["probe"])
            except Exception as e:
                errors.append("{}: {}".format(type(e).__name__, e))
                if failedAt is None:
                    failedAt = len(acked)
                time.sleep(0.05)
                continue
            acked.append(key)
            if len(acked) == 1:
                # the test waits for this before it stops the server
                print(json.dumps({"ok": "writing"}), flush=True)
            if failedAt is not None and len(acked) - failedAt >= (
                    request["after"]):
                break
    finally:
        service.close(timeout=2)
    return {"acked": acked, "errors": errors}


def answer(request):
    op = request["op"]
    if op in ("cluster", "resolve"):
        locator = connect("locator", host=request["host"],
                          port=request["port"], timeout=5)
        try:
            if op == "cluster":
                return locator.cluster()
            return locator.resolve(request["name"])
        finally:
            locator.close(timeout=2)
    if op == "call":
        return call(request)
    if op in ("write", "read"):
        service = storage(request)
        try:
            if op == "write":
                service.write(request["collection"], request["key"],
                              request["value"].encode(), ["probe"])
                return None
            return service.read(request["collection"],
                                request["key"]).decode()
        finally:
            service.close(timeout=2)
    if op == "writes":
        return writes(request)
    raise ValueError("unknown op {!r}".format(op))


def main():
    for line in sys.stdin:
        try:
            result = {"ok": answer(json.loads(line))}
        except Exception as e:
            result = {"error": type(e).__name__, "message": str(e)}
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
