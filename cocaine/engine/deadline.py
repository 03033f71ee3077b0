# -*- test-case-name: tests.engine.test_deadline -*-
"""
A request's deadline, as its client sends it in the C{request_timeout}
header of an C{enqueue} (PROTOCOL.md section 1, headers).
"""

import struct


def parseDeadline(headers):
    """
    The request timeout in seconds from a C{request_timeout} header, or
    L{None}. The value is decimal seconds as text (ours), or 8 bytes holding
    a little-endian count of milliseconds (how the framework packs numeric
    headers).
    """
    for name, value in headers or ():
        if name != b"request_timeout":
            continue
        try:
            if len(value) == 8 and not value.isdigit():
                seconds = struct.unpack("<Q", value)[0] / 1000.0
            else:
                seconds = float(value.decode("ascii"))
        except (ValueError, UnicodeDecodeError, struct.error):
            return None
        return seconds if seconds > 0 else None
    return None
