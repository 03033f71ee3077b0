"""
Redis connections shared by the Redis-backed services and storage: our
pipelined connections on C{hiredis}, each kept up by a machine of its
own.
"""
