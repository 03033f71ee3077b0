# -*- test-case-name: tests.driver.test_registry -*-
"""
Building an app's drivers from its manifest, and starting and stopping
them with the app (the plugins are found by L{cocaine.plugins}).
"""

from twisted.internet.defer import maybeDeferred

from cocaine.driver.base import DriverContext, DriverError


async def startDrivers(reactor, app, engine, specs, plugins):
    """
    Build and start the drivers; if one cannot start, stop the ones
    started and raise.

    @return: C{{name: driver}}.
    @raise DriverError: naming the app, the driver and the reason.
    """
    started = {}
    context = DriverContext(reactor, app, engine,
                            directory=getattr(engine, "directory", None))
    for name, spec in specs.items():
        kind = spec.get("type")
        try:
            driver = plugins.drivers[kind].makeDriver(context, name,
                                                      dict(spec))
            await maybeDeferred(driver.start)
        except Exception as e:
            await stopDrivers(started)
            reason = e.message if isinstance(e, DriverError) else str(e)
            raise DriverError("app {!r}: driver {!r} ({}) cannot start: {}"
                              .format(app, name, kind, reason))
        started[name] = driver
    return started


async def stopDrivers(drivers):
    for driver in list(drivers.values())[::-1]:
        try:
            await maybeDeferred(driver.stop)
        except Exception:
            pass
