# Cython's declarations for admission.py when it is compiled (see
# cocaine/compiled.py): the engine's admission as an extension type, its
# fields read and written as C struct members in its own methods (every
# request is admitted and finished here). The .py stays the source and
# the fallback.

cdef class Admission:
    cdef public object _reactor
    cdef public object name
    cdef public object profile
    cdef public object pool
    cdef public object queue
    cdef public object running
    cdef public object accepted
    cdef public object stats
    cdef public object brokenReason
    cdef public object _idleWaiters
    cdef public object _stallTimer
    cdef public object _admit
    cdef public object _deadlineHeaders
    cdef public object _deadline
