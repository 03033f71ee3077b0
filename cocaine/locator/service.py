# -*- test-case-name: tests.locator.test_service -*-
"""
The locator service (PROTOCOL.md section 5, locator version 3).
"""

import errno
import random

from twisted.application.service import Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger
from zope.interface import implementer

from cocaine.cluster.gateway import AdhocGateway
from cocaine.cluster.remote import RemoteTable
from cocaine.errors import (
    InvalidArgument, RoutingStorageError, ServiceNotAvailable, SystemError_)
from cocaine.interfaces import IRPCService
from cocaine.locator.routing import parseGroup
from cocaine.protocol.framing import unpackValue
from cocaine.protocol.services import LOCATOR, LOCATOR_VERSION

#: Where routing groups are kept, and the tags that mark a live one.
GROUPS_COLLECTION = "groups"
GROUP_TAGS = ["group", "active"]

_REMOVED = [[], 0, {}]


class _Published:
    """
    The dispatch target of a C{publish} channel: the name stays published
    until C{discard} or until the connection drops.
    """

    def __init__(self, registry, name, entry):
        self._registry = registry
        self._name = name
        self._entry = entry

    def discard(self):
        # only this publication: the name may be the node's again since
        self._registry.withdraw(self._name, self._entry)

    connectionLost = discard


class _Routing:
    """
    The dispatch target of a C{routing} channel: C{discard} (or the client
    going away) detaches the router's stream.
    """

    def __init__(self, detach):
        self.discard = self.connectionLost = detach


@implementer(IRPCService)
class LocatorService(Service):
    """
    Resolves names from a L{cocaine.locator.registry.Registry}, routing
    groups kept in storage and, for names only remote nodes publish, the
    cluster's remote table through a gateway.

    @ivar remote: the L{cocaine.cluster.remote.RemoteTable} of the linked
        remote nodes (empty without a cluster).
    @ivar gateway: an L{cocaine.cluster.gateway.IGateway} choosing the
        remote node that answers for a name.
    @ivar onConnect: callables called with the uuid of every node that
        opens C{connect}.
    @ivar peering: the cluster's L{cocaine.cluster.peering.Peering}, or
        L{None} without a cluster.
    @ivar loads: the cluster's L{cocaine.cluster.load.LoadPublisher}
        sending our load to the C{connect} streams that ask for it, or
        L{None} (then they get none).
    @ivar publishPermission: L{None}, or C{check(upstream, name)} called
        before C{publish} takes C{name}: it raises a
        L{cocaine.errors.CocaineError} (such as a permission error) to
        refuse. The hook where authorization requires a permission to
        publish; names the node holds are refused whatever it says.
    @ivar maxStreams: the most C{connect} streams open on the node
        (C{network.max-locator-streams}), or L{None}: each registry change
        is written to every one of them.
    @ivar streams: the C{connect} streams open.
    """

    #: see the class docstring
    publishPermission = None
    maxStreams = None
    streams = 0

    protocol = LOCATOR
    version = LOCATOR_VERSION
    log = Logger()

    def __init__(self, registry, uuid, storage=None, rng=None, remote=None,
                 gateway=None):
        """
        @param storage: the backend holding routing groups, or L{None}.
        @param remote: the remote table; a new empty one by default.
        @param gateway: the remote gateway; L{AdhocGateway} by default.
        """
        self.registry = registry
        self.remote = RemoteTable() if remote is None else remote
        self.gateway = AdhocGateway(rng) if gateway is None else gateway
        self.onConnect = []
        self.peering = None
        self.loads = None
        self.uuid = uuid
        self.storage = storage
        self.groups = {}
        self._rng = rng or random.Random()
        self._routers = {}

    def startService(self):
        Service.startService(self)
        if self.storage is None:
            return None
        d = self.loadGroups()
        d.addErrback(lambda f: self.log.warn(
            "routing groups not loaded: {reason}",
            reason=f.getErrorMessage()))
        return d

    async def _readGroup(self, name):
        raw = await maybeDeferred(self.storage.read, GROUPS_COLLECTION, name)
        return parseGroup(name, unpackValue(raw))

    async def _loadGroups(self, names=None):
        if self.storage is None:
            raise RoutingStorageError("no storage for routing groups")
        try:
            active = set(await maybeDeferred(
                self.storage.find, GROUPS_COLLECTION, GROUP_TAGS))
        except Exception as e:
            raise RoutingStorageError("routing groups: {}".format(e))
        if names is None:
            names = set(self.groups) | active
        for name in names:
            if name not in active:
                self.groups.pop(name, None)
                continue
            try:
                self.groups[name] = await self._readGroup(name)
            except Exception as e:
                self.log.warn("routing group {group} not loaded: {reason}",
                              group=name, reason=str(e))
                self.groups.pop(name, None)
        self._publishRouting()

    def loadGroups(self, names=None):
        """
        (Re)load routing groups from storage: all of them, or C{names}.

        @return: a Deferred.
        """
        return Deferred.fromCoroutine(self._loadGroups(names))

    def _publishRouting(self):
        table = self.routingTable()
        for upstream in list(self._routers.values()):
            upstream.write(table)

    def routingTable(self):
        return {name: group.wire() for name, group in self.groups.items()}

    # -- the protocol ------------------------------------------------------

    def lookup(self, name):
        """
        The entry of C{name}: when remote nodes publish it too, the one the
        gateway chooses among them and ours; else ours, else L{None}.
        """
        entry = self.registry.lookup(name)
        providers = self.remote.providers(name)
        if not providers:
            return entry
        if entry is None:
            return self.gateway.choose(name, providers)
        return self.gateway.choose(name, providers, local=entry)

    def resolve(self, name, seed=None):
        """
        As in 0.12, a routing group named C{name} first maps it to one
        member (by C{seed}, or at random without one or with an empty
        one), which then resolves like any name, whether it is published
        or not: a group hides a service of the same name, and an
        unpublished member fails the resolve rather than handing its
        seeds to another member.
        """
        group = self.groups.get(name)
        if group is None:
            entry = self.lookup(name)
            if entry is not None:
                return entry
            raise ServiceNotAvailable(
                "service {!r} is not available".format(name))
        member = group.pick(seed, self._rng)
        entry = self.lookup(member)
        if entry is not None:
            return entry
        raise ServiceNotAvailable(
            "service {!r} is not available (member of routing group {!r})"
            .format(member, name))

    def connect(self, upstream, uuid, options=None):
        """
        The C{connect} stream: our table, then its changes. With
        C{options} C{{"load": true}} (ours; Cocaine sends one argument)
        our load reports are interleaved as C{[uuid, {}, {"load": ...}]}.
        """
        if self.maxStreams is not None and self.streams >= self.maxStreams:
            raise SystemError_(
                "locator: {} connect streams are open, the limit "
                "(max-locator-streams)".format(self.streams),
                code=errno.EMFILE)
        peer = uuid.decode("utf-8", "replace") if isinstance(
            uuid, bytes) else uuid
        for hook in list(self.onConnect):
            try:
                hook(peer)
            except Exception:
                self.log.failure("locator connect hook failed")
        upstream.write(self.uuid, {
            name: list(entry) for name, entry in
            self.registry.snapshot().items()})

        def changed(name, entry):
            upstream.write(self.uuid, {
                name: _REMOVED if entry is None else list(entry)})
        upstream.notifyClose(self.registry.watch(changed))
        self.streams += 1
        upstream.notifyClose(self._streamClosed)
        if (isinstance(options, dict) and self.loads is not None
                and (options.get("load") or options.get(b"load"))):
            self.loads.subscribe(upstream)

    def _streamClosed(self):
        self.streams -= 1

    def refresh(self, groups):
        return self.loadGroups(groups)

    def cluster(self):
        return (self.remote.nodes(),)

    def publish(self, upstream, name, endpoints, description=None):
        checked = []
        for endpoint in endpoints:
            if (not isinstance(endpoint, list) or len(endpoint) != 2
                    or not isinstance(endpoint[0], (bytes, str))
                    or type(endpoint[1]) is not int
                    or not 0 < endpoint[1] <= 65535):
                raise InvalidArgument(
                    "locator.publish: endpoints must be [[host, port], ...], "
                    "got {!r}".format(endpoints))
            host = endpoint[0]
            try:
                host = host.decode() if isinstance(host, bytes) else host
            except UnicodeDecodeError:
                raise InvalidArgument(
                    "locator.publish: endpoint host {!r} is not UTF-8 text"
                    .format(host))
            checked.append([host, endpoint[1]])
        if not checked:
            # An empty endpoint list means "removed" on the connect stream.
            raise InvalidArgument(
                "locator.publish: endpoints must not be empty")
        version, graph = 1, {}
        if description is not None:
            if (not isinstance(description, list) or len(description) != 2
                    or type(description[0]) is not int
                    or not isinstance(description[1], dict)):
                raise InvalidArgument(
                    "locator.publish: description must be [version, graph]")
            version, graph = description
        check = self.publishPermission
        if check is not None:
            check(upstream, name)
        entry = self.registry.publishForeign(name, checked, version, graph)
        upstream.value()
        return _Published(self.registry, name, entry)

    def routing(self, upstream, router):
        """
        The C{routing} stream of router C{router}: the table now and on
        every change. As in Cocaine 0.12 a router id has one stream: a
        new C{routing} call with the same id replaces the old one, and the
        client's C{discard} detaches it (nothing more is sent on it).
        """
        upstream.write(self.routingTable())
        self._routers[router] = upstream

        def detach():
            if self._routers.get(router) is upstream:
                del self._routers[router]
        upstream.notifyClose(detach)
        return _Routing(detach)

    def getUuid(self):
        return (self.uuid,)
