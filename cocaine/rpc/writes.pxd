# Cython's declarations for writes.py when it is compiled (see
# cocaine/compiled.py): the batches' state as an extension type, its
# fields read and written as C struct members by the functions every
# read opens and closes a batch with (twice a sequential request through
# the node). The .py stays the source and the fallback.

cimport cython

cdef class _Batches:
    cdef public Py_ssize_t depth
    cdef public dict pending
    cdef public bint turnHeld
    cdef public Py_ssize_t generation
    cdef public Py_ssize_t opened


@cython.locals(batch=_Batches, pending=dict)
cpdef write(object transport, object data)

@cython.locals(batch=_Batches, depth=Py_ssize_t, opened=Py_ssize_t)
cpdef begin()

@cython.locals(batch=_Batches, depth=Py_ssize_t)
cpdef end()

@cython.locals(pending=dict)
cpdef flush()
