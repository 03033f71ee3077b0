# -*- test-case-name: tests.elliptics.test_service -*-
"""
The C{elliptics} service's protocol: Cocaine 0.12's (cocaine-plugins
C{elliptics/include/cocaine/services/elliptics.hpp}, version 1). It extends
the storage protocol, so ids 0-3 are C{read}, C{write}, C{remove} and
C{find}; then C{cache_read} (4), C{cache_write} (5), C{bulk_read} (6) and
C{read_latest} (7). Namespaces (collections) and keys are text, as the
storage protocol's; values are bytes.
"""

from cocaine.protocol.idl import Arg, Message, Protocol
from cocaine.protocol.services import STORAGE

#: The elliptics service's protocol version (0.12's).
ELLIPTICS_VERSION = 1

ELLIPTICS = Protocol("elliptics", list(STORAGE.messages) + [
    Message("cache_read", [Arg("namespace", "str"), Arg("key", "str")]),
    Message("cache_write", [Arg("namespace", "str"), Arg("key", "str"),
                            Arg("value", "bytes"), Arg("ttl", "int", True)]),
    Message("bulk_read", [Arg("namespace", "str"), Arg("keys", "strings")]),
    Message("read_latest", [Arg("namespace", "str"), Arg("key", "str")]),
])

__all__ = ["ELLIPTICS", "ELLIPTICS_VERSION"]
