# -*- test-case-name: tests.cluster.test_remote -*-
"""
Gateways: which remote node answers C{resolve} of a name that is only
remote. A gateway is any object with C{choose(name, providers)}; the
C{adhoc} one (Cocaine's) picks a random provider; the C{load-aware} one
(ours) keeps the local node until it is busier than a peer by C{bias},
then takes the least-loaded peer.
"""

import random

from zope.interface import Interface, implementer

from cocaine.protocol.load import score


class IGateway(Interface):
    """
    Chooses among the remote nodes that provide a service.
    """

    def choose(name, providers, local=None):
        """
        @param providers: C{{node uuid: (endpoints, version, graph)}}, not
            empty.
        @param local: this node's own entry for C{name}, or L{None} when
            only remote nodes publish it.
        @return: one of the entries (or C{local}).
        """


@implementer(IGateway)
class AdhocGateway:
    """
    A random remote node providing the name, as Cocaine's adhoc gateway.
    """

    name = "adhoc"

    def __init__(self, rng=None):
        self._rng = rng or random.Random()

    def choose(self, name, providers, local=None):
        if local is not None:
            return local
        return providers[self._rng.choice(sorted(providers))]


@implementer(IGateway)
class LoadAwareGateway:
    """
    The least-loaded node for the name, by the reports of
    L{cocaine.cluster.load}: the local node while its score is at most the
    best peer's plus C{bias}, otherwise the peer with the lowest score.
    Peers without a report for the name count only when no peer has one
    (then a random one, as L{AdhocGateway}); a name without a local report
    (not an app: storage, logging) stays local.

    With a clock, each resolve handed to a peer counts as one more session
    in its score until its reports catch up (decaying in the remote
    table's C{decay}), so a peer that claims to be idle whatever it is
    sent takes its share of resolves, not all of them.
    """

    name = "load-aware"

    def __init__(self, remote, localLoad, bias=0.1, rng=None, clock=None):
        """
        @param remote: the L{cocaine.cluster.remote.RemoteTable}, holding
            each peer's last report.
        @param localLoad: C{() -> report} of this node.
        @param clock: an C{IReactorTime} to count the resolves handed to
            each peer with, or L{None} not to count them.
        """
        self._clock = clock
        self._remote = remote
        self._localLoad = localLoad
        self.bias = bias
        self._rng = rng or random.Random()

    def scores(self, name, providers):
        """
        @return: C{{uuid: score}} of the providers that reported C{name}.
        """
        result = {}
        now = self._clock.seconds() if self._clock is not None else None
        for uuid in providers:
            report = self._remote.load(uuid)
            value = score(report, name)
            if value is None:
                continue
            if now is not None:
                load = report["apps"][name]
                slots = max(1.0, load.get("capacity", 1.0)
                            * load.get("concurrency", 1.0))
                value += self._remote.handed(uuid, name, now) / slots
            result[uuid] = value
        return result

    def choose(self, name, providers, local=None):
        scored = self.scores(name, providers)
        if local is not None:
            if not scored:
                return local
            try:
                mine = score(self._localLoad(), name)
            except Exception:
                mine = None
            if mine is None:
                return local
            best = min(scored.values())
            if mine <= best + self.bias:
                return local
        elif not scored:
            return providers[self._rng.choice(sorted(providers))]
        best = min(scored.values())
        uuid = self._rng.choice(sorted(
            uuid for uuid, value in scored.items() if value == best))
        if self._clock is not None:
            self._remote.hand(uuid, name, self._clock.seconds())
        return providers[uuid]


#: Gateways by their config name.
GATEWAYS = {"adhoc": AdhocGateway, "load-aware": LoadAwareGateway}
