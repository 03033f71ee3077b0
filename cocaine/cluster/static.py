# -*- test-case-name: tests.cluster.test_static -*-
"""
Static discovery, for networks without multicast: the peers' locators are
listed in the config. Every C{interval} each peer is asked for its C{uuid};
an answer is the same event as a heard announce, so peering, silence and
rejoin work exactly as with multicast.
"""

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger


def locatorProbe(reactor, timeout):
    """
    @return: a prober C{(host, port) -> Deferred of the uuid} over our
        client SDK, keeping one connection per peer, and a function that
        closes them all.
    """
    from cocaine.client import Locator
    clients = {}

    def probe(endpoint):
        client = clients.get(endpoint)
        if client is None:
            client = clients[endpoint] = Locator(
                reactor, [endpoint], timeout=timeout,
                connectTimeout=timeout)
        return client.invoke("uuid", ())

    def close():
        for client in list(clients.values()):
            client.disconnect()
        clients.clear()
    return probe, close


class StaticDiscovery(Service):
    """
    Probes the configured peers and reports each one that answers.

    @ivar stats: C{probes}, C{answers} and C{failures}.
    """

    log = Logger()

    def __init__(self, clock, uuid, peers, interval, heard, probe,
                 close=None, own=lambda: []):
        """
        @param peers: C{[(host, port), ...]}.
        @param heard: called with C{(uuid, [(host, port)])} per answer.
        @param probe: C{(host, port) -> Deferred of the peer's uuid}.
        @param own: a callable returning our locator's endpoints, which
            are never probed.
        """
        self._clock = clock
        self.uuid = uuid
        self.peers = [tuple(p) for p in peers]
        self.interval = interval
        self._heard = heard
        self._probe = probe
        self._close = close
        self._own = own
        self._outstanding = {}
        self._loop = None
        self._lastPoke = None
        self.pokeGap = min(1.0, interval / 4.0)
        self.stats = {"probes": 0, "answers": 0, "failures": 0}

    def startService(self):
        Service.startService(self)
        self._loop = LoopingCall(self.probeAll)
        self._loop.clock = self._clock
        self._loop.start(self.interval, now=True).addErrback(
            lambda f: self.log.failure("cluster probe loop failed", f))

    def stopService(self):
        Service.stopService(self)
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        for d in list(self._outstanding.values()):
            d.cancel()
        if self._close is not None:
            self._close()

    def probeAll(self):
        """
        Ask every peer that has no question outstanding.
        """
        own = {tuple(e) for e in self._own()}
        for peer in self.peers:
            if peer in own or peer in self._outstanding:
                continue
            self._probeOne(peer)

    def poke(self):
        """
        Something new knocked (a node opened C{connect} on our locator):
        probe now rather than at the next interval, at most once per
        C{pokeGap}.
        """
        if not self.running:
            return
        now = self._clock.seconds()
        if self._lastPoke is not None and now - self._lastPoke < self.pokeGap:
            return
        self._lastPoke = now
        self.probeAll()

    def _probeOne(self, peer):
        self.stats["probes"] += 1
        try:
            d = self._probe(peer)
        except Exception as e:
            d = Deferred()
            d.errback(e)
        self._outstanding[peer] = d

        def answered(uuid):
            if isinstance(uuid, bytes):
                uuid = uuid.decode("utf-8", "replace")
            self.stats["answers"] += 1
            if uuid != self.uuid:
                self._heard(uuid, [peer])

        def failed(failure):
            self.stats["failures"] += 1
            self.log.debug("cluster: peer {host}:{port} did not answer: "
                           "{reason}", host=peer[0], port=peer[1],
                           reason=failure.getErrorMessage())

        def done(_):
            self._outstanding.pop(peer, None)
        d.addCallbacks(answered, failed)
        d.addBoth(done)
