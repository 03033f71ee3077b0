# -*- test-case-name: tests.mesh.test_components -*-
"""
What every cote component shares: its advertisement, its own discovery
(its own C{iid}, as in cote) and the rule of which peers pair with it.

Two components pair when their C{axon_type}s pair up (C{req}/C{rep},
C{sub-emitter}/C{pub-emitter}), their key strings are equal
(C{"<environment>:$$<key>"}, see L{formatKey}) and their namespaces are
equal. Servers (L{cocaine.mesh.server}) listen and advertise their port;
clients (L{cocaine.mesh.client}) connect to every server they pair with.
"""

import inspect
import os

from twisted.application.service import Service
from twisted.internet import defer

from cocaine.mesh.discovery import (
    DiscoveryProtocol, discoveryOptions, listenDiscovery)

__all__ = ["Component", "asDeferred", "formatKey", "run"]


def formatKey(key=None, environment=None):
    """
    The key string as cote builds it: C{"<environment>:$$<key>"},
    C{"$$<key>"} without environment, C{"$$"} with neither. The
    environment defaults to C{$COTE_ENV}.
    """
    if environment is None:
        environment = os.environ.get("COTE_ENV", "")
    prefix = environment + ":" if environment else ""
    return prefix + "$$" + (key or "")


class Component(Service):
    """
    What all components share: the advertisement and discovery.

    @param name: the component's name, sent in every hello.
    @param key: the segmentation key (see L{formatKey}).
    @param namespace: the namespace; only equal namespaces pair.
    @param environment: the environment (default C{$COTE_ENV}).
    @param advertisement: more advertisement fields.
    @param discovery: a L{DiscoveryOptions}; or pass its keywords instead.
    @param reactor: the reactor (TCP, UDP); default the global one.
    @param clock: the clock of timers; default C{reactor}.
    @param tls: a L{cocaine.mesh.tls.MeshTLS}: mutual TLS with our own
        components that have it too, and no connection with any other
        (ours). L{None}: plain TCP, as cote.

    @cvar axonType: the C{axon_type} advertised.
    @cvar oppo: the C{axon_type} this component pairs with.
    """

    axonType = None
    oppo = None
    #: How discovery sockets are opened (tests replace it).
    _listenDiscovery = staticmethod(listenDiscovery)

    def __init__(self, name, key=None, namespace=None, environment=None,
                 advertisement=None, discovery=None, reactor=None,
                 clock=None, tls=None, **options):
        if reactor is None:
            from twisted.internet import reactor
        self.name = name
        self.tls = tls
        self.reactor = reactor
        self.clock = clock if clock is not None else reactor
        self.namespace = namespace
        ad = {"type": "service"}
        ad.update(advertisement or {})
        ad["name"] = name
        ad["key"] = formatKey(key, environment)
        ad["axon_type"] = self.axonType
        if namespace is not None:
            ad["namespace"] = namespace
        self.advertisement = ad
        self.discoveryOptions = discoveryOptions(discovery, options)
        self.discovery = None
        self._discoveryPorts = []
        self._peerObservers = []

    def matches(self, peer):
        """
        Whether a discovered peer pairs with this component (as cote
        decides).
        """
        ad = peer.advertisement
        return (ad.get("axon_type") == self.oppo
                and ad.get("key") == self.advertisement["key"]
                and ad.get("namespace")
                == self.advertisement.get("namespace"))

    def _startDiscovery(self):
        self.discovery = DiscoveryProtocol(
            self.advertisement, self.discoveryOptions, clock=self.clock)
        self.discovery.addObserver(self._peerAdded, self._peerRemoved)
        self._discoveryPorts = self._listenDiscovery(self.reactor,
                                                     self.discovery)

    def _stopDiscovery(self):
        ports, self._discoveryPorts = self._discoveryPorts, []
        return defer.gatherResults(
            [defer.maybeDeferred(p.stopListening) for p in ports])

    def addPeerObserver(self, added, removed):
        """
        Observe the peers that pair with this component: call
        C{added(peer)} for each one discovered (at once for those known
        already), after the component itself took it in, and
        C{removed(peer)} for each one gone, after the component let it go.

        @param added: called with a L{cocaine.mesh.discovery.Peer}.
        @param removed: called with a L{cocaine.mesh.discovery.Peer}.
        @return: a function that stops this observation.
        """
        observer = (added, removed)
        self._peerObservers.append(observer)
        if self.discovery is not None:
            for peer in list(self.discovery.peers.values()):
                if self.matches(peer):
                    added(peer)

        def stop():
            if observer in self._peerObservers:
                self._peerObservers.remove(observer)
        return stop

    def _peerAdded(self, peer):
        if self.matches(peer):
            self.peerAdded(peer)
            for added, _ in list(self._peerObservers):
                added(peer)

    def _peerRemoved(self, peer):
        if self.matches(peer):
            self.peerRemoved(peer)
            for _, removed in list(self._peerObservers):
                removed(peer)

    def peerAdded(self, peer):
        """
        A peer that pairs with this component was discovered.
        """

    def peerRemoved(self, peer):
        """
        A peer that paired with this component is gone.
        """


def asDeferred(result):
    """
    A handler's result as a L{Deferred}: itself, one awaiting a coroutine
    (or other awaitable), or one already fired with a plain value.
    """
    if (inspect.isawaitable(result)
            and not isinstance(result, defer.Deferred)):
        async def wait():
            return await result
        return defer.Deferred.fromCoroutine(wait())
    return defer.maybeDeferred(lambda: result)


def run(main, *args):
    """
    Run C{main(reactor, *args)} (a coroutine function or a function
    returning a Deferred) under the global reactor and exit with its
    outcome: the plain-script entry point, a thin wrapper of
    L{twisted.internet.task.react}.
    """
    from twisted.internet import task

    def start(reactor, *a):
        try:
            result = main(reactor, *a)
        except BaseException:
            return defer.fail()
        return asDeferred(result)

    task.react(start, args)
