# -*- test-case-name: tests.mesh.test_exports -*-
"""
Mesh components in the cote style, wire-compatible with cote 1.2.0: see
C{docs/mesh.md}.
"""

from cocaine.mesh.amp import AMPDecoder, FramingError, MessageTooLarge
from cocaine.mesh.component import run
from cocaine.mesh.discovery import DiscoveryOptions
from cocaine.mesh.errors import (
    MeshError,
    QueueFull,
    RemoteError,
    RequestTimeout,
    ResponderLost,
)
from cocaine.mesh.hello import MalformedHello
from cocaine.mesh.publisher import Publisher
from cocaine.mesh.requester import Requester
from cocaine.mesh.responder import Responder
from cocaine.mesh.subscriber import Subscriber
from cocaine.mesh.tls import MeshTLS

#: imported on first use: both modules are also run as programs
#: (C{python -m cocaine.mesh.monitor}), which runpy warns about when the
#: package has imported them already
_LAZY = {"Monitor": "cocaine.mesh.monitor", "Sockend": "cocaine.mesh.sockend"}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError("module 'cocaine.mesh' has no attribute {!r}"
                             .format(name))
    import importlib
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AMPDecoder",
    "DiscoveryOptions",
    "FramingError",
    "MalformedHello",
    "MeshError",
    "MeshTLS",
    "MessageTooLarge",
    "Monitor",
    "Publisher",
    "QueueFull",
    "RemoteError",
    "Requester",
    "RequestTimeout",
    "Responder",
    "ResponderLost",
    "Sockend",
    "Subscriber",
    "run",
]
