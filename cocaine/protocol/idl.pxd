# Cython's declarations for idl.py when it is compiled (see
# cocaine/compiled.py): a message and a protocol as extension types, their
# fields read as C struct members in their own methods (every call's
# arguments are converted by its message). The .py stays the source and
# the fallback.

cdef class Message:
    cdef public object name
    cdef public object args
    cdef public object dispatch
    cdef public object upstream
    cdef public object method
    cdef public object headers
    cdef public object _required
    cdef public object _plain
    cdef public object asIs
    cdef public object _converters

cdef class Protocol:
    cdef public object name
    cdef public object messages
    cdef public object byName
    cdef public object _graph
    cdef public object streamWrite
    cdef public object streamClose
