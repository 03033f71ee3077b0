"""
The cache service: Cocaine 0.12's cache protocol over a node-local LRU
or Redis.
"""
