# -*- test-case-name: tests.cluster.test_remote -*-
"""
Gateways: which remote node answers C{resolve} of a name that is only
remote. A gateway is any object with C{choose(name, providers)}; the
C{adhoc} one (Cocaine's) picks a random provider.
"""

import random

from zope.interface import Interface, implementer


class IGateway(Interface):
    """
    Chooses among the remote nodes that provide a service.
    """

    def choose(name, providers):
        """
        @param providers: C{{node uuid: (endpoints, version, graph)}}, not
            empty.
        @return: one of the entries.
        """


@implementer(IGateway)
class AdhocGateway:
    """
    A random remote node providing the name, as Cocaine's adhoc gateway.
    """

    name = "adhoc"

    def __init__(self, rng=None):
        self._rng = rng or random.Random()

    def choose(self, name, providers):
        return providers[self._rng.choice(sorted(providers))]


#: Gateways by their config name.
GATEWAYS = {"adhoc": AdhocGateway}
