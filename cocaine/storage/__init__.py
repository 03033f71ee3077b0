"""
Storage: the service (L{cocaine.storage.service}) and the built-in backends
(L{cocaine.storage.files}, L{cocaine.storage.memory}).
"""
