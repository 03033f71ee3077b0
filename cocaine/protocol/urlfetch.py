# -*- test-case-name: tests.urlfetch.test_service -*-
"""
Cocaine 0.12's C{urlfetch} protocol (cocaine-plugins
C{urlfetch/include/cocaine/idl/urlfetch.hpp}), version 1.

Both methods answer once (the primitive protocol) with C{[bool success,
string body, int code, {name: value}]}. C{timeout} is in milliseconds
(default 5000), C{follow_location} defaults to true; C{cookies} and
C{headers} are maps of text to text.
"""

from cocaine.protocol.idl import Arg, Message, Protocol

#: The protocol version resolve reports.
URLFETCH_VERSION = 1

URLFETCH = Protocol("urlfetch", [
    Message("get", [Arg("url", "str"), Arg("timeout", "any", True),
                    Arg("cookies", "any", True), Arg("headers", "any", True),
                    Arg("follow_location", "any", True)]),
    Message("post", [Arg("url", "str"), Arg("body", "bytes"),
                     Arg("timeout", "any", True), Arg("cookies", "any", True),
                     Arg("headers", "any", True),
                     Arg("follow_location", "any", True)]),
])

__all__ = ["URLFETCH", "URLFETCH_VERSION"]
