# Cython's declarations for server.py when it is compiled (see
# cocaine/compiled.py): a server connection as an extension type, the
# fields its own methods read on every request (ServerState's) as C
# struct members. Its mixins and Twisted's Protocol are Python classes
# after its first base, hence the instance dict.

cdef class ServerState:
    cdef public object _service
    cdef public object _wholes
    cdef public object _decoder
    cdef public object _maxChannels
    cdef public object _crowded
    cdef public object _lastChannel
    cdef public object _lingering
    cdef public object _dispatch
    cdef public object _upstreams
    cdef public object _broken
    cdef public object _literal
    cdef public object _decoded
    cdef public object _headers
    cdef public object _pack
    cdef public object _writeFull
    cdef public object _inflight
    cdef public object _peer


cdef class ServerProtocol(ServerState):
    cdef dict __dict__
