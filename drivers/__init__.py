# -*- test-case-name: tests.test_plugins -*-
"""
The event driver plugin package. Modules here (and in any C{drivers/}
directory without an C{__init__.py} on C{sys.path}) provide driver plugins.
"""

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))
__all__ = []
