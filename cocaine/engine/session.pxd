# Cython's declarations for session.py when it is compiled (see
# cocaine/compiled.py): a session as an extension type on its base's
# fields (answer.pxd), read and written as C struct members in its own
# methods and in the outputs of its machine's transitions (every request
# is made, assigned and ended here). The .py stays the source and the
# fallback. A build of this module is stale when answer's files changed
# too (cocaine.compiled.staleBuild follows the cimport).

from cocaine.engine.answer cimport SessionAnswer


cdef class Session(SessionAnswer):
    pass
