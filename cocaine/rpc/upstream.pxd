# Cython's declarations for upstream.py when it is compiled (see
# cocaine/compiled.py): an upstream as an extension type, its fields read
# and written as C struct members in its own methods (every request's
# answer goes through closeAfter and _finish). The .py stays the source
# and the fallback.

cdef class Upstream:
    cdef public object _connection
    cdef public object channel
    cdef public object _protocol
    cdef public bint closed
    cdef public object _onClose
    cdef public object _chunk
    cdef public object target
