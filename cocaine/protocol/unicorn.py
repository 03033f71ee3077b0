# -*- test-case-name: tests.unicorn.test_protocol -*-
"""
The C{unicorn} service's protocol, exactly as Cocaine 0.12 declares it
(cocaine-plugins v0.12 C{unicorn/include/cocaine/idl/unicorn.hpp}).

Every method's dispatch moves to L{FINAL}, whose one message C{close}
ends the channel: it cancels a watch and releases a lock. The upstream of
C{subscribe}, C{children_subscribe} and C{lock} is a stream, of the rest
the primitive protocol. A versioned value travels as C{[value, version]}
(0.12's C{type_traits<versioned_value_t>}), so C{get} answers
C{value [[value, version]]} and C{put} C{value [applied, [value,
version]]}.
"""

from cocaine.protocol.idl import Arg, Message, Protocol, STREAMING

#: The unicorn protocol's version (C{protocol<unicorn_tag>::version}).
UNICORN_VERSION = 1

#: What a client may send on any unicorn channel (0.12's
#: C{unicorn_final_tag}): C{close}, then nothing.
FINAL = Protocol("unicorn_final", [Message("close", args=())])

UNICORN = Protocol("unicorn", [
    Message("subscribe", [Arg("path", "str")], dispatch=FINAL,
            upstream=STREAMING),
    Message("children_subscribe", [Arg("path", "str")], dispatch=FINAL,
            upstream=STREAMING),
    Message("put", [Arg("path", "str"), Arg("value"),
                    Arg("version", "int")], dispatch=FINAL),
    Message("get", [Arg("path", "str")], dispatch=FINAL),
    Message("create", [Arg("path", "str"), Arg("value")], dispatch=FINAL),
    Message("del", [Arg("path", "str"), Arg("version", "int")],
            dispatch=FINAL, method="remove"),
    # 0.12's alias of del ("del" is a keyword in Python)
    Message("remove", [Arg("path", "str"), Arg("version", "int")],
            dispatch=FINAL),
    Message("increment", [Arg("path", "str"), Arg("value")],
            dispatch=FINAL),
    Message("lock", [Arg("path", "str")], dispatch=FINAL,
            upstream=STREAMING),
])
