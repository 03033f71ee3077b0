# -*- test-case-name: tests.test_compiled -*-
"""
Cocaine: your personal app engine, on Twisted.
"""

__version__ = "0.1.0"

from cocaine.compiled import (
    pureWanted as _pureWanted, useBuiltWhereCurrent as _useBuiltWhereCurrent,
    usePythonSource as _usePythonSource)

if _pureWanted():
    _usePythonSource()
else:
    _useBuiltWhereCurrent()
