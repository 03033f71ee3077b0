# -*- test-case-name: tests.driver.test_registry -*-
"""
Building an app's drivers from its manifest, and starting and stopping
them with the app.
"""

from twisted.internet.defer import maybeDeferred

from cocaine.driver.base import DriverContext, DriverError


def driverPlugins():
    """
    @return: C{{type: IDriverPlugin}} found in the C{drivers} package.
    """
    from twisted.plugin import getPlugins

    import drivers
    from cocaine.interfaces import IDriverPlugin
    return {p.name: p for p in getPlugins(IDriverPlugin, drivers)}


def checkDrivers(app, specs, plugins):
    """
    Check every driver of a manifest before anything starts.

    @raise DriverError: C{app 'x': driver 'tick': <reason>}.
    """
    for name, spec in specs.items():
        where = "app {!r}: driver {!r}".format(app, name)
        if not isinstance(spec, dict):
            raise DriverError("{}: must be a map with a type".format(where))
        kind = spec.get("type")
        plugin = plugins.get(kind)
        if plugin is None:
            raise DriverError("{}: unknown type {!r} (available: {})".format(
                where, kind, ", ".join(sorted(plugins)) or "none"))
        try:
            plugin.validate("drivers." + name, spec)
        except DriverError as e:
            raise DriverError("{} ({}): {}".format(where, kind, e.message))


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
            driver = plugins[kind].makeDriver(context, name, dict(spec))
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
