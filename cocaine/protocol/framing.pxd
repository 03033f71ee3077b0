# Cython's declarations for framing.py when it is compiled (see
# cocaine/compiled.py): the decoder as an extension type with typed
# fields, so its per-message loop runs without the interpreter. The .py
# stays the source and the fallback.

cimport cython

cdef class Decoder:
    cdef public object _unpacker
    cdef public object maxBuffer
    cdef public Py_ssize_t fed
    cdef public Py_ssize_t frameStart
    cdef public Py_ssize_t settled
    cdef public object maxObjects
    cdef public object _objects
    cdef Py_ssize_t _checks


# A stream's messages packed without the packer: their headers in a C
# array.

@cython.locals(count=Py_ssize_t, data=bytes)
cpdef bytes packMessage(object pack, object channel, object mtype,
                        object args)

cpdef bytes packClosing(object pack, object channel, object mtype,
                        object args, object endWith)

@cython.locals(event=bytes, value=bytes)
cpdef bytes packRequest(object pack, object channel, object mtype,
                        object args, object chunkType, object chunkArgs,
                        object endWith)

@cython.locals(held=bytearray, buf=cython.p_uchar, at=Py_ssize_t)
cdef bytes _head(unsigned long long channel, int mtype, int kind,
                 Py_ssize_t length)
