# -*- test-case-name: tests.cluster.test_peering -*-
"""
Locator peering (PROTOCOL.md section 10): for every node discovery hears,
connect to its locator and call C{connect(own uuid)}; the stream's first
chunk is the node's full table, the next ones single-service updates (an
empty endpoint list removes a name). The node and its services are dropped
when the stream closes (and the link reconnects with backoff) and
forgotten after 3 x interval without an announce. Each link's lifecycle
is one machine, L{cocaine.cluster.link.PeerLinkMachine}.
"""

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from cocaine.cluster.link import FIRST_BACKOFF, PeerLink
from cocaine.cluster.logbudget import LogBudget

__all__ = ["FIRST_BACKOFF", "MAX_UNLINKED", "SILENCE_INTERVALS",
           "LocatorStream", "locatorStreams", "Peering"]

#: Silence for this many announce intervals forgets a node.
SILENCE_INTERVALS = 3

#: Nodes heard but not linked tracked at most, unless configured.
MAX_UNLINKED = 64

#: The summary of the lines of each kind a L{LogBudget} held back.
_HELD = {
    "unlinked": "cluster: {count} more failed attempts to link to nodes in "
                "the last {period:g}s, not logged one by one",
    "dropped": "cluster: {count} more nodes dropped for silence in the last "
               "{period:g}s, not logged one by one",
}


class LocatorStream:
    """
    The C{connect} stream of a remote locator, over our client SDK.
    """

    def __init__(self, locator, channel):
        self._locator = locator
        self._channel = channel

    @classmethod
    async def open(cls, reactor, endpoints, ownUuid, timeout):
        from cocaine.client import Locator
        locator = Locator(reactor, [tuple(e) for e in endpoints],
                          connectTimeout=timeout)
        try:
            # ours: {"load": true} asks for load reports on the stream
            channel = await locator.connect(ownUuid, {"load": True},
                                            timeout=timeout)
        except BaseException:
            locator.disconnect()
            raise
        return cls(locator, channel)

    def read(self):
        """
        @return: a Deferred of the next C{(uuid, {name: entry})} (or
            C{(uuid, {}, {"load": report})}, ours), failing
            with L{ChannelClosed} or the error that ended the stream.
        """
        return self._channel.read()

    def close(self):
        return self._locator.disconnect()


def locatorStreams(reactor, timeout):
    """
    @return: a function C{(endpoints, ownUuid) -> Deferred of a stream}
        opening real L{LocatorStream}s.
    """
    def openStream(endpoints, ownUuid):
        return Deferred.fromCoroutine(LocatorStream.open(
            reactor, endpoints, ownUuid, timeout))
    return openStream


class Peering(Service):
    """
    The links to every node discovery reports.

    Nodes heard but not linked (a flood of spoofed uuids, without a secret)
    are bounded: at most C{maxUnlinked} are tracked; a new one takes the
    place of the oldest that is not connecting (an attempt in flight is
    never abandoned, so attempts stay bounded too), or is ignored when all
    are. Each is forgotten after the silence period anyway, so nothing of
    a flood is left once it stops.

    @ivar remote: the L{cocaine.cluster.remote.RemoteTable} the links fill.
    @ivar stats: C{evicted} (unlinked nodes forgotten for newer ones),
        C{refused} (new nodes ignored: every unlinked one connecting).
    @ivar logBudget: the L{LogBudget} of the lines about nodes that cannot
        be linked (C{unlinked}) or are dropped for silence (C{dropped}): a
        flood of announces logs a few of each and a count.
    """

    log = Logger()

    def __init__(self, clock, uuid, remote, interval, openStream,
                 forgotten=None, maxUnlinked=MAX_UNLINKED):
        """
        @param openStream: C{(endpoints, ownUuid) -> Deferred of a stream}
            with C{read()} and C{close()} (L{locatorStreams}).
        @param forgotten: called with a uuid when a node is forgotten.
        @param maxUnlinked: nodes heard but not linked tracked at most.
        """
        self.maxUnlinked = maxUnlinked
        self.stats = {"evicted": 0, "refused": 0}
        self.clock = clock
        self.uuid = uuid
        self.remote = remote
        self.interval = interval
        self.silence = SILENCE_INTERVALS * interval
        self.openStream = openStream
        self._forgotten = forgotten
        self._links = {}
        self._watchers = []
        self.logBudget = LogBudget(clock, self._held)

    def _held(self, kind, count, period):
        self.log.info(_HELD[kind], count=count, period=period)

    def heard(self, uuid, endpoints):
        """
        Discovery heard node C{uuid} with its locator at C{endpoints}.
        """
        if uuid == self.uuid or not self.running:
            return
        link = self._links.get(uuid)
        if link is None:
            if not self._roomFor(uuid):
                return
            link = self._links[uuid] = PeerLink(self, uuid, endpoints)
            link.machine.start()
        else:
            link.machine.heard(endpoints)

    def _roomFor(self, uuid):
        """
        Make room for one more unlinked node, evicting the oldest unlinked
        one that is not connecting.

        @return: whether there is room.
        """
        linked = self.remote.nodes()
        if len(self._links) - len(linked) < self.maxUnlinked:
            return True
        for other, link in self._links.items():
            if other in linked or link.state in ("linked", "connecting"):
                continue
            del self._links[other]
            link.machine.close()
            self.stats["evicted"] += 1
            self.log.debug("cluster: node {uuid} forgotten for {new}: too "
                           "many unlinked nodes", uuid=other, new=uuid)
            if self._forgotten is not None:
                self._forgotten(other)
            return True
        self.stats["refused"] += 1
        return False

    def silenced(self, uuid, reason):
        """
        The link to node C{uuid} closed for silence (its services are
        dropped): forget the node.
        """
        if self._links.pop(uuid, None) is None:
            return
        if self.logBudget.allow("dropped"):
            self.log.info("cluster: node {uuid} dropped: {reason}",
                          uuid=uuid, reason=reason)
        self.changed()
        if self._forgotten is not None:
            self._forgotten(uuid)

    def left(self, uuid, reason):
        """
        Discovery says node C{uuid} has gone (its registration ended):
        close its link, so its services leave the remote table, and
        forget it.
        """
        link = self._links.pop(uuid, None)
        if link is None:
            return
        link.machine.close()
        self.log.info("cluster: node {uuid} left: {reason}", uuid=uuid,
                      reason=reason)
        self.changed()
        if self._forgotten is not None:
            self._forgotten(uuid)

    def isLinked(self, uuid):
        """
        @return: whether node C{uuid}'s table is in the remote table (its
            link's machine is C{linked}).
        """
        link = self._links.get(uuid)
        return link is not None and link.state == "linked"

    def links(self):
        """
        @return: C{{uuid: state name}} of every node heard and not
            forgotten.
        """
        return {uuid: link.state for uuid, link in self._links.items()}

    def watch(self, callback):
        """
        Call C{callback()} whenever the remote table changes. It runs
        inside a link's transition: it reads the remote table, not
        L{isLinked} or L{links} (a link asked its state during its own
        transition raises).
        """
        self._watchers.append(callback)

    def changed(self):
        for callback in list(self._watchers):
            try:
                callback()
            except Exception:
                self.log.failure("cluster watcher failed")

    def stopService(self):
        """
        Close every link; the nodes' services leave the remote table.
        """
        Service.stopService(self)
        links, self._links = self._links, {}
        for link in links.values():
            link.machine.close()
        self.logBudget.stop()
