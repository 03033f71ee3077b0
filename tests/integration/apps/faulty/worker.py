#!/usr/bin/env python3
"""
A worker that misbehaves on purpose, for the engine's fault tests. It
speaks the worker protocol by hand; FAULT in its environment picks the
fault:

  none         serves: event "echo" echoes, "flood" prints 200,000 lines
               then answers, "break" sends terminate code 2 and exits
  nohandshake  connects and never handshakes
  noheartbeat  handshakes, then never says anything again
"""

import os
import socket
import sys
import time

import msgpack

argv = sys.argv
endpoint = argv[argv.index("--endpoint") + 1]
uuid = argv[argv.index("--uuid") + 1]
fault = os.environ.get("FAULT", "none")

sock = socket.socket(socket.AF_UNIX)
sock.connect(endpoint)


def send(message):
    sock.sendall(msgpack.packb(message, use_bin_type=True))


print("faulty worker", os.getpid(), "fault", fault, flush=True)
if fault == "nohandshake":
    time.sleep(3600)
send([1, 0, [uuid]])
if fault == "noheartbeat":
    time.sleep(3600)
send([1, 0, []])

unpacker = msgpack.Unpacker(raw=True)
events = {}
while True:
    data = sock.recv(65536)
    if not data:
        sys.exit(1)
    unpacker.feed(data)
    for channel, mtype, args, *_ in unpacker:
        if channel == 1:
            if mtype == 1:
                send([1, 1, args])
                sys.exit(0)
            continue
        if channel not in events:
            event = events[channel] = args[0].decode()
            if event == "break":
                send([1, 1, [2, "corrupt state"]])
                sys.exit(2)
            if event == "flood":
                out = sys.stdout
                for i in range(200000):
                    out.write("flood line %d\n" % i)
                out.flush()
                send([channel, 0, [b"flooded"]])
                send([channel, 2, []])
            continue
        if events[channel] == "echo":
            if mtype == 0:
                send([channel, 0, [args[0]]])
            elif mtype == 2:
                send([channel, 2, []])
