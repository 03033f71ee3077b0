"""
The logging service (L{cocaine.log.service}) and its sinks
(L{cocaine.log.sinks}).
"""
