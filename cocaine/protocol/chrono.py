# -*- test-case-name: tests.chrono.test_service -*-
"""
Cocaine 0.12's C{chrono} protocol (cocaine-plugins
C{chrono/include/cocaine/idl/chrono.hpp}), version 1.

C{notify_after} and C{notify_every} take C{[double seconds, bool send_id
= false]} and answer with a stream of int64 timer ids; the client sends
nothing after them. C{cancel} and C{restart} take the id and answer
C{[]} once.
"""

from cocaine.protocol.idl import STREAMING, Arg, Message, Protocol

#: The protocol version resolve reports.
CHRONO_VERSION = 1

CHRONO = Protocol("chrono", [
    Message("notify_after", [Arg("time", "any"), Arg("send_id", "any", True)],
            upstream=STREAMING),
    Message("notify_every", [Arg("time", "any"), Arg("send_id", "any", True)],
            upstream=STREAMING),
    Message("cancel", [Arg("id", "int")]),
    Message("restart", [Arg("id", "int")]),
])

__all__ = ["CHRONO", "CHRONO_VERSION"]
