# Cython's declarations for framing.py when it is compiled (see
# cocaine/compiled.py): the decoder as an extension type with typed
# fields, so its per-message loop runs without the interpreter. The .py
# stays the source and the fallback.

cdef class Decoder:
    cdef public object _unpacker
    cdef public object maxBuffer
    cdef public Py_ssize_t fed
    cdef public Py_ssize_t frameStart
    cdef public Py_ssize_t settled
    cdef public object maxObjects
    cdef public object _objects
