"""
Twisted protocols that run the native protocol over a transport: server
sessions (L{cocaine.rpc.server}) and client connections
(L{cocaine.rpc.client}).
"""
