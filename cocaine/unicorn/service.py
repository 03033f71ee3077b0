# -*- test-case-name: tests.unicorn.test_service -*-
"""
The C{unicorn} service: Cocaine 0.12's protocol (L{cocaine.protocol.unicorn})
over an L{cocaine.interfaces.IUnicornBackend}.

Every call's channel stays open for the client's C{close}: on a watch or
a lock it stops the watch or gives the lock up; on a one-shot call that
has not answered yet it drops the answer (0.12 closes the call's scope).
A client that goes away counts as C{close}.
"""

from twisted.internet.defer import maybeDeferred
from twisted.logger import Logger
from zope.interface import implementer

from cocaine.errors import CocaineError, UnicornError
from cocaine.interfaces import IRPCService
from cocaine.protocol.unicorn import UNICORN, UNICORN_VERSION
from cocaine.unicorn.paths import checkPath


class _Once:
    """
    The dispatch target of a one-shot call: C{close} before the answer
    drops it, and the channel is forgotten then rather than when an
    answer that will not be sent ends.
    """

    finishedWithUpstream = True

    def __init__(self, upstream):
        self.closed = False
        self._upstream = upstream

    def close(self):
        self.closed = True
        self._upstream.abandon()

    def connectionLost(self):
        self.closed = True


class _Watching:
    """
    The dispatch target of C{subscribe}, C{children_subscribe} and
    C{lock}: C{close} (or the client going away) stops the backend's watch.
    """

    def __init__(self):
        self._stop = None
        self.closed = False

    def attach(self, stop):
        if self.closed:
            stop()
        else:
            self._stop = stop

    def close(self):
        self.closed = True
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()

    connectionLost = close


def _failure(error):
    """
    What the client is told: a L{CocaineError} as it is, anything else
    as the backend's internal error (never a traceback).
    """
    if isinstance(error, CocaineError):
        return error
    return UnicornError("backend error: {}".format(
        type(error).__name__))


@implementer(IRPCService)
class UnicornService:
    """
    @ivar backend: the L{cocaine.interfaces.IUnicornBackend} served.
    """

    protocol = UNICORN
    version = UNICORN_VERSION
    log = Logger()

    def __init__(self, backend):
        self.backend = backend

    def _once(self, upstream, path, call, shape):
        target = _Once(upstream)
        try:
            checkPath(path)
        except UnicornError as e:
            upstream.error(e)
            return target
        d = maybeDeferred(call)

        def answer(result):
            if not target.closed:
                upstream.value(*shape(result))

        def failed(reason):
            if not target.closed:
                upstream.error(_failure(reason.value))
            if not reason.check(CocaineError):
                self.log.failure("unicorn: backend failed", reason)
        d.addCallbacks(answer, failed)
        return target

    def _watch(self, upstream, path, start, shape):
        target = _Watching()
        try:
            checkPath(path)
        except UnicornError as e:
            upstream.error(e)
            return target

        def update(item):
            if not target.closed:
                upstream.write(*shape(item))

        def fail(error):
            if not target.closed:
                target.closed = True
                upstream.error(_failure(error))
        target.attach(start(path, update, fail))
        return target

    def subscribe(self, upstream, path):
        return self._watch(upstream, path, self.backend.subscribe,
                           lambda item: [list(item)])

    def childrenSubscribe(self, upstream, path):
        return self._watch(upstream, path, self.backend.childrenSubscribe,
                           lambda item: [item[0], list(item[1])])

    def lock(self, upstream, path):
        return self._watch(upstream, path, self.backend.lock,
                           lambda item: [bool(item)])

    def put(self, upstream, path, value, version):
        return self._once(
            upstream, path,
            lambda: self.backend.put(path, value, version),
            lambda result: [result[0], list(result[1])])

    def get(self, upstream, path):
        return self._once(upstream, path, lambda: self.backend.get(path),
                          lambda result: [list(result)])

    def create(self, upstream, path, value):
        return self._once(upstream, path,
                          lambda: self.backend.create(path, value),
                          lambda result: [True])

    def remove(self, upstream, path, version):
        return self._once(upstream, path,
                          lambda: self.backend.remove(path, version),
                          lambda result: [bool(result)])

    def increment(self, upstream, path, value):
        return self._once(upstream, path,
                          lambda: self.backend.increment(path, value),
                          lambda result: [list(result)])
