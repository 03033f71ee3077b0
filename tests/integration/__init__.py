"""Integration tests: real node processes, sockets and files on loopback."""
