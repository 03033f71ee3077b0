# -*- test-case-name: tests.driver.test_service -*-
"""
An app's event drivers as services of the app's tree: each driver is
started and stopped as one child of an ordered service, so a driver that
cannot start stops the ones before it, like everything else in the tree.
"""

from twisted.application.service import Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger

from cocaine.driver.base import DriverContext
from cocaine.errors import DriverError
from cocaine.ordered import OrderedMultiService


class DriverService(Service):
    """
    One driver of one app.

    @ivar driver: the L{cocaine.interfaces.IDriver}.
    """

    log = Logger()

    def __init__(self, app, name, kind, driver):
        self.setName(name)
        self.app = app
        self.kind = kind
        self.driver = driver

    def startService(self):
        Service.startService(self)
        return Deferred.fromCoroutine(self._start())

    async def _start(self):
        try:
            await maybeDeferred(self.driver.start)
        except Exception as e:
            self.running = 0
            reason = e.message if isinstance(e, DriverError) else str(e)
            raise DriverError("app {!r}: driver {!r} ({}) cannot start: {}"
                              .format(self.app, self.name, self.kind,
                                      reason))

    def stopService(self):
        Service.stopService(self)
        d = maybeDeferred(self.driver.stop)
        d.addErrback(lambda f: self.log.failure(
            "app {app}: driver {driver} did not stop cleanly", f,
            app=self.app, driver=self.name))
        return d


def buildDrivers(reactor, app, engine, specs, plugins):
    """
    Build (not start) an app's drivers from its manifest.

    @param engine: what the drivers submit jobs to (C{enqueue},
        C{queueFull}, C{monitor}).
    @param specs: the manifest's C{{name: {type, ...}}}, already checked
        with L{cocaine.plugins.checkDrivers}.
    @param plugins: a L{cocaine.plugins.Plugins}.
    @return: an L{OrderedMultiService} named C{drivers} with one
        L{DriverService} per driver, in manifest order.
    @raise DriverError: a plugin cannot build one.
    """
    tree = OrderedMultiService()
    tree.setName("drivers")
    context = DriverContext(reactor, app, engine,
                            directory=getattr(engine, "directory", None))
    for name, spec in specs.items():
        kind = spec.get("type")
        try:
            driver = plugins.drivers[kind].makeDriver(context, name,
                                                      dict(spec))
        except Exception as e:
            reason = e.message if isinstance(e, DriverError) else str(e)
            raise DriverError("app {!r}: driver {!r} ({}) cannot be built: "
                              "{}".format(app, name, kind, reason))
        DriverService(app, name, kind, driver).setServiceParent(tree)
    return tree


def drivers(tree):
    """
    @return: C{{name: IDriver}} of a tree L{buildDrivers} made.
    """
    return {child.name: child.driver for child in tree}
