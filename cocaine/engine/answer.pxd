# Cython's declarations for answer.py when it is compiled (see
# cocaine/compiled.py): a session's fields and the worker's side of its
# answer as an extension type, the base of session.pxd's Session; its
# fields are C struct members in its own methods and in the session's.
# The .py stays the source and the fallback.

cdef class SessionAnswer:
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
