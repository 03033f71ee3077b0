# Cython's declarations for stream.py when it is compiled (see
# cocaine/compiled.py): a session's request and response as extension
# types, their fields read and written as C struct members in their own
# methods (every request reads one and writes the other). The .py stays
# the source and the fallback.

cdef class Request:
    cdef public object event
    cdef public object channel
    cdef public object _chunks
    cdef public object _end
    cdef public object _waiter

cdef class Response:
    cdef public object channel
    cdef public object _connection
    cdef public bint _closed
