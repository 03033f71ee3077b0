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


# The relay of chunk frames: byte loops over typed offsets.

@cython.locals(size=Py_ssize_t, pos=Py_ssize_t, count=Py_ssize_t,
               runChannel=Py_ssize_t, incomplete=bint, at=Py_ssize_t,
               marker=int, channel=Py_ssize_t, width=Py_ssize_t,
               end=Py_ssize_t)
cpdef tuple chunkRun(bytes data, Py_ssize_t start, Py_ssize_t limit)

@cython.locals(size=Py_ssize_t, at=Py_ssize_t, width=Py_ssize_t)
cpdef Py_ssize_t emptyAt(bytes data, Py_ssize_t pos, Py_ssize_t channel,
                         int mtype)

@cython.locals(value=Py_ssize_t, index=Py_ssize_t)
cdef Py_ssize_t _bigEndian(bytes data, Py_ssize_t at, Py_ssize_t width)

cdef Py_ssize_t _uintWidth(int marker)

cdef Py_ssize_t _lengthWidth(int marker)

@cython.locals(pos=Py_ssize_t, at=Py_ssize_t, marker=int,
               width=Py_ssize_t, length=Py_ssize_t, frameEnd=Py_ssize_t,
               parts=list, prefix=bytes)
cpdef bytes rechannel(bytes data, Py_ssize_t start, Py_ssize_t end,
                      object channel, object mtype, object endWith=*)

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
