"""
Redis connections shared by the Redis-backed services and storage (our
pipelined command connections on C{hiredis}; pub/sub on txredisapi).
"""
