# -*- test-case-name: tests.mesh.test_exports -*-
"""
Mesh components in the cote style, wire-compatible with cote 1.2.0: see
C{docs/mesh.md}.
"""

from cocaine.mesh.amp import AMPDecoder, FramingError, MessageTooLarge
from cocaine.mesh.components import (
    MeshError,
    Publisher,
    QueueFull,
    RemoteError,
    Requester,
    RequestTimeout,
    Responder,
    ResponderLost,
    Subscriber,
    run,
)
from cocaine.mesh.discovery import DiscoveryOptions, MalformedHello
from cocaine.mesh.monitor import Monitor
from cocaine.mesh.sockend import Sockend

__all__ = [
    "AMPDecoder",
    "DiscoveryOptions",
    "FramingError",
    "MalformedHello",
    "MeshError",
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
