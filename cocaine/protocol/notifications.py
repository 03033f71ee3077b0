# -*- test-case-name: tests.notifications.test_service -*-
"""
The protocol of the C{notifications} service (ours: Cocaine 0.12 shipped
none), declared in the style of 0.12's services so 0.12 clients, which
build their methods from the dispatch graph C{resolve} returns, can call
it:

  - 0 C{publish(channel, value)}: primitive, answers C{value [delivered]};
  - 1 C{subscribe(channels)}: the service streams C{write [channel,
    value]} until the client sends C{close} on the channel (or the
    connection drops); the service then answers C{close}.
"""

from cocaine.protocol.idl import STREAMING, Arg, Message, Protocol

#: The notifications service's protocol version.
NOTIFICATIONS_VERSION = 1

#: What a subscriber may send on its channel: C{close} ends the
#: subscription.
UNSUBSCRIBE = Protocol("unsubscribe", [Message("close", args=())])

NOTIFICATIONS = Protocol("notifications", [
    Message("publish", [Arg("channel", "str"), Arg("value", "any")]),
    Message("subscribe", [Arg("channels", "strings")], dispatch=UNSUBSCRIBE,
            upstream=STREAMING),
])

__all__ = ["NOTIFICATIONS", "NOTIFICATIONS_VERSION", "UNSUBSCRIBE"]
