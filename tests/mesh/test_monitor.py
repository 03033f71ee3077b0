# -*- test-case-name: tests.mesh.test_monitor -*-
"""
Tests for L{cocaine.mesh.monitor}: the Monitor on fakes, status messages
from our Requester and Subscriber, the views, and a loopback run with
real sockets.
"""

import io
import json
import os
import subprocess
import sys

from twisted.internet import task
from twisted.internet.testing import MemoryReactorClock
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase, TestCase

from cocaine.mesh import (
    DiscoveryOptions, Monitor, Requester, Responder, Subscriber)
from cocaine.mesh.amp import pack
from cocaine.mesh.monitor import plainLines, richTable
from tests.mesh.test_components import announce, decode, make, repAd
from tests.ports import freeUDPPort

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pumpBetween(reactor, server=-1, client=-1):
    sp = reactor.tcpServers[server][1].buildProtocol(None)
    cp = reactor.tcpClients[client][2].buildProtocol(None)
    pump = iosim.connect(sp, iosim.FakeTransport(sp, True), cp,
                         iosim.FakeTransport(cp, False))
    return sp, cp, pump


class MonitorTests(SynchronousTestCase):
    def setUp(self):
        self.reactor = MemoryReactorClock()
        self.monitor = make(Monitor, "mon", reactor=self.reactor, port=4200)
        self.monitor.startService()
        self.addCleanup(self.monitor.stopService)

    def test_advertisement(self):
        """
        As cote's: type C{monitor}, no axon type, the listening port.
        """
        ad = self.monitor.advertisement
        self.assertEqual(ad["type"], "monitor")
        self.assertNotIn("axon_type", ad)
        self.assertEqual((ad["name"], ad["key"], ad["port"]),
                         ("mon", "$$", 4200))

    def test_seesEveryKey(self):
        """
        Components of any key, namespace and axon type are in the table.
        """
        announce(self.monitor, "a",
                 repAd(name="adder", key="prod:$$x", respondsTo=["add"]))
        announce(self.monitor, "b", {"type": "service", "name": "js",
                                     "key": "$$", "axon_type": "req",
                                     "namespace": "n"})
        rows = self.monitor.snapshot()
        self.assertEqual([(r["iid"], r["name"], r["axon_type"], r["key"])
                          for r in rows],
                         [("a", "adder", "rep", "prod:$$x"),
                          ("b", "js", "req", "$$")])
        self.assertEqual(rows[0]["respondsTo"], ["add"])
        self.assertIsNone(rows[0]["connections"])

    def test_statusMessages(self):
        """
        C{[s:status, j:{id, nodes}]} messages fill in the connections, named
        when the peers are known; they go when the connection drops.
        """
        announce(self.monitor, "r1", repAd(name="adder"))
        announce(self.monitor, "q1", {"type": "service", "name": "client",
                                      "key": "$$", "axon_type": "req"})
        proto = self.reactor.tcpServers[-1][1].buildProtocol(None)
        from twisted.internet.testing import StringTransport
        proto.makeConnection(StringTransport())
        seen = []
        self.monitor.observe(
            lambda iid, status: seen.append((iid, status["nodes"])))
        proto.dataReceived(pack(["status",
                                 {"id": "q1", "nodes": ["r1", "zz"]}]))
        proto.dataReceived(pack(["status", "nonsense"]))
        proto.dataReceived(pack(["other", {}]))
        self.assertEqual(seen, [("q1", ["r1", "zz"])])
        self.assertEqual((self.monitor.statusCount,
                          self.monitor.malformedStatus), (1, 2))
        byName = {r["name"]: r for r in self.monitor.snapshot()}
        self.assertEqual(byName["client"]["connections"], ["r1", "zz"])
        self.assertEqual(byName["client"]["connectedTo"], ["adder", "zz"])
        proto.connectionLost(None)
        self.assertEqual(self.monitor.statuses, {})

    def test_views(self):
        announce(self.monitor, "r1", repAd(name="adder", respondsTo=["add"]))
        rows = self.monitor.snapshot()
        lines = plainLines(rows)
        self.assertEqual(len(lines), 2)
        self.assertIn("1 components", lines[0])
        self.assertIn("adder", lines[1])
        self.assertIn("add", lines[1])
        from rich.console import Console
        out = io.StringIO()
        Console(file=out, width=200).print(richTable(rows))
        self.assertIn("adder", out.getvalue())
        json.dumps(rows)


class StatusReportTests(SynchronousTestCase):
    """
    Our Requester and Subscriber report to monitors as cote's do.
    """

    def wire(self, cls, monitorKey=None, **kw):
        reactor = MemoryReactorClock()
        client = make(cls, "c", reactor=reactor, **kw)
        monitor = make(Monitor, "mon", reactor=reactor, port=4300,
                       key=monitorKey)
        client.startService()
        monitor.startService()
        self.addCleanup(client.stopService)
        self.addCleanup(monitor.stopService)
        return reactor, client, monitor

    def test_requesterReports(self):
        reactor, req, monitor = self.wire(Requester)
        announce(req, "r1", repAd())
        announce(req, monitor.discovery.iid, monitor.advertisement)
        self.assertEqual([c[:2] for c in reactor.tcpClients],
                         [("127.0.0.1", 4000), ("127.0.0.1", 4300)])
        # the responder's link comes up
        proto = reactor.tcpClients[0][2].buildProtocol(None)
        from twisted.internet.testing import StringTransport
        proto.makeConnection(StringTransport())
        seen = []
        monitor.observe(
            lambda iid, status: seen.append((iid, status["nodes"])))
        sp, cp, pump = pumpBetween(reactor, client=1)
        pump.flush()
        # at once on connecting, then every 5 s
        self.assertEqual(seen, [(req.discovery.iid, ["r1"])])
        reactor.advance(5.0)
        pump.flush()
        self.assertEqual(len(seen), 2)
        self.assertEqual(monitor.statusCount, 2)

    def test_subscriberReportsWireFormat(self):
        """
        The message is exactly C{[s:status, j:{"id", "nodes"}]}.
        """
        reactor, sub, monitor = self.wire(Subscriber, statusInterval=1.0)
        announce(sub, "m1", monitor.advertisement)
        proto = reactor.tcpClients[-1][2].buildProtocol(None)
        from twisted.internet.testing import StringTransport
        transport = StringTransport()
        proto.makeConnection(transport)
        reactor.advance(1.0)
        messages = decode(transport.value())
        self.assertEqual(
            messages, [["status", {"id": sub.discovery.iid, "nodes": []}]] * 2)

    def test_keyPrefix(self):
        """
        Clients report only to monitors whose key prefixes theirs (cote's
        rule): a monitor keyed C{"$$a"} hears C{"$$ab"}, not C{"$$b"}.
        """
        reactor, req, monitor = self.wire(Requester, monitorKey="a", key="b")
        announce(req, "m1", monitor.advertisement)
        self.assertEqual(reactor.tcpClients, [])
        reactor2, req2, monitor2 = self.wire(Requester, monitorKey="a",
                                             key="ab")
        announce(req2, "m1", monitor2.advertisement)
        self.assertEqual(len(reactor2.tcpClients), 1)

    def test_monitorGoneStopsReporting(self):
        reactor, req, monitor = self.wire(Requester)
        announce(req, "m1", monitor.advertisement)
        self.assertEqual(list(req.monitors.links), ["m1"])
        req.discovery._remove(req.discovery.peers["m1"])
        self.assertEqual(req.monitors.links, {})


class MonitorLoopbackTests(TestCase):
    """
    Real sockets on loopback: a Monitor sees our components and the
    connections our Requester reports.
    """

    timeout = 20

    async def test_seesRequesterAndResponder(self):
        options = DiscoveryOptions(port=freeUDPPort(), helloInterval=0.1,
                                   checkInterval=0.5, nodeTimeout=1.0)
        from twisted.internet import reactor
        monitor = Monitor("mon", discovery=options)
        rep = Responder("adder", discovery=options)
        rep.on("add", lambda r: r["a"] + r["b"])
        req = Requester("client", discovery=options, statusInterval=0.2)
        for c in (monitor, rep, req):
            c.startService()
            self.addCleanup(c.stopService)
        self.assertEqual(await req.send({"type": "add", "a": 1, "b": 2}), 3)
        for _ in range(50):
            rows = {r["name"]: r for r in monitor.snapshot()}
            if rows.get("client", {}).get("connectedTo") == ["adder"]:
                break
            await task.deferLater(reactor, 0.1)
        self.assertEqual(rows["client"]["connectedTo"], ["adder"])
        self.assertEqual(rows["adder"]["respondsTo"], ["add"])
        self.assertEqual(rows["client"]["axon_type"], "req")


class CommandLineTests(SynchronousTestCase):
    def test_jsonStream(self):
        """
        C{python -m cocaine.mesh.monitor --json} prints one JSON object per
        refresh (here alone on a free port: no components).
        """
        result = subprocess.run(
            [sys.executable, "-m", "cocaine.mesh.monitor", "--json",
             "--interval", "0.2",
             "--count", "2", "--port", str(freeUDPPort())],
            cwd=ROOT, capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)
        objects = [json.loads(l) for l in result.stdout.splitlines()]
        self.assertEqual(len(objects), 2)
        self.assertEqual(objects[0]["components"], [])

    def test_plainWhenNotATTY(self):
        result = subprocess.run(
            [sys.executable, "-m", "cocaine.mesh.monitor", "--interval", "0.2",
             "--count", "1", "--port", str(freeUDPPort())],
            cwd=ROOT, capture_output=True, text=True, timeout=30)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("0 components", result.stdout)
