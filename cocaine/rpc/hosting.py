# -*- test-case-name: tests.rpc.test_server -*-
"""
Hosting a service: its implementation bound to its declared protocol
(L{HostedService}) and the factory of its connections (L{ServerFactory}).
"""

from twisted.internet.protocol import Factory

from cocaine.protocol.framing import DEFAULT_MAX_BUFFER
from cocaine.rpc.server import ServerProtocol


class HostedService:
    """
    A service implementation bound to its declared protocol.

    @ivar name: the service name (for logs and error messages).
    @ivar protocol: the declared root L{Protocol}.
    @ivar version: the protocol version C{resolve} reports.
    @ivar handlers: one bound handler per message id.
    @ivar where: C{"name.message"} per message id (error messages).
    @ivar connections: the live L{ServerProtocol}s.
    @ivar guard: the L{cocaine.auth.guard.Guard}, or L{None}.
    @ivar rules: the guard's check per message id, or L{None}.
    @ivar wholes: per message id, what takes a whole request (see
        L{cocaine.rpc.server}): C{(handler, write, close, fewest, most)},
        the C{impl.<method>Whole} handler, the ids of the stream's
        C{write} and C{close} and how many args a C{write} takes; or
        L{None}. L{None} when no message has one.
    """

    def __init__(self, name, impl, protocol, version, guard=None):
        """
        @param guard: a L{cocaine.auth.guard.Guard} deciding every
            opening message, or L{None} (auth off: no checks at all).
        """
        self.name = name
        self.impl = impl
        self.protocol = protocol
        self.version = version
        missing = [m.method for m in protocol.messages
                   if not callable(getattr(impl, m.method, None))]
        if missing:
            raise TypeError("{} does not implement {}".format(
                type(impl).__name__, ", ".join(missing)))
        self.handlers = [getattr(impl, m.method) for m in protocol.messages]
        self.where = [name + "." + m.name for m in protocol.messages]
        wholes = [_whole(impl, m) for m in protocol.messages]
        self.wholes = wholes if any(wholes) else None
        self.connections = set()
        self.guard = guard
        self.rules = None if guard is None else guard.rules(name, protocol)

    def dropConnections(self):
        """
        Close every live connection.
        """
        for connection in list(self.connections):
            connection.close()


def _whole(impl, message):
    """
    @return: the entry of C{message} in L{HostedService.wholes}.
    """
    handler = getattr(impl, message.method + "Whole", None)
    dispatch = message.dispatch
    write = getattr(dispatch, "streamWrite", None)
    close = getattr(dispatch, "streamClose", None)
    if handler is None or write is None or close is None:
        return None
    asIs = dispatch.messages[write].asIs
    if asIs is None:
        return None
    return (handler, write, close, asIs[0], asIs[1])


class ServerFactory(Factory):
    """
    Builds a L{ServerProtocol} per connection for one L{HostedService}.
    """

    noisy = False

    def __init__(self, service, maxBuffer=DEFAULT_MAX_BUFFER,
                 limits=None, reactor=None, budget=None):
        """
        @param limits: each connection's
            L{cocaine.rpc.limits.ConnectionLimits}.
        @param reactor: the clock of the connections' timers.
        @param budget: a L{cocaine.rpc.limits.ConnectionBudget} shared by
            the node's ports, or L{None} for no connection limit.
        """
        self.service = service
        self.maxBuffer = maxBuffer
        self.limits = limits
        self.reactor = reactor
        self.budget = budget

    def buildProtocol(self, addr):
        budget = self.budget
        host = getattr(addr, "host", None)
        if budget is not None and not budget.admit(host):
            # Twisted closes a connection whose protocol is None at once
            return None
        proto = ServerProtocol(self.service, self.maxBuffer, self.limits,
                               self.reactor)
        proto.factory = self
        if budget is not None:
            proto._release = lambda: budget.release(host)
        return proto

__all__ = ["HostedService", "ServerFactory"]
