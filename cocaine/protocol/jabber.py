# -*- test-case-name: tests.jabber.test_service -*-
"""
The protocol of the C{jabber} service (ours: Cocaine 0.12 never published
one). Ids are positions:

  0. C{send(to, body, type="chat")} answers C{[id]}, the id of the
     message stanza sent.
  1. C{subscribe()} streams each incoming message as a chunk
     C{[from, body, type]} until the client sends C{close} (or goes).
  2. C{presence(status="")} answers C{[]}.
"""

from cocaine.protocol.idl import Arg, Message, Protocol, STREAMING

#: The jabber service's protocol version.
JABBER_VERSION = 1

#: What a client may send on a C{subscribe} channel: C{close} ends it.
SUBSCRIPTION = Protocol("subscription", [Message("close", args=())])

JABBER = Protocol("jabber", [
    Message("send", [Arg("to", "str"), Arg("body", "str"),
                     Arg("type", "str", True)]),
    Message("subscribe", [], dispatch=SUBSCRIPTION, upstream=STREAMING),
    Message("presence", [Arg("status", "str", True)]),
])
