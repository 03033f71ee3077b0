"""
The native protocol without I/O: framing, headers, protocol descriptions and
dispatch graphs (PROTOCOL.md sections 1 to 3).
"""
