# -*- test-case-name: tests.rpc.test_limits -*-
"""
What one native connection, and all of them together, may cost the node
(issue 14; C{docs/security-limits.md}): the per-connection limits a
L{cocaine.rpc.server.ServerProtocol} enforces, and the connection budget
its L{cocaine.rpc.hosting.ServerFactory} admits connections against.
"""

import weakref
from dataclasses import dataclass

from twisted.logger import Logger


@dataclass(frozen=True)
class ConnectionLimits:
    """
    The limits of one connection; L{None} is no limit.

    @ivar maxContainer: elements of one msgpack array or map in a frame.
    @ivar maxFrameObjects: small values the parse of one large frame may
        allocate.
    @ivar maxChannels: open channels: the larger of the number the
        client may still send on and the number the server may still
        answer on, plus the calls not answered yet. Past it a new channel
        is answered with an error and its handler is not called.
    @ivar writeLimit: bytes queued for the peer past which the connection
        is dropped: the peer does not read its replies. With a limit the
        connection is also its transport's streaming producer: reading
        from the peer pauses while more than the transport's C{bufferSize}
        (64 KiB) waits to be sent, as the HTTP gateway's connections do.
    @ivar idleTimeout: seconds without a byte received and without an open
        channel after which the connection is closed.
    @ivar frameTimeout: seconds a frame begun may take to arrive whole
        (slow senders); checked by one timer per connection, so a
        connection is closed between one and two timeouts after it went
        quiet.
    """

    maxContainer: int = None
    maxFrameObjects: int = None
    maxChannels: int = None
    writeLimit: int = None
    idleTimeout: float = None
    frameTimeout: float = None

    @classmethod
    def fromNetwork(cls, network):
        """
        The limits the config's L{cocaine.config.Network} section sets.
        """
        return cls(maxContainer=network.maxContainer,
                   maxFrameObjects=network.maxFrameObjects,
                   maxChannels=network.maxChannels,
                   writeLimit=network.writeLimit,
                   idleTimeout=network.idleTimeout,
                   frameTimeout=network.frameTimeout)

    @property
    def period(self):
        """
        The interval of a connection's timer, or L{None} for no timer.
        """
        if self.frameTimeout is not None:
            if self.idleTimeout is not None:
                return min(self.frameTimeout, self.idleTimeout)
            return self.frameTimeout
        return self.idleTimeout


#: No limits: connections built outside a L{cocaine.rpc.host.ServiceHost}
#: (tests, in-memory connections) behave as before the limits existed.
UNLIMITED = ConnectionLimits()


class ConnectionBudget:
    """
    Connections open on every port of a node, in total and per peer
    address; shared by the node's L{cocaine.rpc.host.ServiceHost}s.

    @ivar total: the most connections, or L{None}.
    @ivar perPeer: the most connections from one address, or L{None}.
    @ivar open: connections admitted and not released.
    @ivar refused: connections refused so far.
    """

    log = Logger()

    def __init__(self, total=None, perPeer=None):
        self.total = total
        self.perPeer = perPeer
        self.open = 0
        self.refused = 0
        self._byPeer = {}
        self._refusing = False

    @classmethod
    def fromNetwork(cls, network):
        """
        The budget of the config's L{cocaine.config.Network} section, the
        total kept below the process's file descriptor limit (a quarter of
        it stays for workers' pipes, storage files and listening ports).
        """
        total = network.maxConnections
        try:
            import resource
            soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        except (ImportError, ValueError, OSError):
            soft = resource = None
        if resource is not None and soft != resource.RLIM_INFINITY:
            total = max(16, min(total, soft * 3 // 4))
        return cls(total, min(total, network.maxConnectionsPerPeer))

    def admit(self, host):
        """
        Take a connection from C{host} if the budget allows it.

        @return: L{True} when admitted (release it with L{release}).
        """
        count = self._byPeer.get(host, 0)
        reason = None
        if self.total is not None and self.open >= self.total:
            reason = "{} connections open (max-connections)".format(
                self.open)
        elif self.perPeer is not None and count >= self.perPeer:
            reason = "{} connections from {} (max-connections-per-peer)" \
                .format(count, host)
        if reason is not None:
            self.refused += 1
            if not self._refusing:
                # one line per burst of refusals, not one per connection
                self._refusing = True
                self.log.warn("refusing connections from {peer}: {reason}",
                              peer=host, reason=reason)
            return False
        self._refusing = False
        self.open += 1
        self._byPeer[host] = count + 1
        return True

    def release(self, host):
        """
        A connection admitted from C{host} closed.
        """
        count = self._byPeer.get(host, 0)
        if count <= 1:
            self._byPeer.pop(host, None)
        else:
            self._byPeer[host] = count - 1
        if self.open:
            self.open -= 1


_budgets = weakref.WeakKeyDictionary()


def budgetFor(owner, network):
    """
    The one L{ConnectionBudget} of a node, keyed by an object the node's
    services share (its registry), made from C{network} the first time.
    """
    budget = _budgets.get(owner)
    if budget is None:
        budget = _budgets[owner] = ConnectionBudget.fromNetwork(network)
    return budget
