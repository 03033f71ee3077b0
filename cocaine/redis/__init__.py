"""
Redis connections shared by the Redis-backed services and storage (on
txredisapi).
"""
