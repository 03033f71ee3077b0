# Cython's declarations for stats.py when it is compiled (see
# cocaine/compiled.py): an app's counts as an extension type, its fields
# read and written as C struct members in its own methods (every request
# ends in succeeded or failed). The .py stays the source and the
# fallback.

cdef class AppStats:
    cdef public object now
    cdef public object ok
    cdef public object error
    cdef public object timeout
    cdef public object rejected
    cdef public object disconnected
    cdef public object spawned
    cdef public object crashed
    cdef public object counts
    cdef public object total
