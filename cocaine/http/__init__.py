"""
The HTTP front: an HTTP/1.1 server on a C parser and the gateway that
turns requests into app sessions, as the Cocaine 0.12 proxies did.
"""
