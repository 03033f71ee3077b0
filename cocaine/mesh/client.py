# -*- test-case-name: tests.mesh.test_components -*-
"""
The client side of the mesh: a component that connects to every server
it pairs with (one L{Link} each), and reports its connections to every
monitor whose key prefixes its own, as cote's requesters and subscribers
do. L{cocaine.mesh.requester.Requester} and
L{cocaine.mesh.subscriber.Subscriber} are clients.
"""

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from cocaine.mesh.component import Component
from cocaine.mesh.link import Link

__all__ = ["Client"]

log = Logger()


class _StatusReporter:
    """
    The connections of a client to the monitors it discovered, and the
    C{status} messages it sends them every C{statusInterval} seconds, as
    cote's requesters and subscribers do:
    C{[s:status, j:{"id": <iid>, "nodes": [<iids of connected servers>]}]}.

    It owns its links as a client does (see L{cocaine.mesh.link}).
    """

    def __init__(self, client, interval):
        self.client = client
        self.reactor = client.reactor
        self.tls = client.tls
        self.clock = client.clock
        self.interval = interval
        self.links = {}
        self._loop = None

    def add(self, peer):
        """
        Connect to a monitor discovered, and start reporting.
        """
        if (peer.port is None or peer.iid in self.links
                or not self.client._tlsAgrees(peer)):
            return
        link = self.links[peer.iid] = Link(self, peer)
        link.connect()
        if self._loop is None:
            self._loop = LoopingCall(self.report)
            self._loop.clock = self.clock
            self._loop.start(self.interval, now=False)

    def remove(self, peer):
        """
        Stop reporting to a monitor that is gone.
        """
        link = self.links.pop(peer.iid, None)
        if link is not None:
            link.close()

    def status(self):
        """
        The status message: our iid and those of the servers we are
        connected to.
        """
        discovery = self.client.discovery
        return {"id": discovery.iid if discovery is not None else None,
                "nodes": [l.peer.iid for l in self.client.connectedLinks()]}

    def report(self):
        """
        Send one status message to every connected monitor.
        """
        links = [l for l in self.links.values() if l.protocol is not None]
        if not links:
            return
        status = self.status()
        for link in links:
            link.protocol.sendMessage(["status", status])

    def linksChanged(self):
        pass

    def linkUp(self, link):
        # a newly connected monitor learns our connections at once
        link.protocol.sendMessage(["status", self.status()])

    def linkDown(self, link):
        pass

    def messageReceived(self, link, args, parts):
        pass

    def close(self):
        """
        Stop reporting and close every link.

        @return: a list of Deferreds that fire once they are closed.
        """
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        stops = [link.close() for link in list(self.links.values())]
        self.links.clear()
        return stops


class Client(Component):
    """
    A component that connects to every matching server, and reports its
    connections to every monitor whose key prefixes its own (as cote).

    @param statusInterval: seconds between status messages to monitors
        (cote: 5000 ms).

    @ivar links: L{dict} of a server's iid to its L{Link}.
    """

    def __init__(self, name, statusInterval=5.0, **kwargs):
        Component.__init__(self, name, **kwargs)
        self.links = {}
        self.monitors = _StatusReporter(self, statusInterval)
        self._connectedCache = None
        self._tlsSkipped = set()

    def _tlsAgrees(self, peer):
        """
        Whether we and C{peer} agree on TLS: we connect with TLS exactly to
        the servers advertising C{"tls": true}. The first skip of a peer
        is logged.
        """
        if (peer.advertisement.get("tls") is True) == (self.tls is not None):
            return True
        if peer.iid not in self._tlsSkipped:
            self._tlsSkipped.add(peer.iid)
            log.warn("{name}: not connecting to {peer}: {why}",
                     name=self.name, peer=peer,
                     why="it requires TLS and we have none"
                     if self.tls is None else "it does not offer TLS")
        return False

    def _isMonitor(self, peer):
        ad = peer.advertisement
        key = ad.get("key")
        return (ad.get("type") == "monitor" and isinstance(key, str)
                and self.advertisement["key"].startswith(key))

    def _peerAdded(self, peer):
        if self._isMonitor(peer):
            self.monitors.add(peer)
        Component._peerAdded(self, peer)

    def _peerRemoved(self, peer):
        self._tlsSkipped.discard(peer.iid)
        self.monitors.remove(peer)
        Component._peerRemoved(self, peer)

    def startService(self):
        """
        Start discovery; links follow the servers it finds.
        """
        Service.startService(self)
        self._startDiscovery()

    def stopService(self):
        """
        Close every link, stop reporting and stop discovery.

        @return: a Deferred that fires once they are all gone.
        """
        Service.stopService(self)
        return self._disconnect()

    def _disconnect(self):
        """
        Close every link, stop reporting and stop discovery.

        @return: a Deferred that fires once they are all gone.
        """
        stops = [link.close() for link in list(self.links.values())]
        self.links.clear()
        self.linksChanged()
        stops.extend(self.monitors.close())
        stops.append(self._stopDiscovery())
        return defer.gatherResults(stops).addCallback(lambda _: None)

    def peerAdded(self, peer):
        """
        Link to a server we pair with, unless we disagree on TLS.
        """
        if (peer.port is None or peer.iid in self.links
                or not self._tlsAgrees(peer)):
            return
        link = self.links[peer.iid] = Link(self, peer)
        link.connect()

    def peerRemoved(self, peer):
        """
        Close the link to a server that is gone.
        """
        link = self.links.pop(peer.iid, None)
        if link is not None:
            self.linksChanged()
            link.close()

    def connectedLinks(self):
        """
        @return: a new list of the links that are up.
        """
        return list(self._connected())

    def _connected(self):
        """
        The connected links, in the order of L{links}, kept until a link
        connects, drops or goes (not rebuilt for every request).
        """
        links = self._connectedCache
        if links is None:
            links = self._connectedCache = [
                l for l in self.links.values() if l.protocol is not None]
        return links

    def linksChanged(self):
        """
        A link came up, went down or was closed.
        """
        self._connectedCache = None

    def linkUp(self, link):
        """
        A link is up: requests and messages may go to its server.
        """

    def linkDown(self, link):
        """
        A link that was up is down.
        """

    def messageReceived(self, link, args, parts):
        """
        A message from a server.
        """
