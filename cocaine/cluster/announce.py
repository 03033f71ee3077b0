# -*- test-case-name: tests.cluster.test_announce -*-
"""
Multicast discovery (PROTOCOL.md section 10): every C{interval} a node sends
a UDP datagram, msgpack C{[uuid, [[address, port], ...]]} (its locator's
endpoints), to the cluster's multicast group, and listens for the others'.

A newly heard uuid is answered with an announce at once (rate-limited), so
a join takes a round trip rather than an interval.

Ours: with a cluster secret, the datagram is C{[uuid, endpoints, time,
nonce, mac]}, where C{time} is the sender's wall clock (seconds, a float),
C{nonce} 16 random bytes and C{mac} HMAC-SHA256 keyed by the secret over
the msgpack encoding of C{[uuid, endpoints, time, nonce]}; announces
without a valid one are ignored and counted, and so are those outside the
replay window or with a nonce already heard in it
(L{cocaine.cluster.replay}). Malformed datagrams are ignored and counted
too. Without a secret the datagram is Cocaine 0.12's C{[uuid, endpoints]}.
"""

import hashlib
import hmac
import os
from collections import OrderedDict

import msgpack
from twisted.application.service import Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from cocaine.cluster.replay import (
    DEFAULT_WINDOW, ReplayGuard, Replayed, Stale)

#: The largest announce we send or accept.
MAX_DATAGRAM = 8192

#: Nodes remembered as answered at most (the oldest is forgotten: it only
#: costs one more rate-limited answer).
MAX_KNOWN = 1024


class MalformedAnnounce(ValueError):
    """
    A datagram that is not an announce.
    """


class Unauthenticated(ValueError):
    """
    An announce without a valid HMAC for our secret.
    """


def _key(secret):
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def _mac(secret, body):
    return hmac.new(_key(secret), body, hashlib.sha256).digest()


#: Bytes of random nonce in a signed announce.
NONCE_BYTES = 16


def encodeAnnounce(uuid, endpoints, secret=None, timestamp=None,
                   nonce=None):
    """
    The datagram announcing C{uuid} at C{endpoints}.

    @param endpoints: C{[(address, port), ...]}.
    @param secret: the cluster secret, or L{None} for no HMAC (then
        C{timestamp} and C{nonce} are not sent: 0.12's format).
    @param timestamp: the time it is sent (seconds since the epoch);
        needed with a secret.
    @param nonce: L{NONCE_BYTES} random bytes by default.
    @return: L{bytes}.
    """
    value = [uuid, [[address, port] for address, port in endpoints]]
    if secret is None:
        return msgpack.packb(value, use_bin_type=True)
    if timestamp is None:
        raise ValueError("a signed announce needs its timestamp")
    if nonce is None:
        nonce = os.urandom(NONCE_BYTES)
    value += [float(timestamp), nonce]
    body = msgpack.packb(value, use_bin_type=True)
    return msgpack.packb(value + [_mac(secret, body)], use_bin_type=True)


def _text(value):
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedAnnounce("not UTF-8 text: {!r}".format(value))
    if isinstance(value, str):
        return value
    raise MalformedAnnounce("expected text, got {!r}".format(value))


def decodeAnnounce(data, secret=None):
    """
    Parse an announce datagram (its time and nonce are not checked: see
    L{decodeSigned}).

    @param secret: when not L{None}, the announce must carry a valid HMAC.
    @raise MalformedAnnounce: not an announce.
    @raise Unauthenticated: a secret is set and the HMAC is missing or
        wrong.
    @return: C{(uuid, [(address, port), ...])}.
    """
    uuid, endpoints, _ = decodeSigned(data, secret)
    return uuid, endpoints


def decodeSigned(data, secret=None):
    """
    Parse an announce datagram.

    @return: C{(uuid, endpoints, stamp)}, C{stamp} being C{(time, nonce)}
        when a secret is set (L{None} otherwise).
    @raise MalformedAnnounce: not an announce.
    @raise Unauthenticated: a secret is set and the HMAC is missing or
        wrong, or the announce has no time and nonce under it.
    """
    if len(data) > MAX_DATAGRAM:
        raise MalformedAnnounce("{} bytes is too long".format(len(data)))
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=False,
                                max_bin_len=MAX_DATAGRAM,
                                max_str_len=MAX_DATAGRAM)
    except Exception as e:
        raise MalformedAnnounce("not msgpack: {}".format(e))
    if not isinstance(value, list) or len(value) not in (2, 3, 5):
        raise MalformedAnnounce("not [uuid, endpoints(, time, nonce)"
                                "(, mac)]")
    uuid = _text(value[0])
    if not uuid:
        raise MalformedAnnounce("empty uuid")
    raw = value[1]
    if not isinstance(raw, list) or not raw:
        raise MalformedAnnounce("endpoints must be a non-empty array")
    endpoints = []
    for endpoint in raw:
        if (not isinstance(endpoint, list) or len(endpoint) != 2
                or type(endpoint[1]) is not int
                or not 0 < endpoint[1] <= 65535):
            raise MalformedAnnounce("bad endpoint {!r}".format(endpoint))
        address = _text(endpoint[0])
        if not address:
            raise MalformedAnnounce("empty address")
        endpoints.append((address, endpoint[1]))
    if secret is None:
        return uuid, endpoints, None
    if len(value) != 5 or not isinstance(value[4], bytes):
        # a 3-element announce is the signed format before the replay
        # window: refused like an unsigned one
        raise Unauthenticated("announce from {} has no timestamped "
                              "HMAC".format(uuid))
    body = msgpack.packb(value[:4], use_bin_type=True)
    if not hmac.compare_digest(value[4], _mac(secret, body)):
        raise Unauthenticated("announce from {} has a wrong HMAC".format(
            uuid))
    return uuid, endpoints, (value[2], value[3])


class JoinFailed(Exception):
    """
    The multicast group could not be joined on the interface.
    """


class AnnounceProtocol(DatagramProtocol):
    """
    Sends our announce every C{interval} and reports every node heard.

    @ivar stats: counters: C{sent}, C{heard} (valid announces of other
        nodes), C{malformed}, C{unauthenticated}, C{stale} (signed, but
        outside the replay window), C{replayed} (signed, a nonce already
        heard in the window), C{replies} (immediate answers to new nodes).
    @ivar joined: a Deferred that fires once the group is joined (and the
        announces have begun), or fails with L{JoinFailed}.
    """

    log = Logger()

    def __init__(self, clock, uuid, endpoints, heard, group, port,
                 interval, interface="127.0.0.1", ttl=1, loopback=True,
                 secret=None, replayWindow=DEFAULT_WINDOW):
        """
        @param clock: an C{IReactorTime}; its C{seconds()} is the wall
            time signed announces carry.
        @param replayWindow: with a secret, seconds a signed announce is
            accepted either side of our clock.
        @param endpoints: a callable returning our locator's endpoints,
            C{[(address, port), ...]}.
        @param heard: called with C{(uuid, endpoints)} for every valid
            announce of another node.
        """
        self._clock = clock
        self.uuid = uuid
        self._endpoints = endpoints
        self._heard = heard
        self.group = group
        self.port = port
        self.interval = interval
        self.interface = interface
        self.ttl = ttl
        self.loopback = loopback
        self._secret = secret
        self.replay = ReplayGuard(clock, replayWindow)
        #: at most one immediate answer per this many seconds
        self.replyGap = min(1.0, interval / 4.0)
        self._known = OrderedDict()
        self._lastSent = None
        self._pendingReply = None
        self._loop = None
        self.joined = Deferred()
        self.stats = {"sent": 0, "heard": 0, "malformed": 0,
                      "unauthenticated": 0, "stale": 0, "replayed": 0,
                      "replies": 0}

    def startProtocol(self):
        transport = self.transport
        transport.setTTL(self.ttl)
        transport.setLoopbackMode(self.loopback)
        d = maybeDeferred(transport.setOutgoingInterface, self.interface)
        d.addCallback(lambda _: transport.joinGroup(self.group,
                                                    self.interface))
        d.addCallbacks(self._joined, self._joinFailed)

    def _joined(self, _):
        self._loop = LoopingCall(self.announce)
        self._loop.clock = self._clock
        self._loop.start(self.interval, now=True).addErrback(
            lambda f: self.log.failure("cluster announce loop failed", f))
        self.joined.callback(None)

    def _joinFailed(self, failure):
        self.joined.errback(JoinFailed(
            "cannot join multicast group {} on {}: {}".format(
                self.group, self.interface, failure.getErrorMessage())))

    def stopProtocol(self):
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        if self._pendingReply is not None and self._pendingReply.active():
            self._pendingReply.cancel()
        self._pendingReply = None

    def announce(self):
        """
        Send our announce now.
        """
        endpoints = self._endpoints()
        if not endpoints or self.transport is None:
            return
        data = encodeAnnounce(self.uuid, endpoints, self._secret,
                              self._clock.seconds())
        try:
            self.transport.write(data, (self.group, self.port))
        except Exception as e:
            self.log.warn("cluster: announce not sent: {reason}",
                          reason=str(e))
            return
        self._lastSent = self._clock.seconds()
        self.stats["sent"] += 1

    def _reply(self):
        """
        Answer a new node at once, but not more often than C{replyGap}.
        """
        if self._pendingReply is not None and self._pendingReply.active():
            return
        now = self._clock.seconds()
        if self._lastSent is None or now - self._lastSent >= self.replyGap:
            self.stats["replies"] += 1
            self.announce()
            return

        def later():
            self._pendingReply = None
            self.stats["replies"] += 1
            self.announce()
        self._pendingReply = self._clock.callLater(
            self._lastSent + self.replyGap - now, later)

    def datagramReceived(self, data, address):
        try:
            uuid, endpoints, stamp = decodeSigned(data, self._secret)
            if stamp is not None:
                self.replay.check(*stamp)
        except Stale as e:
            self.stats["stale"] += 1
            self.log.debug("cluster: stale announce from {address}: "
                           "{reason}", address=address, reason=str(e))
            return
        except Replayed as e:
            self.stats["replayed"] += 1
            self.log.debug("cluster: replayed announce from {address}: "
                           "{reason}", address=address, reason=str(e))
            return
        except Unauthenticated as e:
            self.stats["unauthenticated"] += 1
            self.log.debug("cluster: ignored from {address}: {reason}",
                           address=address, reason=str(e))
            return
        except MalformedAnnounce as e:
            self.stats["malformed"] += 1
            self.log.debug("cluster: malformed announce from {address}: "
                           "{reason}", address=address, reason=str(e))
            return
        if uuid == self.uuid:
            return
        self.stats["heard"] += 1
        if uuid not in self._known:
            self._known[uuid] = None
            if len(self._known) > MAX_KNOWN:
                self._known.popitem(last=False)
            self._reply()
        self._heard(uuid, endpoints)

    def forget(self, uuid):
        """
        C{uuid} was dropped: answer it at once when it is heard again.
        """
        self._known.pop(uuid, None)


class MulticastDiscovery(Service):
    """
    Listens on the cluster group and port with an L{AnnounceProtocol}.

    The socket is bound to the group address, not to a wildcard, so it
    receives the group's datagrams only.
    """

    def __init__(self, reactor, cluster, uuid, endpoints, heard):
        """
        @param cluster: the config's L{cocaine.config.Cluster}.
        """
        self._reactor = reactor
        self.protocol = AnnounceProtocol(
            reactor, uuid, endpoints, heard, cluster.group, cluster.port,
            cluster.interval, cluster.interface, cluster.ttl,
            cluster.loopback, cluster.secret, cluster.replayWindow)
        self._port = None

    def startService(self):
        """
        @return: the Deferred of L{AnnounceProtocol.joined}.
        """
        Service.startService(self)
        self._port = self._reactor.listenMulticast(
            self.protocol.port, self.protocol, interface=self.protocol.group,
            listenMultiple=True)
        return self.protocol.joined

    def stopService(self):
        Service.stopService(self)
        port, self._port = self._port, None
        if port is not None:
            return maybeDeferred(port.stopListening)
        return None

    def forget(self, uuid):
        self.protocol.forget(uuid)
