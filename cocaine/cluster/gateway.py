# -*- test-case-name: tests.cluster.test_remote -*-
"""
Gateways: which remote node answers C{resolve} of a name that is only
remote. A gateway is any object with C{choose(name, providers)}; the
C{adhoc} one (Cocaine's) picks a random provider; the C{load-aware} one
(ours) keeps the local node until it is busier than a peer by C{bias},
then takes a peer at random among the least-loaded ones (those within
C{bias} of the lowest score).
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
    best peer's plus C{bias}, otherwise a random peer among those whose
    score is within C{bias} of the lowest. (Random among near-equals, not
    strictly the lowest: a peer claiming to be idle whatever it is sent
    shares the resolves with every honest peer near idle instead of taking
    them all; issue 14.)
    Peers without a report for the name count only when no peer has one
    (then a random one, as L{AdhocGateway}); a name without a local report
    (not an app: storage, logging) stays local.
    """

    name = "load-aware"

    def __init__(self, remote, localLoad, bias=0.1, rng=None):
        """
        @param remote: the L{cocaine.cluster.remote.RemoteTable}, holding
            each peer's last report.
        @param localLoad: C{() -> report} of this node.
        """
        self._remote = remote
        self._localLoad = localLoad
        self.bias = bias
        self._rng = rng or random.Random()

    def scores(self, name, providers):
        """
        @return: C{{uuid: score}} of the providers that reported C{name}.
        """
        result = {}
        for uuid in providers:
            value = score(self._remote.load(uuid), name)
            if value is not None:
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
        return providers[self._rng.choice(sorted(
            uuid for uuid, value in scored.items()
            if value <= best + self.bias))]


#: Gateways by their config name.
GATEWAYS = {"adhoc": AdhocGateway, "load-aware": LoadAwareGateway}
