# -*- test-case-name: tests.mesh.test_discovery -*-
"""
Discovery: cote's JSON hellos over UDP (@dashersw/node-discover 1.0.6).

Every component sends a hello (L{cocaine.mesh.hello}) at start-up and
every C{helloInterval}; peers are keyed by their C{iid} and dropped after
C{nodeTimeout} of silence. A newcomer's first hello is answered at once
(rate-limited), and malformed hellos are ignored and counted.

B{Defaults stay on this host} (ours): with no option, hellos go to the
loopback broadcast address C{127.255.255.255} from C{127.0.0.1}, and the
listening socket is bound to C{127.255.255.255} itself, so it hears only
loopback broadcasts. Reaching a LAN is one explicit option: C{broadcast}
(e.g. C{"255.255.255.255"}), C{multicast} (a group) or C{unicast} (a
list of addresses); then the socket binds C{address} (default
C{0.0.0.0}) as cote does.
"""

import socket
import uuid

from twisted.internet.error import CannotListenError
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from cocaine.mesh.hello import (
    BadSignature, MalformedHello, buildHello, checkSignature, encodeHello,
    parseHello, signHello)

__all__ = [
    "DEFAULT_PORT",
    "LOOPBACK_BROADCAST",
    "Peer",
    "DiscoveryOptions",
    "DiscoveryProtocol",
    "addDiscoveryArguments",
    "discoveryOptionsFrom",
    "listenDiscovery",
]

log = Logger()

DEFAULT_PORT = 12345
LOOPBACK_BROADCAST = "127.255.255.255"


class Peer:
    """
    One discovered component.

    @ivar iid: its instance id (the key).
    @ivar pid: its process id (a uuid).
    @ivar address: where to connect: the hello's source IP, or its
        C{hostName} with C{useHostNames}.
    @ivar advertisement: its advertisement object.
    @ivar lastSeen: the clock's time of its last hello.
    """

    def __init__(self, iid, pid, address, hostName, advertisement, lastSeen):
        self.iid = iid
        self.pid = pid
        self.address = address
        self.hostName = hostName
        self.advertisement = advertisement
        self.lastSeen = lastSeen

    @property
    def port(self):
        """
        The advertised TCP port, or L{None}.
        """
        return self.advertisement.get("port")

    def __repr__(self):
        return "<Peer {} {} {}:{}>".format(
            self.advertisement.get("name"), self.iid, self.address, self.port)


class DiscoveryOptions:
    """
    Discovery settings; intervals in seconds (cote's are milliseconds).

    Exactly one of C{broadcast}, C{multicast} and C{unicast} reaches beyond
    this host; with none of them discovery stays on loopback.
    """

    def __init__(self, port=DEFAULT_PORT, helloInterval=2.0,
                 checkInterval=4.0, nodeTimeout=5.0, broadcast=None,
                 multicast=None, multicastTTL=1, unicast=None, address=None,
                 secret=None, useHostNames=False, helloReplyInterval=0.2,
                 signingKey=None, signatureWindow=30.0):
        if sum(x is not None for x in (broadcast, multicast, unicast)) > 1:
            raise ValueError("choose one of broadcast, multicast and unicast")
        if nodeTimeout < checkInterval:
            raise ValueError("nodeTimeout must be at least checkInterval")
        self.port = port
        self.helloInterval = helloInterval
        self.checkInterval = checkInterval
        self.nodeTimeout = nodeTimeout
        self.broadcast = broadcast
        self.multicast = multicast
        self.multicastTTL = multicastTTL
        if isinstance(unicast, str):
            unicast = [u.strip() for u in unicast.split(",") if u.strip()]
        self.unicast = unicast
        self.address = address
        self.secret = secret
        self.useHostNames = useHostNames
        self.helloReplyInterval = helloReplyInterval
        self.signingKey = signingKey or None
        self.signatureWindow = signatureWindow

    @property
    def loopbackOnly(self):
        """
        True when no option reaches beyond this host.
        """
        return (self.broadcast is None and self.multicast is None
                and self.unicast is None)

    def destinations(self):
        """
        Where hellos go: a list of C{(host, port)}.
        """
        if self.multicast is not None:
            hosts = [self.multicast]
        elif self.unicast is not None:
            hosts = list(self.unicast)
        elif self.broadcast is not None:
            hosts = [self.broadcast]
        else:
            hosts = [LOOPBACK_BROADCAST]
        return [(h, self.port) for h in hosts]

    def bindAddress(self):
        """
        The listening socket's address.
        """
        if self.address is not None:
            return self.address
        return LOOPBACK_BROADCAST if self.loopbackOnly else "0.0.0.0"


def addDiscoveryArguments(parser, portFlag="--port"):
    """
    The discovery flags of the mesh's command-line tools (the monitor, the
    sockend), read back by L{discoveryOptionsFrom}.

    @param parser: an L{argparse.ArgumentParser}.
    @param portFlag: the flag of the discovery port.
    """
    parser.add_argument(portFlag, dest="discoveryPort", type=int,
                        default=DEFAULT_PORT, metavar="PORT",
                        help="discovery port")
    parser.add_argument("--broadcast", default=None)
    parser.add_argument("--multicast", default=None)
    parser.add_argument("--unicast", default=None)
    parser.add_argument("--secret", default=None,
                        help="the discovery secret")
    parser.add_argument("--hello-interval", dest="helloInterval",
                        type=float, default=2.0, metavar="SECONDS")
    parser.add_argument("--node-timeout", dest="nodeTimeout", type=float,
                        default=5.0, metavar="SECONDS")
    parser.add_argument("--signing-key-file", dest="signingKeyFile",
                        default=None, metavar="PATH",
                        help="sign hellos with the key in this file and "
                        "ignore unsigned ones (ours; cote cannot sign)")


def _readKey(path):
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            key = f.read().strip()
    except OSError as e:
        raise ValueError("{}: cannot read the signing key file: {}".format(
            path, e.strerror))
    if not key:
        raise ValueError("{}: the signing key file is empty".format(path))
    return key


def discoveryOptions(discovery, options):
    """
    A component's discovery options, given either as a
    L{DiscoveryOptions} or as its keywords.

    @raise TypeError: both were given.
    """
    if discovery is None:
        return DiscoveryOptions(**options)
    if options:
        raise TypeError("pass discovery options either as discovery= or "
                        "as keywords")
    return discovery


def discoveryOptionsFrom(args):
    """
    @param args: parsed with L{addDiscoveryArguments}'s flags.
    @return: the L{DiscoveryOptions} they describe.
    @raise ValueError: saying which flag or file is wrong.
    """
    return DiscoveryOptions(
        port=args.discoveryPort, helloInterval=args.helloInterval,
        checkInterval=min(4.0, args.nodeTimeout),
        nodeTimeout=args.nodeTimeout, broadcast=args.broadcast,
        multicast=args.multicast, unicast=args.unicast, secret=args.secret,
        signingKey=_readKey(args.signingKeyFile))


class DiscoveryProtocol(DatagramProtocol):
    """
    Sends this component's hellos and keeps the table of peers.

    @ivar peers: L{dict} of iid to L{Peer}.
    @ivar malformed: how many datagrams were ignored as malformed.
    @ivar unsigned: with a signing key, how many hellos were refused for
        their signature (missing, forged or out of the window).
    @ivar sendTransport: where hellos are written (defaults to the
        listening transport; in loopback mode a second socket bound to
        C{127.0.0.1}, so hellos carry a connectable source address).
    """

    def __init__(self, advertisement, options, clock, iid=None):
        """
        @param advertisement: the component's advertisement.
        @param options: its L{DiscoveryOptions}.
        @param clock: the clock of its timers.
        @param iid: its instance id; default a new uuid.
        """
        self.advertisement = advertisement
        self.options = options
        self.clock = clock
        self.iid = iid or str(uuid.uuid4())
        self.peers = {}
        self.malformed = 0
        self.unsigned = 0
        self.sendTransport = None
        self._observers = []
        self._helloLoop = None
        self._checkLoop = None
        self._lastHello = None
        self._pendingReply = None

    def addObserver(self, added, removed):
        """
        Call C{added(peer)} for each new peer (and at once for known ones)
        and C{removed(peer)} for each peer dropped.
        """
        self._observers.append((added, removed))
        for peer in list(self.peers.values()):
            added(peer)

    def startProtocol(self):
        self._helloLoop = LoopingCall(self.sayHello)
        self._helloLoop.clock = self.clock
        self._helloLoop.start(self.options.helloInterval, now=True)
        self._checkLoop = LoopingCall(self.checkPeers)
        self._checkLoop.clock = self.clock
        self._checkLoop.start(self.options.checkInterval, now=False)

    def stopProtocol(self):
        for loop in (self._helloLoop, self._checkLoop):
            if loop is not None and loop.running:
                loop.stop()
        if self._pendingReply is not None and self._pendingReply.active():
            self._pendingReply.cancel()
        self._pendingReply = None
        for peer in list(self.peers.values()):
            self._remove(peer)

    def helloDatagram(self):
        """
        Our hello as one datagram (signed and encrypted as the options
        say).
        """
        hello = buildHello(self.iid, self.advertisement)
        if self.options.signingKey:
            signHello(hello, self.options.signingKey, self.clock.seconds())
        return encodeHello(hello, self.options.secret)

    def sayHello(self):
        """
        Send one hello to every destination.
        """
        self._lastHello = self.clock.seconds()
        transport = self.sendTransport or self.transport
        if transport is None:
            return
        data = self.helloDatagram()
        for destination in self.options.destinations():
            try:
                transport.write(data, destination)
            except OSError as e:
                log.warn("cannot send a hello to {destination}: {error}",
                         destination=destination, error=str(e))

    def _replyToNewcomer(self):
        if self._pendingReply is not None:
            return
        now = self.clock.seconds()
        gap = self.options.helloReplyInterval
        delay = 0
        if self._lastHello is not None:
            delay = max(0.0, self._lastHello + gap - now)

        def reply():
            self._pendingReply = None
            self.sayHello()

        if delay == 0:
            self.sayHello()
        else:
            self._pendingReply = self.clock.callLater(delay, reply)

    def datagramReceived(self, datagram, addr):
        try:
            hello = parseHello(datagram, self.options.secret)
            if self.options.signingKey:
                checkSignature(hello, self.options.signingKey,
                               self.clock.seconds(),
                               self.options.signatureWindow)
        except BadSignature as e:
            self.unsigned += 1
            if hello.get("iid") != self.iid:
                log.debug("ignoring a hello from {addr}: {error}", addr=addr,
                          error=str(e))
            return
        except MalformedHello as e:
            self.malformed += 1
            log.debug("ignoring a malformed hello from {addr}: {error}",
                      addr=addr, error=str(e))
            return
        iid = hello["iid"]
        if iid == self.iid:
            return
        data = hello["data"]
        hostName = hello.get("hostName")
        address = addr[0]
        if self.options.useHostNames and hostName:
            address = hostName
        now = self.clock.seconds()
        peer = self.peers.get(iid)
        if peer is None:
            peer = Peer(iid, hello.get("pid"), address, hostName,
                        data["advertisement"], now)
            self.peers[iid] = peer
            for added, _ in list(self._observers):
                added(peer)
            self._replyToNewcomer()
        else:
            peer.lastSeen = now
            peer.address = address
            peer.advertisement = data["advertisement"]

    def checkPeers(self):
        """
        Drop peers silent for longer than C{nodeTimeout}.
        """
        now = self.clock.seconds()
        for peer in list(self.peers.values()):
            if now - peer.lastSeen > self.options.nodeTimeout:
                self._remove(peer)

    def _remove(self, peer):
        if self.peers.pop(peer.iid, None) is None:
            return
        for _, removed in list(self._observers):
            removed(peer)


class _Sender(DatagramProtocol):
    """
    The sending side of loopback discovery; ignores what it receives.
    """


def _adopt(reactor, protocol, host, port, reuse, broadcast):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if broadcast:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.bind((host, port))
        sock.setblocking(False)
        return reactor.adoptDatagramPort(sock.fileno(), socket.AF_INET,
                                         protocol)
    except OSError as e:
        raise CannotListenError(host, port, e)
    finally:
        sock.close()  # the reactor holds its own duplicate


def listenDiscovery(reactor, protocol):
    """
    Open the sockets of C{protocol} according to its options.

    @return: the list of listening ports (stop them all to stop discovery).
    """
    options = protocol.options
    if options.multicast is not None:
        port = reactor.listenMulticast(options.port, protocol,
                                       interface=options.bindAddress(),
                                       listenMultiple=True)
        port.setTTL(options.multicastTTL)
        port.joinGroup(options.multicast)
        return [port]
    if options.loopbackOnly:
        sender = _Sender()
        sendPort = _adopt(reactor, sender, "127.0.0.1", 0, reuse=False,
                          broadcast=True)
        protocol.sendTransport = sendPort
        listenPort = _adopt(reactor, protocol, options.bindAddress(),
                            options.port, reuse=True, broadcast=True)
        return [listenPort, sendPort]
    port = _adopt(reactor, protocol, options.bindAddress(), options.port,
                  reuse=True, broadcast=options.broadcast is not None)
    return [port]
