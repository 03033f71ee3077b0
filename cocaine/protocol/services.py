# -*- test-case-name: tests.protocol.test_services -*-
"""
The protocols of the built-in services (PROTOCOL.md section 5).

Ids are positions, names are what clients look up: both must match Cocaine
0.12 exactly.
"""

from cocaine.protocol.idl import (
    Arg, Message, Protocol, STREAMING, MUTE, TERMINAL)

#: The locator's protocol version.
LOCATOR_VERSION = 3
#: The storage service's protocol version.
STORAGE_VERSION = 1
#: The logging service's protocol version.
LOGGING_VERSION = 2
#: The node service's protocol version.
NODE_VERSION = 1
#: Every app's protocol version.
APP_VERSION = 1
#: The metrics service's protocol version.
METRICS_VERSION = 1
#: The unicat service's protocol version (0.12's unicat plugin).
UNICAT_VERSION = 1

#: What a client may send on a C{publish} or C{routing} channel: C{discard}
#: ends it (0.12's C{locator::publish_tag} and C{locator::routing_tag}).
DISCARD = Protocol("discard", [Message("discard", args=())])

LOCATOR = Protocol("locator", [
    Message("resolve", [Arg("name", "str"), Arg("seed", "any", True)]),
    # ours: the optional second argument ({"load": true}) asks for load
    # reports too; Cocaine's connect(uuid) gets exactly its old stream
    Message("connect", [Arg("uuid", "str"), Arg("options", "any", True)],
            upstream=STREAMING),
    Message("refresh", [Arg("groups", "strings")]),
    Message("cluster", []),
    Message("publish", [Arg("name", "str"), Arg("endpoints", "list"),
                        Arg("description", "any", True)],
            dispatch=DISCARD),
    Message("routing", [Arg("router", "str")], dispatch=DISCARD,
            upstream=STREAMING),
    Message("uuid", [], method="getUuid"),
])

STORAGE = Protocol("storage", [
    Message("read", [Arg("collection", "str"), Arg("key", "str")]),
    Message("write", [Arg("collection", "str"), Arg("key", "str"),
                      Arg("blob", "bytes"), Arg("tags", "strings", True)]),
    Message("remove", [Arg("collection", "str"), Arg("key", "str")]),
    Message("find", [Arg("collection", "str"), Arg("tags", "strings")]),
])

LOGGING = Protocol("logging", [
    Message("emit", [Arg("priority", "int"), Arg("source", "str"),
                     Arg("message", "str"), Arg("attributes", "any", True)],
            upstream=MUTE),
    Message("verbosity", []),
    Message("set_verbosity", [Arg("priority", "int")]),
])

#: Cocaine 0.12's metrics service (cocaine-plugins C{metrics/}): the
#: output type ("plain" or "json") and a filter AST, both optional; the
#: answer is one value.
METRICS = Protocol("metrics", [
    Message("fetch", [Arg("type", "str", True), Arg("query", "any", True)]),
])

#: What a client streams to control a pool: ints, the desired pool size.
CONTROL = Protocol("control", [
    Message("write", [Arg("size", "int")], dispatch=None),
    Message("error", [Arg("error"), Arg("message", optional=True)]),
    Message("close", ()),
])

NODE = Protocol("node", [
    Message("start_app", [Arg("name", "str"), Arg("profile", "any")]),
    Message("pause_app", [Arg("name", "str")]),
    Message("list", []),
    Message("info", [Arg("name", "str"), Arg("flags", "any", True)]),
    Message("control", [Arg("name", "str")], dispatch=CONTROL),
    # ours, appended so the ids of Cocaine's messages stay as they were
    Message("trigger", [Arg("name", "str"), Arg("driver", "str"),
                        Arg("request", "bytes", True)]),
    # ours: cluster-wide apps (docs/cluster.md), appended likewise
    Message("start_app_cluster", [Arg("name", "str"), Arg("profile", "any")]),
    Message("pause_app_cluster", [Arg("name", "str")]),
])

APP = Protocol("app", [
    Message("enqueue", [Arg("event", "str"), Arg("tag", "any", True)],
            dispatch=STREAMING, upstream=STREAMING, headers=True),
    Message("info", []),
    Message("control", [], dispatch=CONTROL),
])

#: 0.12's C{unicat} (plugins C{unicat/include/cocaine/idl/unicat.hpp}):
#: C{grant}/C{revoke}(entities, cids, uids, flags), entities
#: C{[(scheme, service or nil, uri)]}, flags R = 1, W = 2; answers C{[]}.
UNICAT = Protocol("unicat", [
    Message("grant", [Arg("entities", "list"), Arg("cids", "list"),
                      Arg("uids", "list"), Arg("flags", "int")]),
    Message("revoke", [Arg("entities", "list"), Arg("cids", "list"),
                       Arg("uids", "list"), Arg("flags", "int")]),
])

__all__ = ["NODE", "APP", "CONTROL", "NODE_VERSION", "APP_VERSION",
           "LOCATOR", "STORAGE", "LOGGING", "DISCARD", "TERMINAL",
           "LOCATOR_VERSION", "STORAGE_VERSION", "LOGGING_VERSION",
           "METRICS", "METRICS_VERSION", "UNICAT", "UNICAT_VERSION"]
