# -*- test-case-name: tests.driver.test_zeromq_sockets -*-
"""
ZeroMQ endpoint checking: C{ipc://PATH}, C{inproc://NAME} or
C{tcp://ADDRESS:PORT}, nothing else.

TCP is default-safe: the address must be written out (C{tcp://*:5000},
which listens on every interface, is refused; C{tcp://0.0.0.0:5000} is an
explicit choice and accepted). A port of C{*} asks for an ephemeral one
when binding; the socket's L{endpoint} then tells which.
"""

#: The longest ipc path a UNIX socket address holds (sun_path minus NUL).
MAX_IPC_PATH = 107


class EndpointError(ValueError):
    """
    An endpoint we do not accept; the message says why.
    """


def checkEndpoint(endpoint, bind=True):
    """
    @param endpoint: the endpoint text.
    @param bind: whether the socket binds (a C{*} port is allowed) or
        connects.
    @return: C{endpoint}, unchanged.
    @raise EndpointError: why it is refused.
    """
    if not isinstance(endpoint, str):
        raise EndpointError("must be ipc://PATH, inproc://NAME or "
                            "tcp://ADDRESS:PORT, got {!r}".format(endpoint))
    scheme, sep, rest = endpoint.partition("://")
    if not sep or scheme not in ("ipc", "inproc", "tcp"):
        raise EndpointError("must be ipc://PATH, inproc://NAME or "
                            "tcp://ADDRESS:PORT, got {!r}".format(endpoint))
    if not rest:
        raise EndpointError("{!r} has nothing after {}://".format(
            endpoint, scheme))
    if scheme == "ipc" and len(rest.encode("utf-8")) > MAX_IPC_PATH:
        raise EndpointError("{!r}: an ipc path is at most {} bytes".format(
            endpoint, MAX_IPC_PATH))
    if scheme == "tcp":
        _checkTCP(endpoint, rest, bind)
    return endpoint


def _checkTCP(endpoint, rest, bind):
    host, sep, port = rest.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") \
        else host
    if not sep or not host:
        raise EndpointError("{!r}: must be tcp://ADDRESS:PORT".format(
            endpoint))
    if host == "*":
        raise EndpointError("{!r}: write the address out (tcp://127.0.0.1:"
                            "{}); '*' would listen on every interface"
                            .format(endpoint, port))
    if port == "*" and bind:
        return
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise EndpointError("{!r}: the port must be 1-65535{}".format(
            endpoint, " or * (any free one)" if bind else ""))
