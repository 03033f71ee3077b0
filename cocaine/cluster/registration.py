# -*- test-case-name: tests.cluster.test_registration -*-
"""
A node's registration in unicorn (discovery through unicorn, C{docs/
cluster.md}): the ephemeral node C{/cocaine/discovery/<uuid>} holding the
locator's endpoints, C{[[address, port], ...]} as Cocaine 0.12's unicorn
cluster writes them, on a lease of its own kept alive every third of its
TTL. Its lifecycle is one machine, L{RegistrationMachine}:

    idle --start--> granting --granted--> creating --created--> registered
                     ^   |                 |  ^                   |    |
                     | failed         failed  +--missing----------+    |
                     |   v                 v                           |
                     +-retry-- waiting <---+                           |
                     +-------------------- expired --------------------+

    creating --exists--> creating (the old node deleted, written again)
    any state --stop--> stopped (the lease is revoked)

C{granting} asks for a lease, C{creating} writes the node on it (a node
left by an earlier run of the same uuid, on a lease that has not run out,
is deleted and written again), C{registered} keeps the lease alive: a
keep-alive that fails (the engine is down) is logged and tried again at
the next tick, the node staying registered as far as anyone can tell; one
answered with the lease gone (it expired while the engine was away, or
the engine lost its data) registers again on a new lease. C{missing}
(the node is not there though the lease lives: someone deleted it) writes
it again. C{waiting} holds the retry timer: 0.1 s doubling to 1 s, with
jitter.
"""

from typing import Protocol

from automat import TypeMachineBuilder
from twisted.internet.defer import succeed
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from cocaine.backoff import backoffDelay
from cocaine.errors import NoNode, NodeExists
from cocaine.statemachine import build, nameStates

#: The folder nodes register in (0.12's unicorn cluster C{path} default).
FOLDER = "/cocaine/discovery"

#: Seconds before the first retry of a failed registration, and at most
#: (each plus up to a tenth at random, L{cocaine.backoff}).
RETRY_FIRST, RETRY_MAX = 0.1, 1.0


def _reason(failure):
    return failure.getErrorMessage() or failure.type.__name__


class Registration:
    """
    A node's registration: its data and what its machine's outputs do.
    Everything that happens to it goes to L{machine}.

    @ivar path: the node it registers, C{<folder>/<uuid>}.
    @ivar ttl: the lease's TTL in seconds.
    @ivar keepInterval: seconds between keep-alives (a third of the TTL).
    @ivar lease: the current lease's id, or L{None}.
    @ivar stats: counters: C{registered} (times the node was written),
        C{expired} (leases found gone), C{keepFailures} (keep-alives that
        got no answer).
    @ivar stopped: after C{stop}, a Deferred that fires once the lease is
        revoked (or could not be).
    """

    log = Logger()

    def __init__(self, clock, backend, uuid, endpoints, ttl,
                 folder=FOLDER):
        """
        @param backend: an L{cocaine.interfaces.IUnicornBackend}.
        @param endpoints: a callable returning our locator's endpoints,
            C{[(address, port), ...]}.
        """
        self.clock = clock
        self.backend = backend
        self.uuid = uuid
        self.path = folder + "/" + uuid
        self._endpoints = endpoints
        self.ttl = ttl
        self.keepInterval = ttl / 3.0
        self.lease = None
        self.attempts = 0
        self.failing = False
        self.keeping = False
        self.stopped = None
        self.stats = {"registered": 0, "expired": 0, "keepFailures": 0}
        self.machine = RegistrationMachine(self)

    @property
    def state(self):
        """
        The name of its machine's state.
        """
        return self.machine.stateName()

    def value(self):
        """
        What the node holds: our locator's endpoints as 0.12 writes them.
        """
        return [[address, port] for address, port in self._endpoints()]

    def _backoff(self):
        self.attempts += 1
        return backoffDelay(self.attempts, RETRY_FIRST, RETRY_MAX)

    def _revoke(self, lease):
        """
        Revoke C{lease} (its node goes with it); a failure is only logged:
        the lease runs out by itself.
        """
        if lease is None:
            return succeed(None)
        d = self.backend.revokeLease(lease)

        def failed(reason):
            self.log.info("cluster: lease {lease} not revoked ({reason}); "
                          "it runs out in {ttl}s", lease=lease,
                          reason=_reason(reason), ttl=self.ttl)
        return d.addErrback(failed)


class RegistrationInputs(Protocol):
    """
    What happens to a node's registration.
    """

    def start(self) -> None:
        "The cluster starts: register."

    def granted(self, lease: object) -> None:
        "The engine granted C{lease}."

    def created(self) -> None:
        "The node is written on the lease."

    def exists(self) -> None:
        "A node of that path is there already (left by an earlier run)."

    def failed(self, reason: str) -> None:
        "A lease or the node could not be had."

    def retry(self) -> None:
        "The retry delay passed."

    def tick(self) -> None:
        "Time to keep the lease alive."

    def kept(self) -> None:
        "The engine kept the lease alive."

    def keepFailed(self, reason: str) -> None:
        "A keep-alive got no answer."

    def expired(self) -> None:
        "The lease is gone, and the node with it."

    def check(self) -> None:
        "The folder was listed without our node: see if it is there."

    def missing(self) -> None:
        "Our node is not there though the lease lives."

    def stop(self) -> None:
        "The cluster stops: revoke the lease."

    def stateName(self) -> str:
        "The name of the state it is in."


_builder = TypeMachineBuilder(RegistrationInputs, Registration)


def _keepAlive(inputs, registration):
    """
    Entering C{registered}: the keep-alive timer.
    """
    loop = LoopingCall(inputs.tick)
    loop.clock = registration.clock
    loop.start(registration.keepInterval, now=False)
    return loop


def _waitToRetry(inputs, registration, reason):
    """
    Entering C{waiting}: the retry timer.
    """
    delay = registration._backoff()
    registration.log.warn("cluster: cannot register {path}: {reason}; "
                          "again in {delay:.2f}s", path=registration.path,
                          reason=reason, delay=delay)
    return registration.clock.callLater(delay, inputs.retry)


_idle = _builder.state("idle")
_granting = _builder.state("granting")
_creating = _builder.state("creating")
_registered = _builder.state("registered", _keepAlive)
_waiting = _builder.state("waiting", _waitToRetry)
_stopped = _builder.state("stopped")

nameStates([_idle, _granting, _creating, _registered, _waiting, _stopped],
           RegistrationInputs.stateName)


# -- asking the engine --------------------------------------------------------

def _grant(inputs, registration):
    d = registration.backend.grantLease(registration.ttl)
    d.addCallbacks(inputs.granted,
                   lambda reason: inputs.failed(_reason(reason)))
    d.addErrback(lambda f: registration.log.failure(
        "cluster: registration failed", f))


def _create(inputs, registration):
    endpoints = registration.value()
    if not endpoints:
        inputs.failed("the locator has no endpoints yet")
        return
    d = registration.backend.create(registration.path, endpoints,
                                    lease=registration.lease)

    def failed(reason):
        if reason.check(NodeExists):
            inputs.exists()
        else:
            inputs.failed(_reason(reason))
    d.addCallbacks(lambda _: inputs.created(), failed)
    d.addErrback(lambda f: registration.log.failure(
        "cluster: registration failed", f))


# -- idle, granting -----------------------------------------------------------

@_idle.upon(RegistrationInputs.start).to(_granting)
def _begin(inputs, registration):
    _grant(inputs, registration)


_idle.upon(RegistrationInputs.stop).to(_stopped).returns(None)


@_granting.upon(RegistrationInputs.granted).to(_creating)
def _gotLease(inputs, registration, lease):
    registration.lease = lease
    _create(inputs, registration)


_granting.upon(RegistrationInputs.failed).to(_waiting).returns(None)


# -- creating -----------------------------------------------------------------

@_creating.upon(RegistrationInputs.created).to(_registered)
def _nowRegistered(inputs, registration):
    registration.attempts = 0
    registration.failing = False
    registration.stats["registered"] += 1
    registration.log.info(
        "cluster: registered {path} with endpoints {endpoints} on lease "
        "{lease} ({ttl}s TTL, kept alive every {every:.2f}s)",
        path=registration.path, endpoints=registration.value(),
        lease=registration.lease, ttl=registration.ttl,
        every=registration.keepInterval)


@_creating.upon(RegistrationInputs.exists).loop()
def _replace(inputs, registration):
    registration.log.info("cluster: {path} is there already (an earlier "
                          "run's); writing it again",
                          path=registration.path)
    d = registration.backend.remove(registration.path, -1)

    def notRemoved(reason):
        if reason.check(NoNode):
            # gone meanwhile (its lease ran out): as good
            _create(inputs, registration)
        else:
            inputs.failed(_reason(reason))
    d.addCallbacks(lambda _: _create(inputs, registration), notRemoved)
    d.addErrback(lambda f: registration.log.failure(
        "cluster: registration failed", f))


_creating.upon(RegistrationInputs.failed).to(_waiting).returns(None)


# -- registered ---------------------------------------------------------------

@_registered.upon(RegistrationInputs.tick, nodata=True).loop()
def _sendKeepAlive(inputs, registration):
    if registration.keeping:
        return
    registration.keeping = True
    lease = registration.lease
    d = registration.backend.keepLease(lease)

    def answered(ttl):
        registration.keeping = False
        if lease != registration.lease:
            return
        if ttl > 0:
            inputs.kept()
        else:
            inputs.expired()

    def failed(reason):
        registration.keeping = False
        if lease == registration.lease:
            inputs.keepFailed(_reason(reason))
    d.addCallbacks(answered, failed)
    d.addErrback(lambda f: registration.log.failure(
        "cluster: keep-alive failed", f))


@_registered.upon(RegistrationInputs.kept, nodata=True).loop()
def _keptAlive(inputs, registration):
    if registration.failing:
        registration.failing = False
        registration.log.info("cluster: lease {lease} of {path} kept alive "
                              "again", lease=registration.lease,
                              path=registration.path)


@_registered.upon(RegistrationInputs.keepFailed, nodata=True).loop()
def _keepFailed(inputs, registration, reason):
    registration.stats["keepFailures"] += 1
    if not registration.failing:
        registration.failing = True
        registration.log.warn(
            "cluster: cannot keep lease {lease} of {path} alive: {reason}; "
            "peers stay linked, trying every {every:.2f}s",
            lease=registration.lease, path=registration.path, reason=reason,
            every=registration.keepInterval)


@_registered.upon(RegistrationInputs.expired).to(_granting)
def _expired(inputs, registration, loop: LoopingCall):
    loop.stop()
    registration.stats["expired"] += 1
    registration.log.warn("cluster: lease {lease} of {path} is gone; "
                          "registering again on a new one",
                          lease=registration.lease, path=registration.path)
    registration.lease = None
    _grant(inputs, registration)


@_registered.upon(RegistrationInputs.check, nodata=True).loop()
def _check(inputs, registration):
    d = registration.backend.get(registration.path)

    def found(result):
        if result[1] < 0:
            inputs.missing()
    d.addCallbacks(found, lambda reason: None)


@_registered.upon(RegistrationInputs.missing).to(_creating)
def _missing(inputs, registration, loop: LoopingCall):
    loop.stop()
    registration.log.warn("cluster: {path} is not there any more; writing "
                          "it again on lease {lease} (or a new one if that "
                          "is gone too)", path=registration.path,
                          lease=registration.lease)
    _create(inputs, registration)


@_registered.upon(RegistrationInputs.stop).to(_stopped)
def _stopRegistered(inputs, registration, loop: LoopingCall):
    loop.stop()
    _revokeOnStop(registration)


# -- waiting ------------------------------------------------------------------

@_waiting.upon(RegistrationInputs.retry).to(_granting)
def _retry(inputs, registration, retry: IDelayedCall):
    # a fresh lease: the last one may have been granted and then lost
    lease, registration.lease = registration.lease, None
    registration._revoke(lease)
    _grant(inputs, registration)


@_waiting.upon(RegistrationInputs.stop).to(_stopped)
def _stopWaiting(inputs, registration, retry: IDelayedCall):
    retry.cancel()
    _revokeOnStop(registration)


# -- stopping -----------------------------------------------------------------

def _revokeOnStop(registration):
    lease, registration.lease = registration.lease, None
    registration.stopped = registration._revoke(lease)
    if lease is not None:
        registration.log.info("cluster: {path} unregistered (lease {lease} "
                              "revoked)", path=registration.path,
                              lease=lease)


def _stopAsking(inputs, registration):
    # what is asked now is answered in stopped (a lease granted late is
    # revoked there)
    _revokeOnStop(registration)


for _state in (_granting, _creating):
    _state.upon(RegistrationInputs.stop).to(_stopped)(_stopAsking)


@_stopped.upon(RegistrationInputs.granted).loop()
def _lateLease(inputs, registration, lease):
    # granted after the stop: give it back
    registration._revoke(lease)


# -- inputs that arrive late or do not apply: ignored -------------------------

def _ignore(state, input):
    if state in (_registered, _waiting):
        state.upon(input, nodata=True).loop().returns(None)
    else:
        state.upon(input).loop().returns(None)


for _state in (_idle, _granting, _creating, _waiting, _stopped):
    for _input in (RegistrationInputs.tick, RegistrationInputs.kept,
                   RegistrationInputs.keepFailed, RegistrationInputs.expired,
                   RegistrationInputs.check, RegistrationInputs.missing):
        _ignore(_state, _input)
for _input in (RegistrationInputs.created, RegistrationInputs.exists,
               RegistrationInputs.failed, RegistrationInputs.retry,
               RegistrationInputs.stop, RegistrationInputs.start):
    _stopped.upon(_input).loop().returns(None)
for _state in (_granting, _creating, _registered, _waiting):
    _ignore(_state, RegistrationInputs.start)

#: The lifecycle of a node's registration in unicorn.
RegistrationMachine = build(_builder)


def stopped(registration):
    """
    @return: a Deferred that fires once C{registration} is stopped and its
        lease revoked.
    """
    return registration.stopped or succeed(None)

