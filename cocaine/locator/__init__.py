"""
The locator: what is published where (L{cocaine.locator.registry}), routing
groups (L{cocaine.locator.routing}) and the service itself
(L{cocaine.locator.service}).
"""
