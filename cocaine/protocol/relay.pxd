# Cython's declarations for relay.py when it is compiled (see
# cocaine/compiled.py): the relay of chunk frames, byte loops over typed
# offsets. The .py stays the source and the fallback.

cimport cython

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
               parts=list, prefix=bytes, value=tuple)
cpdef bytes rechannel(bytes data, Py_ssize_t start, Py_ssize_t end,
                      object channel, object mtype, object endWith=*)
