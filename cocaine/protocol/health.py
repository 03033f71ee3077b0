# -*- test-case-name: tests.health.test_services -*-
"""
Cocaine 0.12's C{echo} and C{uniresis} protocols (cocaine-plugins
C{echo/include/cocaine/idl/echo.hpp} and
C{uniresis/include/cocaine/idl/uniresis.hpp}), both version 1; every
method answers once.
"""

from cocaine.protocol.idl import Arg, Message, Protocol

#: The echo protocol's version.
ECHO_VERSION = 1
#: The uniresis protocol's version.
UNIRESIS_VERSION = 1

#: C{ping(text) -> [text]}.
ECHO = Protocol("echo", [
    Message("ping", [Arg("message", "str")]),
])

#: C{cpu_count() -> [uint]}, C{memory_count() -> [uint64 bytes]},
#: C{uuid() -> [text]}.
UNIRESIS = Protocol("uniresis", [
    Message("cpu_count", []),
    Message("memory_count", []),
    Message("uuid", [], method="getUuid"),
])

__all__ = ["ECHO", "ECHO_VERSION", "UNIRESIS", "UNIRESIS_VERSION"]
