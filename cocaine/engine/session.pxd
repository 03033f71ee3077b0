# Cython's declarations for session.py when it is compiled (see
# cocaine/compiled.py): a session as an extension type, its fields read
# and written as C struct members in its own methods and in the outputs
# of its machine's transitions (every request is made, assigned and ended
# here). The .py stays the source and the fallback.

cdef class Session:
    cdef public object engine
    cdef public object event
    cdef public object upstream
    cdef public object worker
    cdef public object channel
    cdef public object _pending
    cdef public object _deadline
    cdef public object enqueuedAt
    cdef public object machine
    cdef public object _toWorker
    cdef public object _toClient
    cdef public object chunks
    cdef public object _stall
    cdef public object _run
    cdef public object _frames
    cdef public object _held
    cdef public object relays
