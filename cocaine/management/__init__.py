"""
The ZeroMQ-era management surface (PROTOCOL.md section 9): the JSON
management plane over a REP socket (L{cocaine.management.plane},
L{cocaine.management.service}) and per-app monitoring over PUB
(L{cocaine.management.monitor}). C{services/management.py} is the thin
plugin.
"""
