"""
Cocaine: your personal app engine, on Twisted.
"""

__version__ = "0.1.0"

from cocaine.compiled import pureWanted as _pureWanted

if _pureWanted():
    from cocaine.compiled import usePythonSource as _usePythonSource
    _usePythonSource()
