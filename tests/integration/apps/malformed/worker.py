#!/usr/bin/env python3
"""
A worker that answers with malformed errors on purpose, for the
conformance tests of what clients then get. It speaks the worker protocol
by hand (a real framework never sends these); each event names the error
it answers with:

  no-args      [ch, 1, []]
  not-a-pair   [ch, 1, ["oops"]]
  short-pair   [ch, 1, [[42], "short pair"]]
  text-code    [ch, 1, [[42, "x"], "text code"]]
  map          [ch, 1, [{"a": 1}, "a map"]]
  long-pair    [ch, 1, [[1, 2, 3], "long pair"]]
  nil          [ch, 1, [None, "nil"]]

and, well-formed, for comparison:

  no-message   [ch, 1, [[43, 5]]]
  user         [ch, 1, [[43, 6], "user error"]]
  ping         [ch, 0, ["pong"]], [ch, 2, []]

Text goes out as msgpack raw (no bin type), as the 0.12 framework packs
it. It heartbeats every 5 s.
"""

import os
import socket
import sys

import msgpack

ANSWERS = {
    b"no-args": [],
    b"not-a-pair": [b"oops"],
    b"short-pair": [[42], b"short pair"],
    b"text-code": [[42, b"x"], b"text code"],
    b"map": [{b"a": 1}, b"a map"],
    b"long-pair": [[1, 2, 3], b"long pair"],
    b"nil": [None, b"nil"],
    b"no-message": [[43, 5]],
    b"user": [[43, 6], b"user error"],
}

argv = sys.argv
endpoint = argv[argv.index("--endpoint") + 1]
uuid = argv[argv.index("--uuid") + 1]

sock = socket.socket(socket.AF_UNIX)
sock.connect(endpoint)
sock.settimeout(5.0)


def send(message):
    sock.sendall(msgpack.packb(message, use_bin_type=False))


print("malformed worker", os.getpid(), flush=True)
send([1, 0, [uuid]])
send([1, 0, []])

unpacker = msgpack.Unpacker(raw=True, strict_map_key=False)
seen = set()
while True:
    try:
        data = sock.recv(65536)
    except socket.timeout:
        send([1, 0, []])
        continue
    if not data:
        sys.exit(1)
    unpacker.feed(data)
    for channel, mtype, args, *_ in unpacker:
        if channel == 1:
            if mtype == 1:
                send([1, 1, args])
                sys.exit(0)
            continue
        if channel in seen:
            continue
        seen.add(channel)
        event = args[0]
        if event == b"ping":
            send([channel, 0, [b"pong"]])
            send([channel, 2, []])
        elif event in ANSWERS:
            print("answering", event.decode(), "with", ANSWERS[event],
                  flush=True)
            send([channel, 1, ANSWERS[event]])
        else:
            send([channel, 1, [[43, 1], b"no such event"]])
