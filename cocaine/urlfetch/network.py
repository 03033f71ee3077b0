# -*- test-case-name: tests.urlfetch.test_network -*-
"""
Where the C{urlfetch} service may connect: a deny list of networks held
against the address a host name resolves to, and the endpoints an
L{twisted.web.client.Agent} uses so that every connection (the first one
and every redirect's) goes to an address that was checked, and to no
other (a name that resolves differently a moment later changes nothing).
"""

import ipaddress

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import (
    TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS)
from twisted.internet.error import ConnectError, DNSLookupError
from twisted.internet.interfaces import (
    IResolutionReceiver, IStreamClientEndpoint)
from twisted.internet.ssl import optionsForClientTLS
from twisted.web.error import SchemeNotSupported
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer

#: Denied by default: the link-local ranges, where clouds serve instance
#: metadata (169.254.169.254) to anything on the machine that asks.
DEFAULT_DENY = ("169.254.0.0/16", "fe80::/10")


class AddressDenied(ConnectError):
    """
    Every address of a host is in a denied network.
    """


class DenyList:
    """
    Networks the service must not connect to.

    @ivar networks: the L{ipaddress} networks.
    """

    def __init__(self, networks=DEFAULT_DENY):
        """
        @param networks: texts such as C{"10.0.0.0/8"} or C{"::1/128"}.
        @raise ValueError: one of them is not a network.
        """
        self.networks = [ipaddress.ip_network(n, strict=False)
                         for n in networks]

    def denying(self, address):
        """
        @param address: an IP address as text.
        @return: the network that denies it, or L{None}.
        """
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        mapped = getattr(ip, "ipv4_mapped", None)
        for network in self.networks:
            if ip in network or (mapped is not None and mapped in network):
                return network
        return None


def _literal(host):
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


@implementer(IResolutionReceiver)
class _Addresses:

    def __init__(self, done):
        self._done = done
        self.addresses = []

    def resolutionBegan(self, resolution):
        pass

    def addressResolved(self, address):
        self.addresses.append(address.host)

    def resolutionComplete(self):
        done, self._done = self._done, None
        if done is not None:
            done.callback(self.addresses)


def resolve(reactor, host, port):
    """
    @return: a Deferred of the addresses of C{host} (text), at least one.
    @raise DNSLookupError: (in the Deferred) the name has none.
    """
    literal = _literal(host)
    if literal is not None:
        d = Deferred()
        d.callback([literal])
        return d
    done = Deferred()
    reactor.nameResolver.resolveHostName(_Addresses(done), host, port)

    def checked(addresses):
        if not addresses:
            raise DNSLookupError("could not resolve host {}".format(host))
        return addresses
    return done.addCallback(checked)


@implementer(IStreamClientEndpoint)
class GuardedEndpoint:
    """
    Connects to C{host:port} over TCP (and TLS) at an address the deny
    list allows, trying the allowed addresses in the order resolved.
    """

    def __init__(self, reactor, host, port, deny, tls=None,
                 connectTimeout=30):
        """
        @param tls: L{None} for plain TCP, else the client TLS options.
        """
        self._reactor = reactor
        self._host = host
        self._port = port
        self._deny = deny
        self._tls = tls
        self._connectTimeout = connectTimeout

    def connect(self, factory):
        return Deferred.fromCoroutine(self._connect(factory))

    async def _connect(self, factory):
        addresses = await resolve(self._reactor, self._host, self._port)
        allowed = []
        for address in addresses:
            network = self._deny.denying(address)
            if network is None:
                allowed.append(address)
            else:
                denied = (address, network)
        if not allowed:
            raise AddressDenied(string="address {} of {} is in the denied "
                                "network {}".format(denied[0], self._host,
                                                    denied[1]))
        failure = None
        for address in allowed:
            kind = TCP6ClientEndpoint if ":" in address else (
                TCP4ClientEndpoint)
            endpoint = kind(self._reactor, address, self._port,
                            timeout=self._connectTimeout)
            if self._tls is not None:
                endpoint = wrapClientTLS(self._tls, endpoint)
            try:
                return await endpoint.connect(factory)
            except ConnectError as e:
                failure = e
        raise failure


@implementer(IAgentEndpointFactory)
class GuardedEndpoints:
    """
    The Agent's endpoint factory: http and https only, every connection
    through a L{GuardedEndpoint}.
    """

    def __init__(self, reactor, deny, trustRoot=None, connectTimeout=30):
        """
        @param trustRoot: the certificate authorities https servers are
            checked against (the platform's by default).
        """
        self._reactor = reactor
        self._deny = deny
        self._trustRoot = trustRoot
        self._connectTimeout = connectTimeout

    def endpointForURI(self, uri):
        host = uri.host.decode("idna") if isinstance(uri.host, bytes) else (
            uri.host)
        host = host.strip("[]")
        if uri.scheme == b"http":
            tls = None
        elif uri.scheme == b"https":
            if self._trustRoot is None:
                tls = optionsForClientTLS(host)
            else:
                tls = optionsForClientTLS(host, trustRoot=self._trustRoot)
        else:
            raise SchemeNotSupported("unsupported scheme: {}".format(
                uri.scheme.decode("ascii", "replace")))
        return GuardedEndpoint(self._reactor, host, uri.port, self._deny,
                               tls, self._connectTimeout)
