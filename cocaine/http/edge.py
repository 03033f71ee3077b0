# -*- test-case-name: tests.http.test_edge -*-
"""
The standalone proxy's backend (L{LocatorBackend}): apps are resolved at
one or more locators (one per node of a cluster, typically), the answers
kept for a few seconds, and requests spread round-robin over the nodes
that publish the app. A request refused before it reached an app (queue
full, node unreachable) is tried once on another node.

C{/ping} answers 200 while at least one locator answered the last health
check (a resolve of C{locator} every few seconds).
"""

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from zope.interface import implementer

from cocaine.client import Locator
from cocaine.errors import ServiceNotAvailable, Unreachable
from cocaine.http.gateway import Backend

#: Seconds a resolve answer is used.
CACHE_SECONDS = 5.0

#: Seconds between health checks of the locators.
CHECK_INTERVAL = 5.0

#: Seconds a locator gets to answer.
RESOLVE_TIMEOUT = 3.0


def _key(endpoints):
    return tuple(sorted(("{}".format(e[0].decode() if isinstance(
        e[0], bytes) else e[0]), int(e[1])) for e in endpoints))


class _Pending:
    """
    A call waiting for its app to be resolved (a
    L{cocaine.http.gateway.Call}).
    """

    __slots__ = ("call", "cancelled")

    def __init__(self):
        self.call = None
        self.cancelled = False

    def cancel(self):
        self.cancelled = True
        call, self.call = self.call, None
        if call is not None:
            call.cancel()


class _Forgetting:
    """
    An upstream that makes the backend drop a node it cannot reach from
    the app's targets until the app is resolved again.
    """

    __slots__ = ("_upstream", "_backend", "_app", "_key")

    def __init__(self, upstream, backend, app, key):
        self._upstream = upstream
        self._backend = backend
        self._app = app
        self._key = key

    def send(self, name, *args):
        self._upstream.send(name, *args)

    def error(self, error):
        if isinstance(error, Unreachable):
            self._backend.forget(self._app, self._key)
        self._upstream.error(error)


@implementer(Backend)
class LocatorBackend(Service):
    """
    @ivar alive: whether a locator answered the last health check.
    """

    log = Logger()

    def __init__(self, reactor, locators, remote,
                 cacheSeconds=CACHE_SECONDS, checkInterval=CHECK_INTERVAL,
                 resolveTimeout=RESOLVE_TIMEOUT, locatorFactory=None):
        """
        @param locators: C{[(host, port)]} of the locators.
        @param remote: the L{cocaine.http.remote.RemoteApps} sessions go
            through.
        @param locatorFactory: C{locatorFactory(reactor, endpoint)} giving
            a client with C{resolve(name)} (a L{Locator} by default).
        """
        self._reactor = reactor
        factory = locatorFactory or (lambda reactor, endpoint: Locator(
            reactor, [endpoint], timeout=resolveTimeout,
            connectTimeout=resolveTimeout))
        self.locators = [factory(reactor, tuple(e)) for e in locators]
        self.endpoints = [tuple(e) for e in locators]
        self.remote = remote
        self.cacheSeconds = cacheSeconds
        self.alive = False
        self._cache = {}
        self._turn = {}
        self._loop = LoopingCall(self.check)
        self._loop.clock = reactor
        self._checkInterval = checkInterval

    # -- the service ---------------------------------------------------------

    def startService(self):
        Service.startService(self)
        self._loop.start(self._checkInterval, now=True)

    def stopService(self):
        Service.stopService(self)
        if self._loop.running:
            self._loop.stop()
        for locator in self.locators:
            locator.disconnect()

    def check(self):
        """
        Ask every locator for the locator; alive if one answers.

        @return: a Deferred that fires when all have answered or failed.
        """
        d = DeferredList([self._ask(locator, "locator")
                          for locator in self.locators], consumeErrors=True)

        def checked(results):
            alive = any(ok for ok, _ in results)
            if alive != self.alive:
                self.log.info("proxy: locators {state}",
                              state="answer" if alive else "do not answer")
            self.alive = alive
        return d.addCallback(checked)

    def _ask(self, locator, name):
        try:
            return locator.resolve(name)
        except Exception as e:
            return Deferred.fromCoroutine(_raise(e))

    # -- resolving -----------------------------------------------------------

    def forget(self, app, key):
        """
        Leave out target C{key} of C{app} until it is resolved again (when
        none is left, it is resolved on its next request).
        """
        entry = self._cache.get(app)
        if entry is None:
            return
        targets = [t for t in entry[1] if t[0] != key]
        if targets:
            self._cache[app] = (entry[0], targets)
        else:
            del self._cache[app]

    async def resolve(self, app):
        """
        @return: the targets of C{app}: C{[(key, endpoints, graph)]}, one
            per node.
        @raise ServiceNotAvailable: the locators that answered know no
            such app.
        @raise Unreachable: no locator answered.
        """
        entry = self._cache.get(app)
        if entry is not None and entry[0] > self._reactor.seconds():
            return entry[1]
        results = await DeferredList([self._ask(locator, app)
                                      for locator in self.locators],
                                     consumeErrors=True)
        targets = {}
        answered = False
        for ok, value in results:
            if ok:
                answered = True
                endpoints, _, graph = value
                if endpoints:
                    targets.setdefault(_key(endpoints), (endpoints, graph))
            elif value.check(ServiceNotAvailable):
                answered = True
        if not targets:
            if answered:
                raise ServiceNotAvailable("no app {!r} at the locators"
                                          .format(app))
            raise Unreachable("no locator answers ({})".format(", ".join(
                "{}:{}".format(*e) for e in self.endpoints)))
        self.alive = True
        found = [(key, endpoints, graph)
                 for key, (endpoints, graph) in sorted(targets.items())]
        self._cache[app] = (self._reactor.seconds() + self.cacheSeconds,
                            found)
        return found

    # -- Backend ---------------------------------------------------------------

    def call(self, app, event, headers, chunk, upstream, tried):
        entry = self._cache.get(app)
        if entry is not None and entry[0] > self._reactor.seconds():
            return self._send(entry[1], app, event, headers, chunk,
                              upstream, tried)
        pending = _Pending()

        def resolved(targets):
            if not pending.cancelled:
                pending.call = self._send(targets, app, event, headers,
                                          chunk, upstream, tried)

        def failed(failure):
            if not pending.cancelled:
                upstream.error(failure.value)
        Deferred.fromCoroutine(self.resolve(app)).addCallbacks(
            resolved, failed)
        return pending

    def _send(self, targets, app, event, headers, chunk, upstream, tried):
        candidates = [t for t in targets if t[0] not in tried]
        if not candidates:
            upstream.error(Unreachable("no other node serves app {!r}"
                                       .format(app)))
            return _Pending()
        turn = self._turn.get(app, 0)
        self._turn[app] = turn + 1
        key, endpoints, graph = candidates[turn % len(candidates)]
        upstream.target = key
        return self.remote.call(endpoints, app, event, headers, chunk,
                                _Forgetting(upstream, self, app, key),
                                graph)

    def hasOther(self, app, tried):
        entry = self._cache.get(app)
        if entry is None:
            return False
        return any(t[0] not in tried for t in entry[1])

    def healthy(self):
        return self.alive


async def _raise(error):
    raise error
