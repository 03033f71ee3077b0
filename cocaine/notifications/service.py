# -*- test-case-name: tests.notifications.test_service -*-
"""
The C{notifications} service: C{publish(channel, value)} and
C{subscribe([channels])} (L{cocaine.protocol.notifications}), node-local
(L{cocaine.notifications.hub}) or also between the nodes sharing a Redis
(L{cocaine.notifications.relay}).

C{publish} delivers to this node's subscribers at once, in order, and
answers C{[delivered]}: node-local, the subscriptions reached; over Redis,
those plus the other nodes Redis handed the message to (a node counts
once, however many subscriptions it has; this node is not counted twice).
While Redis is not connected a publish fails at once with
L{BackendUnavailable} naming the server, and nothing is delivered, not
even here. When the C{PUBLISH} itself fails (the connection dropped
during it, or no answer in time) the error says the message reached this
node's subscribers only.
"""

from twisted.application.service import Service
from twisted.logger import Logger
from zope.interface import implementer

from cocaine.errors import BackendUnavailable, CocaineError, InvalidArgument
from cocaine.interfaces import IRPCService
from cocaine.notifications.hub import DEFAULT_MAX_PENDING, Hub, lostNotice
from cocaine.protocol.notifications import (
    NOTIFICATIONS, NOTIFICATIONS_VERSION)
from cocaine.rpc import writes

#: The longest channel name, in characters.
MAX_NAME = 256
#: The most channels one C{subscribe} may name.
MAX_CHANNELS = 1024


def _shown(name):
    if len(name) > 40:
        return "{!r}... ({} characters)".format(name[:40], len(name))
    return repr(name)


def checkName(name, where):
    """
    @raise InvalidArgument: C{name} is not a usable channel name (empty or
        longer than L{MAX_NAME}), naming it.
    """
    if not name:
        raise InvalidArgument("{}: a channel name must not be empty"
                              .format(where))
    if len(name) > MAX_NAME:
        raise InvalidArgument("{}: channel name {} is longer than {} "
                              "characters".format(where, _shown(name),
                                                  MAX_NAME))


def checkNames(names, where):
    """
    @return: the distinct names of C{names}, in order.
    @raise InvalidArgument: none, too many, or a bad one (named).
    """
    if not names:
        raise InvalidArgument("{}: name at least one channel".format(where))
    distinct = list(dict.fromkeys(names))
    if len(distinct) > MAX_CHANNELS:
        raise InvalidArgument("{}: {} channels, more than the {} one "
                              "subscription may name".format(
                                  where, len(distinct), MAX_CHANNELS))
    for name in distinct:
        checkName(name, where)
    return distinct


@implementer(IRPCService)
class NotificationsService(Service):
    """
    Publish/subscribe on named channels.

    @ivar hub: the local L{Hub}.
    @ivar relay: the L{cocaine.notifications.relay.RedisRelay}, or
        L{None} for node-local delivery only.
    """

    protocol = NOTIFICATIONS
    version = NOTIFICATIONS_VERSION
    log = Logger()

    def __init__(self, maxPending=DEFAULT_MAX_PENDING, relay=None,
                 reactor=None):
        """
        @param relay: a callable C{(onMessage, onLost)} returning the
            relay, or L{None}.
        @param reactor: the node's reactor: what messages from Redis write
            in one turn of it leaves in one send per subscriber's
            connection (without one, one send per message).
        """
        self._reactor = reactor
        self.hub = Hub(maxPending)
        self.relay = None
        if relay is not None:
            self.relay = relay(self._remote, self._lost)
            self.hub.onFirst = self.relay.subscribe
            self.hub.onLast = self.relay.unsubscribe

    def startService(self):
        Service.startService(self)
        if self.relay is not None:
            self.relay.start()

    def stopService(self):
        Service.stopService(self)
        self.hub.closeAll()
        if self.relay is not None:
            return self.relay.stop()

    # -- the protocol --------------------------------------------------------

    def publish(self, channel, value):
        checkName(channel, "notifications.publish")
        relay = self.relay
        if relay is None:
            return (self.hub.deliver(channel, value),)
        if not relay.connected:
            raise BackendUnavailable(
                "notifications.publish: {} is not reachable (reconnecting); "
                "nothing was published".format(relay.address.safe))
        local = self.hub.deliver(channel, value)
        listening = relay.listening(channel)
        d = relay.publish(channel, value)
        d.addCallbacks(self._published, self._notPublished,
                       callbackArgs=(local, listening),
                       errbackArgs=(local,))
        return d

    def _published(self, reached, local, listening):
        if type(reached) is not int:
            reached = 0
        if listening:
            # Redis counted this node's own subscribed connection
            reached -= 1
        return (local + max(0, reached),)

    def _notPublished(self, failure, local):
        error = failure.value
        if not isinstance(error, CocaineError):
            return failure
        # the same class (fromWire builds every one this way)
        raise type(error)(
            "notifications.publish: {}; the message reached the {} "
            "subscriber{} on this node only".format(
                error.message, local, "" if local == 1 else "s"),
            category=error.category, code=error.code)

    def subscribe(self, upstream, channels):
        names = checkNames(channels, "notifications.subscribe")
        return self.hub.subscribe(upstream, names)

    # -- from the relay ----------------------------------------------------

    def _remote(self, channel, value):
        if self._reactor is not None:
            writes.holdForTurn(self._reactor)
        self.hub.deliver(channel, value)

    def _lost(self, reason):
        self.log.warn("notifications: {reason}", reason=reason)
        self.hub.notifyAll(lostNotice(reason))
