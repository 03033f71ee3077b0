# Cython's declarations for worker.py when it is compiled (see
# cocaine/compiled.py): a worker as an extension type, its fields read
# and written as C struct members in its own methods (every request is
# assigned to a worker and finished on it). The .py stays the source and
# the fallback.

cdef class Worker:
    cdef public object engine
    cdef public object uuid
    cdef public object _clock
    cdef public object profile
    cdef public object _isolate
    cdef public object pid
    cdef public object transport
    cdef public object connection
    cdef public object sessions
    cdef public object held
    cdef public object _nextChannel
    cdef public object ending
    cdef public object exitStatus
    cdef public object _timers
    cdef public object output
    cdef public object accepted
    cdef public object _lastSeen
    cdef public object _idleSince
    cdef public object _busySince
    cdef public object _served
    cdef public object _events
    cdef public object machine
