# -*- test-case-name: tests.mesh.test_discovery -*-
"""
Discovery: cote's JSON hellos over UDP (@dashersw/node-discover 1.0.6).

Every component sends a hello at start-up and every C{helloInterval}; peers
are keyed by their C{iid} and dropped after C{nodeTimeout} of silence. A
newcomer's first hello is answered at once (rate-limited), and malformed
hellos are ignored and counted.

B{Defaults stay on this host} (ours): with no option, hellos go to the
loopback broadcast address C{127.255.255.255} from C{127.0.0.1}, and the
listening socket is bound to C{127.255.255.255} itself, so it hears only
loopback broadcasts. Reaching a LAN is one explicit option: C{broadcast}
(e.g. C{"255.255.255.255"}), C{multicast} (a group) or C{unicast} (a list of
addresses); then the socket binds C{address} (default C{0.0.0.0}) as cote
does.

B{Signed hellos} (ours): with a C{signingKey}, every hello carries an
HMAC-SHA256 signature over its canonical JSON and the time, and hellos
that are unsigned, forged or signed more than C{signatureWindow} seconds
away from now are ignored and counted. cote peers ignore the extra field,
so they still find signed components; a component with a key does not
find them back.
"""

import hashlib
import hmac
import json
import socket
import sys
import time
import uuid

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from cocaine.errors import CocaineError

__all__ = [
    "DEFAULT_PORT",
    "LOOPBACK_BROADCAST",
    "MalformedHello",
    "BadSignature",
    "Peer",
    "DiscoveryOptions",
    "DiscoveryProtocol",
    "evpBytesToKey",
    "encryptHello",
    "decryptHello",
    "buildHello",
    "parseHello",
    "signHello",
    "checkSignature",
    "addDiscoveryArguments",
    "discoveryOptionsFrom",
    "listenDiscovery",
]

log = Logger()

DEFAULT_PORT = 12345
LOOPBACK_BROADCAST = "127.255.255.255"
#: One process identity, shared by all components of this process.
PROCESS_UUID = str(uuid.uuid4())


class MalformedHello(CocaineError):
    """
    A datagram that is not a usable hello (bad JSON, bad secret, missing
    fields).
    """


class BadSignature(MalformedHello):
    """
    A hello refused by a mesh with a signing key: unsigned, forged, or
    signed too long ago.
    """


def evpBytesToKey(secret, keyLength=32, ivLength=16):
    """
    OpenSSL's C{EVP_BytesToKey} with MD5, one round and no salt, as Node's
    C{crypto.createCipher} uses it.

    @return: C{(key, iv)}
    """
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    material = b""
    block = b""
    while len(material) < keyLength + ivLength:
        block = hashlib.md5(block + secret).digest()
        material += block
    return material[:keyLength], material[keyLength : keyLength + ivLength]


def encryptHello(plaintext, secret):
    """
    Encrypt a hello as node-discover does: AES-256-CBC, PKCS#7, the
    ciphertext bytes sent as Latin-1 characters encoded in UTF-8.

    @type plaintext: L{bytes}
    @rtype: L{bytes}
    """
    key, iv = evpBytesToKey(secret)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    return ciphertext.decode("latin-1").encode("utf-8")


def decryptHello(datagram, secret):
    """
    The inverse of L{encryptHello}.

    @raise MalformedHello: when the datagram does not decrypt.
    """
    try:
        ciphertext = datagram.decode("utf-8").encode("latin-1")
        key, iv = evpBytesToKey(secret)
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as e:  # UnicodeError is a ValueError too
        raise MalformedHello("hello does not decrypt: %s" % (e,))


def _weight():
    # node-discover: -(Date.now() / 10 ** digits) -- a small negative float.
    now = int(time.time() * 1000)
    return -(now / 10 ** len(str(now)))


def buildHello(iid, advertisement, pid=PROCESS_UUID, hostName=None, weight=None,
               processCommand=None):
    """
    The hello object exactly as cote sends it.
    """
    if hostName is None:
        hostName = socket.gethostname()
    return {
        "event": "hello",
        "pid": pid,
        "iid": iid,
        "hostName": hostName,
        "data": {
            "isMaster": False,
            "isMasterEligible": True,
            "weight": _weight() if weight is None else weight,
            "address": "127.0.0.1",
            "advertisement": advertisement,
            "id": iid,
            "processId": pid,
            "processCommand": list(sys.argv) if processCommand is None else processCommand,
        },
    }


#: what a signature covers besides the hello: a version tag and the time
SIGNATURE_CONTEXT = b"cocaine-mesh-hello-v1"
SIGNATURE_ALGORITHM = "HMAC-SHA256"


def _mac(hello, signedAt, signingKey):
    if isinstance(signingKey, str):
        signingKey = signingKey.encode("utf-8")
    unsigned = {k: v for k, v in hello.items() if k != "signature"}
    canonical = json.dumps(unsigned, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=True).encode("ascii")
    message = b"\n".join([SIGNATURE_CONTEXT, str(signedAt).encode("ascii"),
                          canonical])
    return hmac.new(signingKey, message, hashlib.sha256).hexdigest()


def signHello(hello, signingKey, now):
    """
    Add our signature to a hello: C{"signature": {"alg", "time", "mac"}},
    an HMAC-SHA256 with the mesh's signing key over the hello's canonical
    JSON (sorted keys, without the signature) and the time in
    milliseconds. cote ignores the extra field.

    @param now: the time, in seconds.
    @return: the same hello, signed.
    """
    signedAt = int(now * 1000)
    hello["signature"] = {"alg": SIGNATURE_ALGORITHM, "time": signedAt,
                          "mac": _mac(hello, signedAt, signingKey)}
    return hello


def checkSignature(hello, signingKey, now, window=30.0):
    """
    Check a hello's signature.

    @param now: the time, in seconds.
    @param window: how far, in seconds, the signing time may be from
        C{now} (a replayed hello is refused once it is this old).
    @raise BadSignature: when it is missing, forged or out of the window.
    """
    signature = hello.get("signature")
    if not isinstance(signature, dict):
        raise BadSignature("hello is not signed")
    signedAt, mac = signature.get("time"), signature.get("mac")
    if (signature.get("alg") != SIGNATURE_ALGORITHM
            or not isinstance(signedAt, int) or isinstance(signedAt, bool)
            or not isinstance(mac, str)):
        raise BadSignature("hello has a malformed signature")
    if not hmac.compare_digest(mac, _mac(hello, signedAt, signingKey)):
        raise BadSignature("hello has a wrong signature")
    if abs(signedAt / 1000.0 - now) > window:
        raise BadSignature("hello was signed {:.0f} s away from now "
                           "(window {:g} s)".format(signedAt / 1000.0 - now,
                                                    window))


def encodeHello(hello, secret=None):
    """
    Serialise (and with a secret, encrypt) one hello into a datagram.
    """
    plaintext = json.dumps(hello, separators=(",", ":")).encode("utf-8")
    if secret:
        return encryptHello(plaintext, secret)
    return plaintext


def parseHello(datagram, secret=None):
    """
    Decode one datagram into a hello object.

    @raise MalformedHello: unless it is a hello with an C{iid} and an
        C{advertisement} carrying C{type}, C{name} and C{axon_type}-free
        string fields where present.
    """
    if secret:
        datagram = decryptHello(datagram, secret)
    try:
        hello = json.loads(datagram.decode("utf-8"))
    except ValueError as e:
        raise MalformedHello("hello is not JSON: %s" % (e,))
    if not isinstance(hello, dict) or hello.get("event") != "hello":
        raise MalformedHello("not a hello")
    data = hello.get("data")
    iid = hello.get("iid")
    if not isinstance(iid, str) or not isinstance(data, dict):
        raise MalformedHello("hello without iid or data")
    advertisement = data.get("advertisement")
    if not isinstance(advertisement, dict):
        raise MalformedHello("hello without advertisement")
    for field in ("type", "name"):
        if not isinstance(advertisement.get(field), str):
            raise MalformedHello("advertisement without %s" % (field,))
    port = advertisement.get("port")
    if port is not None and (not isinstance(port, int) or isinstance(port, bool)
                             or not 0 < port < 65536):
        raise MalformedHello("advertisement with a bad port")
    return hello


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
        return self.advertisement.get("port")

    def __repr__(self):
        return "<Peer %s %s %s:%s>" % (
            self.advertisement.get("name"), self.iid, self.address, self.port)


class DiscoveryOptions:
    """
    Discovery settings; intervals in seconds (cote's are milliseconds).

    Exactly one of C{broadcast}, C{multicast} and C{unicast} reaches beyond
    this host; with none of them discovery stays on loopback.
    """

    def __init__(self, port=DEFAULT_PORT, helloInterval=2.0, checkInterval=4.0,
                 nodeTimeout=5.0, broadcast=None, multicast=None, multicastTTL=1,
                 unicast=None, address=None, secret=None, useHostNames=False,
                 helloReplyInterval=0.2, signingKey=None, signatureWindow=30.0):
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
        return self.broadcast is None and self.multicast is None and self.unicast is None

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
    parser.add_argument(portFlag, dest="discovery_port", type=int,
                        default=DEFAULT_PORT, help="discovery port")
    parser.add_argument("--broadcast", default=None)
    parser.add_argument("--multicast", default=None)
    parser.add_argument("--unicast", default=None)
    parser.add_argument("--secret", default=None,
                        help="the discovery secret")
    parser.add_argument("--hello-interval", type=float, default=2.0)
    parser.add_argument("--node-timeout", type=float, default=5.0)
    parser.add_argument("--signing-key-file", default=None,
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


def discoveryOptionsFrom(args):
    """
    @param args: parsed with L{addDiscoveryArguments}'s flags.
    @return: the L{DiscoveryOptions} they describe.
    @raise ValueError: saying which flag or file is wrong.
    """
    return DiscoveryOptions(
        port=args.discovery_port, helloInterval=args.hello_interval,
        checkInterval=min(4.0, args.node_timeout),
        nodeTimeout=args.node_timeout, broadcast=args.broadcast,
        multicast=args.multicast, unicast=args.unicast, secret=args.secret,
        signingKey=_readKey(args.signing_key_file))


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

    def __init__(self, advertisement, options=None, clock=None, iid=None):
        if clock is None:
            from twisted.internet import reactor as clock
        self.advertisement = advertisement
        self.options = options or DiscoveryOptions()
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
        delay = 0 if self._lastHello is None else max(0.0, self._lastHello + gap - now)

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
        address = hostName if self.options.useHostNames and hostName else addr[0]
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
        return reactor.adoptDatagramPort(sock.fileno(), socket.AF_INET, protocol)
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
        sendPort = _adopt(reactor, sender, "127.0.0.1", 0, reuse=False, broadcast=True)
        protocol.sendTransport = sendPort
        listenPort = _adopt(reactor, protocol, options.bindAddress(), options.port,
                            reuse=True, broadcast=True)
        return [listenPort, sendPort]
    port = _adopt(reactor, protocol, options.bindAddress(), options.port,
                  reuse=True, broadcast=options.broadcast is not None)
    return [port]
