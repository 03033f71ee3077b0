# -*- test-case-name: tests.test_plugins -*-
"""
The service plugin package. Modules here (and in any C{services/} directory
without an C{__init__.py} on C{sys.path}) provide
L{cocaine.interfaces.IServicePlugin} or L{cocaine.interfaces.IStoragePlugin}.
"""

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))
__all__ = []
