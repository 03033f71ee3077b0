# -*- test-case-name: tests.protocol.test_worker -*-
"""
The worker protocol, declared once (PROTOCOL.md section 6): what the node
and a worker say to each other over the app's UNIX socket, and the command
line the node starts a worker with.

As Cocaine 0.12 declares it (cocaine-plugins' C{node/include/cocaine/idl/
rpc.hpp}): the worker opens channel 1 with C{handshake(uuid)}, which
switches the channel to the control protocol (C{heartbeat},
C{terminate}); the node opens every other channel with C{invoke(event)},
after which both directions are streams (C{write}, C{error}, C{close}).

The node's engine and the worker SDK both take their numbers from here.
Nothing here imports Twisted: the worker SDK runs without it.
"""

import threading

from cocaine.errors import CATEGORY_FRAMEWORK, CATEGORY_USER
from cocaine.protocol.idl import (
    RECURRENT, STREAMING, TERMINAL, Arg, Message, Protocol)

#: The worker protocol's version (C{--protocol}).
WORKER_VERSION = 1

#: What the control channel carries after the handshake, both ways.
WORKER_CONTROL = Protocol("worker.control", [
    Message("heartbeat", [], dispatch=RECURRENT),
    Message("terminate", [Arg("code", "int", optional=True),
                          Arg("reason", "any", optional=True)],
            dispatch=RECURRENT, upstream=TERMINAL),
])

#: The worker's first message, on the control channel.
WORKER = Protocol("worker", [
    Message("handshake", [Arg("uuid", "str")], dispatch=WORKER_CONTROL,
            upstream=WORKER_CONTROL),
])

#: What the node opens every session channel with.
WORKER_RPC = Protocol("worker.rpc", [
    Message("invoke", [Arg("event", "str")], dispatch=STREAMING,
            upstream=STREAMING),
])

#: The channel the handshake opens; sessions use the channels above it.
CONTROL_CHANNEL = 1

HANDSHAKE = WORKER.idOf("handshake")
HEARTBEAT = WORKER_CONTROL.idOf("heartbeat")
TERMINATE = WORKER_CONTROL.idOf("terminate")
INVOKE = WORKER_RPC.idOf("invoke")
#: A session's stream messages, the same ids in both directions.
CHUNK = STREAMING.idOf("write")
ERROR = STREAMING.idOf("error")
CLOSE = STREAMING.idOf("close")

#: Terminate codes.
TERMINATE_NORMAL = 1
TERMINATE_ABNORMAL = 2

#: Error codes of the worker framework's category (what the real Cocaine
#: framework sends for its own failures).
FRAMEWORK_CATEGORY = CATEGORY_FRAMEWORK
USER_CATEGORY = CATEGORY_USER
UNCAUGHT_EXCEPTION = 100
NO_HANDLER = 200
#: Ours: the worker is terminating; the session was invoked after the
#: terminate, or its handler did not finish within the grace period.
TERMINATING = 300

#: The flags the node passes a worker.
FLAGS = ("app", "endpoint", "locator", "protocol", "uuid")

#: The command line of a worker run in a thread of the node (the thread
#: isolate), which cannot use the process's C{sys.argv}: the isolate sets
#: C{launched.argv} in the worker's thread before running its script.
launched = threading.local()


def workerArguments(app, endpoint, locator, uuid):
    """
    The arguments the node starts a worker with.

    @param locator: C{"host:port"} of the node's locator (several may be
        joined with commas).
    """
    return ["--app", app, "--endpoint", endpoint, "--locator", locator,
            "--protocol", str(WORKER_VERSION), "--uuid", uuid]


def parseArguments(argv):
    """
    Parse a worker's command line as the real framework does, but
    leniently.

    Both C{--name value} and C{--name=value} are accepted; unknown
    arguments are ignored, as is a flag in last position without a value.

    @param argv: the arguments, without the program name.
    @return: a L{dict} with the keys of L{FLAGS} that were given.
    """
    found = {}
    index = 0
    while index < len(argv):
        argument = argv[index]
        index += 1
        if not argument.startswith("--"):
            continue
        name, equals, value = argument[2:].partition("=")
        if name not in FLAGS:
            continue
        if not equals:
            if index >= len(argv):
                break
            value = argv[index]
            index += 1
        found[name] = value
    return found


def parseLocators(value):
    """
    Parse a C{--locator} value: comma separated C{host:port} endpoints,
    IPv6 hosts in brackets (C{[::1]:10053}).

    @return: a L{list} of C{(host, port)}; parts that do not parse are
        skipped.
    """
    endpoints = []
    for part in (value or "").split(","):
        part = part.strip()
        host, colon, port = part.rpartition(":")
        if not colon or not host:
            continue
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        try:
            number = int(port)
        except ValueError:
            continue
        if 0 < number < 65536:
            endpoints.append((host, number))
    return endpoints


def text(value):
    """
    Turn a field the protocol declares as text into L{str}.

    @param value: L{bytes} (every string arrives as bytes, since the codec
        decodes with C{raw=True}), L{str} or anything else.
    @return: the UTF-8 decoding of C{value} (undecodable bytes replaced),
        C{value} itself when it is already a L{str}, or C{str(value)}.
    """
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    return str(value)
