"""
Routed subnets made of network namespaces, for tests that need nodes on
different IP subnets with no multicast between them.

A router namespace forwards IPv4 between subnets C{PREFIX.N.0/24}; each
subnet is a bridge inside the router (the router's address on it is
C{PREFIX.N.1}), and each host is a namespace of its own joined to that
bridge by a veth pair (C{eth0} in the host, C{PREFIX.N.H/24}, default
route through the router). Every interface is made inside a namespace of
ours (both veth ends in the router, one moved at once): nothing is ever
created in the host's namespace, the router has no other link, so no
packet can reach the host's real network. The router runs no multicast
routing (C{mc_forwarding} stays 0, no C{mroute}), so multicast stays
inside the subnet it was sent on; L{Subnets.multicastReaches} proves it
with real datagrams.

L{Subnets.delete} removes every namespace made (and with them every veth
and bridge); tests register it as a cleanup before making anything.
"""

import os
import select
import shutil
import socket
import struct
import subprocess
import time

from twisted.trial.unittest import SkipTest

from tests.integration.netns import netnsCall

#: The private range the subnets are carved from (RFC 1918).
PREFIX = "10.201"


def ip(*args, check=True):
    """
    Run C{ip ARGS}.

    @return: its L{subprocess.CompletedProcess}.
    """
    return subprocess.run(["ip"] + list(args), capture_output=True,
                          text=True, check=check)


class Subnets:
    """
    A router namespace and the subnets and hosts behind it.

    @ivar router: the router namespace's name.
    @ivar names: every namespace made, to delete.
    @ivar hosts: C{{namespace: address}} of the hosts made.
    """

    def __init__(self, tag):
        self.tag = tag
        self.router = self.namespace("r")
        self.names = []
        self.hosts = {}
        self.subnets = set()

    def namespace(self, label):
        return "cocaine-sn-{}-{}".format(self.tag, label)

    def _add(self, name):
        result = ip("netns", "add", name, check=False)
        if result.returncode != 0:
            raise SkipTest("routed subnets need `ip netns add` (root or "
                           "CAP_SYS_ADMIN): " + (result.stderr.strip() or
                                                 "not permitted"))
        self.names.append(name)
        ip("-n", name, "link", "set", "lo", "up")

    def _sysctl(self, namespace, key, value):
        path = os.path.join("/proc/sys", *key.split("."))
        subprocess.run(["ip", "netns", "exec", namespace, "sh", "-c",
                        'echo {} > "$0"'.format(value), path], check=True,
                       capture_output=True)

    def _read(self, namespace, key):
        path = os.path.join("/proc/sys", *key.split("."))
        return subprocess.run(["ip", "netns", "exec", namespace, "cat",
                               path], check=True, capture_output=True,
                              text=True).stdout.strip()

    def create(self):
        """
        Make the router namespace with IPv4 forwarding on.

        @raise SkipTest: namespaces cannot be made here, saying why.
        """
        if shutil.which("ip") is None:
            raise SkipTest("routed subnets: no `ip` command")
        self._add(self.router)
        self._sysctl(self.router, "net.ipv4.ip_forward", 1)

    def gateway(self, subnet):
        return "{}.{}.1".format(PREFIX, subnet)

    def addSubnet(self, subnet):
        """
        Subnet C{PREFIX.subnet.0/24}: a bridge in the router holding the
        router's address there.
        """
        bridge = "br{}".format(subnet)
        ip("-n", self.router, "link", "add", bridge, "type", "bridge")
        # flood multicast to every port: the same-subnet control of
        # multicastReaches must not depend on IGMP snooping
        ip("-n", self.router, "link", "set", bridge, "type", "bridge",
           "mcast_snooping", "0")
        ip("-n", self.router, "addr", "add",
           self.gateway(subnet) + "/24", "dev", bridge)
        ip("-n", self.router, "link", "set", bridge, "up")
        self.subnets.add(subnet)

    def addHost(self, subnet, host, label):
        """
        Namespace C{label} at C{PREFIX.subnet.host} on subnet C{subnet}
        (made by L{addSubnet} first).

        @return: the namespace's name and its address.
        """
        name = self.namespace(label)
        address = "{}.{}.{}".format(PREFIX, subnet, host)
        self._add(name)
        outer = "v{}h{}".format(subnet, host)
        ip("-n", self.router, "link", "add", outer, "type", "veth",
           "peer", "name", "eth0", "netns", name)
        ip("-n", self.router, "link", "set", outer, "master",
           "br{}".format(subnet))
        ip("-n", self.router, "link", "set", outer, "up")
        ip("-n", name, "addr", "add", address + "/24", "dev", "eth0")
        ip("-n", name, "link", "set", "eth0", "up")
        ip("-n", name, "route", "add", "default", "via",
           self.gateway(subnet))
        self.hosts[name] = address
        return name, address

    def multicastRouting(self):
        """
        What the router would need to forward multicast.

        @return: C{(mc_forwarding, multicast routes)}: C{"0"} and C{""}
            when it forwards none.
        """
        forwarding = self._read(self.router,
                                "net.ipv4.conf.all.mc_forwarding")
        routes = ip("-n", self.router, "mroute", "show").stdout.strip()
        return forwarding, routes

    def multicastReaches(self, sender, receivers, group="239.201.0.1",
                         port=30201, wait=1.0):
        """
        Send datagrams to C{group:port} from host C{sender} with a TTL of
        16 (enough to cross any router that would forward them) while
        C{receivers} listen, each joined to the group on its own address.

        @return: C{{receiver: whether anything arrived}} within C{wait}
            seconds of the last datagram.
        """
        def listen(namespace):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((group, port))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                         struct.pack("4s4s", socket.inet_aton(group),
                                     socket.inet_aton(self.hosts[namespace])))
            return s

        def send():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 16)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                         socket.inet_aton(self.hosts[sender]))
            for _ in range(5):
                s.sendto(b"multicast probe", (group, port))
                time.sleep(0.05)
            s.close()

        sockets = {name: netnsCall(name, listen, name) for name in receivers}
        try:
            netnsCall(sender, send)
            heard = {}
            deadline = time.monotonic() + wait
            while len(heard) < len(sockets):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                ready, _, _ = select.select(
                    [s for n, s in sockets.items() if n not in heard], [],
                    [], left)
                for name, s in sockets.items():
                    if s in ready:
                        s.recv(64)
                        heard[name] = True
            return {name: heard.get(name, False) for name in receivers}
        finally:
            for s in sockets.values():
                s.close()

    def delete(self):
        """
        Delete every namespace made (idempotent): their veth ends go with
        them, and the bridges with the router.
        """
        while self.names:
            ip("netns", "delete", self.names.pop(), check=False)
