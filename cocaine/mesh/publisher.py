# -*- test-case-name: tests.mesh.test_components -*-
"""
The L{Publisher}: publications to every connected subscriber, as cote's
(C{[s:message::<topic>, j:<data>]}, C{message::<namespace>::<topic>}
with a namespace). Fire-and-forget: nothing is stored or acknowledged.
"""

from cocaine.mesh.amp import pack
from cocaine.mesh.server import Server

__all__ = ["Publisher"]


class Publisher(Server):
    """
    Publishes to every connected subscriber; fire-and-forget.

    @param broadcasts: the advertised topics.
    """

    axonType = "pub-emitter"
    oppo = "sub-emitter"

    def __init__(self, name, broadcasts=None, **kwargs):
        Server.__init__(self, name, **kwargs)
        if broadcasts is not None:
            self.advertisement["broadcasts"] = list(broadcasts)

    def publish(self, topic, data):
        """
        Send C{data} under C{topic} to every connected subscriber.
        """
        if not self._connections:
            return
        prefix = "message::"
        if self.namespace:
            prefix += self.namespace + "::"
        message = pack([prefix + topic, data])
        for connection in tuple(self._connections):
            connection._sendPacked(message)
