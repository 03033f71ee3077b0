# Cython's declarations for pool.py when it is compiled (see
# cocaine/compiled.py): a pool as an extension type, its fields read and
# written as C struct members in its own methods (every request's worker
# is picked here). The .py stays the source and the fallback.

cdef class Pool:
    cdef public object _engine
    cdef public object _crashlogNode
    cdef public object _reactor
    cdef public object _isolate
    cdef public object _locator
    cdef public object _storage
    cdef public object _environ
    cdef public object workers
    cdef public object ready
    cdef public object leaving
    cdef public object pinned
    cdef public object costs
    cdef public object crashlogs
    cdef public object _gone
    cdef public object _psutil
    cdef public object _lastPick
