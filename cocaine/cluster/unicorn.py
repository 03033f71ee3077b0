# -*- test-case-name: tests.cluster.test_unicorn -*-
"""
Discovery through unicorn (C{"discovery": "unicorn"}, C{docs/cluster.md}),
Cocaine 0.12's unicorn cluster on our unicorn backends: each node
registers C{/cocaine/discovery/<uuid>} holding its locator's endpoints on
a lease of its own (L{cocaine.cluster.registration}), and follows the
folder's children: a node listed is read once (C{get}) for its endpoints
and reported to peering every interval, exactly as an announce heard or a
static peer answering, so peering, the gateway and load reports work as
with the other discoveries. Nothing needs multicast or a list of peers:
only the coordination engine, which may be on another subnet.

A node no longer listed leaves peering at once when its link is down (a
node that died: its stream closed); a node still linked is given one
lease TTL to be listed again (the engine lost its data and every node is
registering again) before it is dropped. While the engine cannot be
reached the peers last known stay heard, so they stay linked and serving;
the watch of the folder resumes by itself (or is opened again) and the
peer set is brought up to date when it is back.
"""

from twisted.application.service import Service
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from cocaine.backoff import backoffDelay
from cocaine.cluster.registration import FOLDER, Registration, stopped

#: Seconds before the folder's watch is opened again after it failed:
#: the first, and at most (each plus up to a tenth at random).
RESUBSCRIBE_FIRST, RESUBSCRIBE_MAX = 0.1, 1.0


class BadEndpoints(ValueError):
    """
    A registration whose value is not C{[[address, port], ...]}.
    """


def parseEndpoints(value):
    """
    The endpoints a registration holds.

    @return: C{[(address, port), ...]}, not empty.
    @raise BadEndpoints: anything else.
    """
    if not isinstance(value, list) or not value:
        raise BadEndpoints("expected [[address, port], ...], got {!r}"
                           .format(value))
    endpoints = []
    for endpoint in value:
        if (not isinstance(endpoint, list) or len(endpoint) != 2
                or not isinstance(endpoint[0], str) or not endpoint[0]
                or type(endpoint[1]) is not int
                or not 0 < endpoint[1] <= 65535):
            raise BadEndpoints("bad endpoint {!r}".format(endpoint))
        endpoints.append((endpoint[0], endpoint[1]))
    return endpoints


class UnicornDiscovery(Service):
    """
    Registers this node and reports every other registered one.

    @ivar registration: our L{Registration}.
    @ivar peers: C{{uuid: [(address, port), ...] or None}}: every other
        node listed, with its endpoints once read.
    @ivar stats: C{listings} (folder listings received), C{watchFailures}
        (the folder's watch ended and was opened again), C{badValues}
        (registrations whose value is not endpoints), C{joined}, C{left}.
    """

    log = Logger()

    def __init__(self, clock, uuid, backend, endpoints, heard, left,
                 isLinked, interval, lease, folder=FOLDER):
        """
        @param backend: the L{cocaine.interfaces.IUnicornBackend}.
        @param endpoints: a callable returning our locator's endpoints.
        @param heard: called with C{(uuid, endpoints)} for every node
            registered, when read and every C{interval}.
        @param left: called with C{(uuid, reason)} when a node is gone.
        @param isLinked: C{uuid -> bool}: whether peering has the node
            linked.
        @param lease: the registration's TTL in seconds.
        """
        self._clock = clock
        self.uuid = uuid
        self.backend = backend
        self.folder = folder
        self.interval = interval
        self.lease = lease
        self._heard = heard
        self._left = left
        self._isLinked = isLinked
        self.registration = Registration(clock, backend, uuid, endpoints,
                                         lease, folder)
        self.peers = {}
        self._reading = set()
        self._unlisted = {}
        self._watch = None
        self._token = None
        self._resubscribe = None
        self._failures = 0
        self._loop = None
        self.stats = {"listings": 0, "watchFailures": 0, "badValues": 0,
                      "joined": 0, "left": 0}

    def startService(self):
        Service.startService(self)
        self.registration.machine.start()
        self._subscribe()
        self._loop = LoopingCall(self.hearAll)
        self._loop.clock = self._clock
        self._loop.start(self.interval, now=False)

    def stopService(self):
        """
        Stop following the folder and unregister.

        @return: a Deferred that fires once the lease is revoked (or that
            failed: it runs out by itself).
        """
        Service.stopService(self)
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        self._unsubscribe()
        if self._resubscribe is not None and self._resubscribe.active():
            self._resubscribe.cancel()
        self._resubscribe = None
        for call in self._unlisted.values():
            call.cancel()
        self._unlisted.clear()
        self.registration.machine.stop()
        return stopped(self.registration)

    # -- the folder ----------------------------------------------------------

    def _subscribe(self):
        self._resubscribe = None
        token = self._token = object()
        stop = self.backend.childrenSubscribe(
            self.folder, lambda item: self._listed(token, item),
            lambda error: self._watchFailed(token, error))
        if self._token is token:
            self._watch = stop
        else:
            # it failed at once
            stop()

    def _unsubscribe(self):
        self._token = None
        watch, self._watch = self._watch, None
        if watch is not None:
            watch()

    def _watchFailed(self, token, error):
        if token is not self._token or not self.running:
            return
        self._token = self._watch = None
        self.stats["watchFailures"] += 1
        self._failures += 1
        delay = backoffDelay(self._failures, RESUBSCRIBE_FIRST,
                             RESUBSCRIBE_MAX)
        self.log.info("cluster: watch of {folder} ended ({reason}); "
                      "{count} known nodes kept, watching again in "
                      "{delay:.2f}s", folder=self.folder,
                      reason=str(error) or type(error).__name__,
                      count=len(self.peers), delay=delay)
        self._resubscribe = self._clock.callLater(delay, self._subscribe)

    def _listed(self, token, item):
        """
        The folder's children now: read the new ones, drop (or give a
        grace to) the ones gone.
        """
        if token is not self._token or not self.running:
            return
        self._failures = 0
        self.stats["listings"] += 1
        names = {name for name in item[1] if isinstance(name, str)}
        if self.uuid not in names:
            self.registration.machine.check()
        for uuid in names:
            call = self._unlisted.pop(uuid, None)
            if call is not None:
                call.cancel()
                self.log.info("cluster: node {uuid} is registered again",
                              uuid=uuid)
                # perhaps restarted, elsewhere: read it again
                self._read(uuid)
        for uuid in list(self.peers):
            if uuid in names or uuid in self._unlisted:
                continue
            if self._isLinked(uuid):
                self.log.info("cluster: node {uuid} is no longer "
                              "registered but still linked; dropped if not "
                              "registered again within {lease}s",
                              uuid=uuid, lease=self.lease)
                self._unlisted[uuid] = self._clock.callLater(
                    self.lease, self._drop, uuid,
                    "not registered again within {}s".format(self.lease))
            else:
                self._drop(uuid, "its registration ended")
        for uuid in sorted(names):
            if uuid != self.uuid and uuid not in self.peers:
                self.peers[uuid] = None
                self._read(uuid)
        self.log.debug("cluster: {count} nodes registered in {folder}",
                       count=len(names), folder=self.folder)

    def _drop(self, uuid, reason):
        self._unlisted.pop(uuid, None)
        if self.peers.pop(uuid, False) is False:
            return
        self.stats["left"] += 1
        self._left(uuid, reason)

    # -- each node -----------------------------------------------------------

    def _read(self, uuid):
        """
        Read node C{uuid}'s endpoints, and report it.
        """
        if uuid in self._reading:
            return
        self._reading.add(uuid)
        d = self.backend.get(self.folder + "/" + uuid)

        def read(result):
            value, version = result
            if uuid not in self.peers or not self.running or version < 0:
                # gone meanwhile: the next listing says so
                return
            try:
                endpoints = parseEndpoints(value)
            except BadEndpoints as e:
                self.stats["badValues"] += 1
                self.log.warn("cluster: node {uuid} registered something "
                              "else than endpoints: {reason}", uuid=uuid,
                              reason=str(e))
                return
            known = self.peers[uuid]
            self.peers[uuid] = endpoints
            if known is None:
                self.stats["joined"] += 1
                self.log.info("cluster: node {uuid} registered at "
                              "{endpoints}", uuid=uuid,
                              endpoints=endpoints)
            elif known != endpoints:
                # restarted elsewhere: a new link, connecting now
                self.log.info("cluster: node {uuid} moved to {endpoints}",
                              uuid=uuid, endpoints=endpoints)
                self._left(uuid, "registered again at {}".format(
                    endpoints))
            self._heard(uuid, endpoints)

        def failed(reason):
            # a node read before stays reported as it was
            emit = (self.log.info if self.peers.get(uuid) is None
                    else self.log.debug)
            emit("cluster: cannot read node {uuid}: {reason}; again in "
                 "{interval}s", uuid=uuid, reason=reason.getErrorMessage(),
                 interval=self.interval)

        d.addCallbacks(read, failed)
        d.addBoth(lambda _: self._reading.discard(uuid))
        d.addErrback(lambda f: self.log.failure(
            "cluster: reading node {uuid} failed", f, uuid=uuid))

    def hearAll(self):
        """
        Report every node read (peering forgets a node not heard for a
        while); read again those unread and those not linked (their
        endpoints may have changed); drop those no longer registered whose
        link is down now (a node that stopped cleanly unregisters before
        its connections close).
        """
        for uuid in list(self._unlisted):
            if not self._isLinked(uuid):
                # no longer registered, and now its link is down too
                self._unlisted.pop(uuid).cancel()
                self._drop(uuid, "its registration ended")
        for uuid, endpoints in list(self.peers.items()):
            if endpoints is not None:
                self._heard(uuid, endpoints)
            if endpoints is None or not self._isLinked(uuid):
                self._read(uuid)
