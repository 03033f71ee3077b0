"""
Cocaine 0.12's elliptics service (storage plus cache_read, cache_write,
bulk_read, read_latest), kept alive on Redis.
"""
