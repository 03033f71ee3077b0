# -*- test-case-name: tests.node.test_app -*-
"""
One running app: one ordered service in the node's tree, added while the
node runs and removed when the app stops. Its lifecycle is one machine,
L{AppMachine}.

    App "name"
    +-- monitor    the app's ZeroMQ monitor, when its manifest has one
    +-- engine     queue, balancer, pool; the workers' UNIX socket
    +-- listener   the app's endpoint, published at the locator
    +-- drain      on stop: withdraw and stop accepting, then let the
    |              accepted sessions finish (at most the drain timeout)
    +-- drivers    the app's event sources

Start runs top down, each step waiting for the one before; a step that
fails stops the started ones in reverse, and the app is C{stopped} only
once that is done. Stop runs bottom up: no new jobs, no new clients, the
sessions finish, the workers leave, the socket closes.
"""

from typing import Protocol

from automat import TypeMachineBuilder
from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from cocaine.driver.service import drivers
from cocaine.ordered import OrderedMultiService
from cocaine.statemachine import build, nameStates


class EngineService(Service):
    """
    The app's engine in the tree: start listens for workers and accepts
    sessions; stop fails what still waits, stops the workers and closes
    the socket.
    """

    def __init__(self, engine):
        self.setName("engine")
        self.engine = engine

    def startService(self):
        Service.startService(self)
        self.engine.start()

    def stopService(self):
        Service.stopService(self)
        return self.engine.stop()


class Drain(Service):
    """
    The step between the listener and the drivers: when the app stops, its
    name is withdrawn and its port closed (connected clients stay) and the
    sessions already accepted finish, for at most the app's drain timeout.
    """

    def __init__(self, app, listener, engine):
        self.setName("drain")
        self._app = app
        self._listener = listener
        self._engine = engine

    def stopService(self):
        Service.stopService(self)
        return Deferred.fromCoroutine(self._drain())

    async def _drain(self):
        await self._listener.stopAccepting()
        await self._engine.drain(self._app.drainTimeout)


class MonitorService(Service):
    """
    The app's monitor (ZeroMQ PUB of engine events and driver jobs), when
    its manifest asks for one: built on start, closed last.
    """

    def __init__(self, engine, makeMonitor):
        """
        @param makeMonitor: C{() -> monitor or None}.
        """
        self.setName("monitor")
        self._engine = engine
        self._makeMonitor = makeMonitor

    def startService(self):
        Service.startService(self)
        self._engine.monitor = self._makeMonitor()

    def stopService(self):
        Service.stopService(self)
        monitor, self._engine.monitor = self._engine.monitor, None
        if monitor is not None:
            monitor.close()


class AppInputs(Protocol):
    """
    What happens to a running app.
    """

    def start(self, waiter: Deferred) -> None:
        "The node adds it to its tree; fire C{waiter} once it serves."

    def started(self) -> None:
        "Every step started."

    def startFailed(self, failure: Failure) -> None:
        "A step failed and the started ones stopped again."

    def stop(self, waiter: Deferred) -> None:
        "The node removes it (pause, or the node stops); then fire."

    def stopped(self) -> None:
        "Every step stopped."

    def whenStopped(self, waiter: Deferred) -> None:
        "Fire C{waiter} once it is stopped."

    def stateName(self) -> str:
        "The name of the state it is in."


class App(OrderedMultiService):
    """
    @ivar source: where it came from (L{cocaine.node.deploy.Source}).
    @ivar engine: its L{cocaine.engine.engine.AppEngine}.
    @ivar listener: its L{cocaine.rpc.host.ServiceHost}.
    @ivar drainTimeout: seconds accepted sessions get to finish on stop.
    @ivar machine: its L{AppMachine}.
    """

    log = Logger()

    def __init__(self, source, engine, listener, driversTree,
                 makeMonitor=lambda: None, drainTimeout=10.0):
        OrderedMultiService.__init__(self)
        self.setName(source.name)
        self.source = source
        self.engine = engine
        self.listener = listener
        self.drainTimeout = drainTimeout
        self._driversTree = driversTree
        self._startWaiters = []
        self._stopWaiters = []
        for child in (MonitorService(engine, makeMonitor),
                      EngineService(engine), listener,
                      Drain(self, listener, engine), driversTree):
            child.setServiceParent(self)
        self.machine = AppMachine(self)

    @property
    def drivers(self):
        """
        C{{name: IDriver}}.
        """
        return drivers(self._driversTree)

    # No input returns a value: one that arrives while the machine is in a
    # transition (a stop from a start waiter's callback) waits its turn.

    def startService(self):
        waiter = Deferred()
        self.machine.start(waiter)
        return waiter

    def stopService(self):
        waiter = Deferred()
        self.machine.stop(waiter)
        return waiter

    def whenStopped(self):
        waiter = Deferred()
        self.machine.whenStopped(waiter)
        return waiter

    @property
    def state(self):
        return self.machine.stateName()

    def info(self):
        """
        The app's info map: its engine's, with its drivers.
        """
        info = self.engine.info()
        info["drivers"] = {name: driver.info()
                           for name, driver in self.drivers.items()}
        return info

    # -- what the outputs do -------------------------------------------------

    async def _startTree(self):
        try:
            await OrderedMultiService.startService(self)
        except BaseException:
            # stopped only once the started steps are
            if self.rollback is not None:
                await self.rollback
            raise

    async def _stopTree(self):
        try:
            await OrderedMultiService.stopService(self)
        finally:
            self.machine.stopped()


    def _fire(self, waiters, result=None):
        pending, waiters[:] = list(waiters), []
        for d in pending:
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(result)


_builder = TypeMachineBuilder(AppInputs, App)
_new = _builder.state("new")
_starting = _builder.state("starting")
#: starting, and asked to stop once the start is over
_stopAfterStart = _builder.state("stopAfterStart")
_running = _builder.state("running")
_stopping = _builder.state("stopping")
_stopped = _builder.state("stopped")

nameStates([_new, _starting, _stopAfterStart, _running, _stopping, _stopped],
           AppInputs.stateName)


@_new.upon(AppInputs.start).to(_starting)
def _begin(inputs, app, waiter):
    app._startWaiters.append(waiter)
    d = Deferred.fromCoroutine(app._startTree())
    d.addCallbacks(lambda _: app.machine.started(),
                   app.machine.startFailed)


@_starting.upon(AppInputs.started).to(_running)
def _serving(inputs, app):
    app.log.info("app {app} running (profile {profile})", app=app.name,
                 profile=app.source.profile.name)
    app._fire(app._startWaiters)


@_starting.upon(AppInputs.startFailed).to(_stopped)
def _failed(inputs, app, failure):
    app.running = 0
    app._fire(app._startWaiters, failure)
    app._fire(app._stopWaiters)


@_starting.upon(AppInputs.stop).to(_stopAfterStart)
@_stopAfterStart.upon(AppInputs.stop).loop()
@_stopping.upon(AppInputs.stop).loop()
@_stopping.upon(AppInputs.whenStopped).loop()
@_starting.upon(AppInputs.whenStopped).loop()
@_stopAfterStart.upon(AppInputs.whenStopped).loop()
@_running.upon(AppInputs.whenStopped).loop()
def _waitStopped(inputs, app, waiter):
    app._stopWaiters.append(waiter)


@_running.upon(AppInputs.stop).to(_stopping)
def _beginStop(inputs, app, waiter):
    app._stopWaiters.append(waiter)
    _stopTree(app)


@_stopAfterStart.upon(AppInputs.started).to(_stopping)
def _startedThenStop(inputs, app):
    app._fire(app._startWaiters)
    _stopTree(app)


@_stopAfterStart.upon(AppInputs.startFailed).to(_stopped)
def _failedThenStopped(inputs, app, failure):
    _failed(inputs, app, failure)


def _stopTree(app):
    Deferred.fromCoroutine(app._stopTree()).addErrback(
        lambda f: app.log.failure("app {app} did not stop cleanly", f,
                                  app=app.name))


@_stopping.upon(AppInputs.stopped).to(_stopped)
def _gone(inputs, app):
    app.log.info("app {app} stopped", app=app.name)
    app._fire(app._stopWaiters)


@_new.upon(AppInputs.stop).loop()
@_new.upon(AppInputs.whenStopped).loop()
@_stopped.upon(AppInputs.stop).loop()
@_stopped.upon(AppInputs.whenStopped).loop()
def _alreadyStopped(inputs, app, waiter):
    waiter.callback(None)


#: The lifecycle of one running app in the node's tree.
AppMachine = build(_builder)
