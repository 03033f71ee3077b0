# -*- test-case-name: tests.test_plugins -*-
"""
The one place plugins are found and checked.

Service plugins and storage backends live in the C{services} plugin
package, event drivers in C{drivers}; third parties add modules to either
(any C{services/} or C{drivers/} directory on C{sys.path} without an
C{__init__.py}). L{loadPlugins} finds them all with Twisted's
C{getPlugins}; L{checkConfig} and L{checkDrivers} check a configuration or
an app's drivers against them without side effects.
"""

import json
from dataclasses import dataclass, field
from types import MappingProxyType

from cocaine.config import ConfigError
from cocaine.errors import DriverError
from cocaine.interfaces import (
    IDriverPlugin, IServicePlugin, IStoragePlugin, IUnicornPlugin)


def _frozen(mapping=None):
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Plugins:
    """
    Every plugin by the type name configs and manifests use.

    @ivar services: C{{type: IServicePlugin}} (C{services.X.type}).
    @ivar storages: C{{type: IStoragePlugin}} (C{storages.X.type}).
    @ivar drivers: C{{type: IDriverPlugin}} (a manifest's C{drivers}).
    @ivar unicorns: C{{type: IUnicornPlugin}} (C{unicorns.X.type}).
    """

    services: MappingProxyType = field(default_factory=_frozen)
    storages: MappingProxyType = field(default_factory=_frozen)
    drivers: MappingProxyType = field(default_factory=_frozen)
    unicorns: MappingProxyType = field(default_factory=_frozen)


def loadPlugins():
    """
    Find every plugin in the C{services} and C{drivers} packages.

    @return: a L{Plugins}.
    """
    from twisted.plugin import getPlugins

    import drivers
    import services

    return Plugins(
        services=_frozen({p.name: p for p in getPlugins(IServicePlugin,
                                                         services)}),
        storages=_frozen({p.name: p for p in getPlugins(IStoragePlugin,
                                                         services)}),
        drivers=_frozen({p.name: p for p in getPlugins(IDriverPlugin,
                                                       drivers)}),
        unicorns=_frozen({p.name: p for p in getPlugins(IUnicornPlugin,
                                                         services)}))


def checkConfig(config, plugins):
    """
    Check every storage and service entry of C{config} against the plugins
    that implement its type, and let each plugin check its own args. Pure.

    @param config: a parsed L{cocaine.config.Config}.
    @param plugins: a L{Plugins}.
    @raise ConfigError: for an unknown type or bad args, naming the key.
    """
    for section, components, found in (
            ("storages", config.storages, plugins.storages),
            ("unicorns", config.unicorns, plugins.unicorns),
            ("services", config.services, plugins.services)):
        for name, component in components.items():
            path = "{}.{}".format(section, name)
            plugin = found.get(component.type)
            if plugin is None:
                raise ConfigError(path + ".type", "no {} plugin named {} "
                                  "(available: {})".format(
                                      section[:-1], json.dumps(
                                          component.type),
                                      ", ".join(sorted(found)) or "none"))
            plugin.validate(path + ".args", dict(component.args), config)
    if "locator" in config.services:
        raise ConfigError("services.locator", "the name \"locator\" is the "
                          "node's own locator")


def checkDrivers(app, specs, plugins):
    """
    Check every driver of an app's manifest before anything starts.

    @param specs: the manifest's C{{name: {type, ...}}}.
    @param plugins: a L{Plugins}.
    @raise DriverError: C{app 'x': driver 'tick': <reason>}.
    """
    for name, spec in specs.items():
        where = "app {!r}: driver {!r}".format(app, name)
        if not isinstance(spec, dict):
            raise DriverError("{}: must be a map with a type, got {!r}"
                              .format(where, spec))
        kind = spec.get("type")
        plugin = plugins.drivers.get(kind)
        if plugin is None:
            raise DriverError("{}: unknown type {!r} (available: {})".format(
                where, kind, ", ".join(sorted(plugins.drivers)) or "none"))
        try:
            plugin.validate("drivers." + name, spec)
        except DriverError as e:
            raise DriverError("{} ({}): {}".format(where, kind, e.message))
