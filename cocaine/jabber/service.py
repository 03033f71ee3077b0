# -*- test-case-name: tests.jabber.test_service -*-
"""
The C{jabber} service: one XMPP account
(L{cocaine.protocol.jabber.JABBER}):

  - C{send(to, body, type="chat")} sends a message stanza and answers its
    id; while the account is not online it fails at once with
    L{BackendUnavailable} naming the service, the account and why (no
    queue: the caller decides whether to retry).
  - C{subscribe()} streams incoming messages C{[from, body, type]} until
    the client closes the channel (L{cocaine.jabber.subscribers}).
  - C{presence(status="")} announces the account available with that
    status, now and after every reconnect.

The connection (L{cocaine.jabber.connection}) starts with the service and
reconnects with backoff until the service stops.
"""

import re

from twisted.application.service import Service
from twisted.words.protocols.jabber.jid import InvalidFormat, JID
from zope.interface import implementer

from cocaine.errors import InvalidArgument
from cocaine.interfaces import IRPCService
from cocaine.jabber.connection import Connection
from cocaine.jabber.subscribers import Hub
from cocaine.protocol.jabber import JABBER, JABBER_VERSION

#: The message types C{send} accepts (RFC 6121).
MESSAGE_TYPES = ("chat", "normal", "headline", "groupchat")

#: Characters XML 1.0 cannot carry: a stanza holding one would make the
#: server close the stream.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff"
                      "\ufffe\uffff]")


@implementer(IRPCService)
class JabberService(Service):
    """
    One account's jabber service.

    @ivar connection: its L{Connection}.
    @ivar hub: its subscribers' L{Hub}.
    """

    protocol = JABBER
    version = JABBER_VERSION

    def __init__(self, reactor, name, settings):
        """
        @param reactor: connects and keeps time (the node's).
        @param name: the name the service is published under.
        @param settings: a L{cocaine.jabber.settings.Settings}.
        """
        self.name = name
        self.settings = settings
        self.hub = Hub(name, settings.buffer)
        self.connection = Connection(reactor, settings, name,
                                     self.hub.publish)

    def startService(self):
        Service.startService(self)
        self.connection.connect()

    def stopService(self):
        Service.stopService(self)
        self.hub.closeAll()
        return self.connection.close()

    # -- the protocol -----------------------------------------------------

    def send(self, to, body, type="chat"):
        try:
            recipient = JID(to)
        except InvalidFormat as e:
            raise InvalidArgument("{}.send: argument 'to' is not a JID: "
                                  "{}".format(self.name, e))
        if type not in MESSAGE_TYPES:
            raise InvalidArgument("{}.send: argument 'type' must be one of "
                                  "{}, got {!r}".format(
                                      self.name, ", ".join(MESSAGE_TYPES),
                                      type))
        self._checkText("send", "body", body)
        return (self.connection.sendMessage(recipient.full(), body, type),)

    def subscribe(self, upstream):
        return self.hub.add(upstream)

    def presence(self, status=""):
        self._checkText("presence", "status", status)
        self.connection.sendPresence(status)

    def _checkText(self, method, name, text):
        found = _NOT_XML.search(text)
        if found is not None:
            raise InvalidArgument(
                "{}.{}: argument {!r} holds character U+{:04X}, which XML "
                "cannot carry".format(self.name, method, name,
                                      ord(found.group())))
