# -*- test-case-name: tests.mesh.test_monitor -*-
"""
The L{Monitor}: the "top" of the mesh, wire-compatible with cote's Monitor.

It advertises C{"type": "monitor"}, sees every component it discovers
regardless of key, namespace or axon type, and listens on TCP for the
C{status} messages (C{[s:status, j:{"id": <iid>, "nodes": [<iids>]}]})
that requesters and subscribers (cote's and ours) send every 5000 ms to
each monitor whose key prefixes their own. L{Monitor.snapshot} is the
table of components with the connections they reported.

C{python -m cocaine.mesh.monitor} shows that table: a refreshing terminal
view (rich) on a TTY, plain lines otherwise, or one JSON object per refresh
with C{--json}.
"""

import argparse
import json
import sys
import time

from cocaine.mesh.server import Server
from cocaine.mesh.discovery import addDiscoveryArguments

__all__ = ["Monitor", "main"]


class Monitor(Server):
    """
    Discovers every component and collects the status messages of those
    connected to it.

    @ivar statuses: L{dict} of a reporter's iid to
        C{{"nodes": [...], "at": <clock seconds>}}, its latest status.
    @ivar statusCount: how many status messages were received.
    @ivar malformedStatus: how many messages were ignored as malformed.
    """

    axonType = None

    def __init__(self, name="monitor", **kwargs):
        advertisement = dict(kwargs.pop("advertisement", None) or {})
        Server.__init__(self, name, advertisement=advertisement, **kwargs)
        self.advertisement["type"] = "monitor"
        self.advertisement.pop("axon_type", None)  # cote's Monitor has none
        self.statuses = {}
        self.statusCount = 0
        self.malformedStatus = 0
        self._reporters = {}  # connection -> set of iids reported on it
        self._observers = []

    def matches(self, peer):
        """
        Every component: a monitor sees them all.
        """
        return True

    def observe(self, callback):
        """
        Call C{callback(iid, status)} for every status message received.
        """
        self._observers.append(callback)

    def messageReceived(self, connection, args, parts):
        """
        A status message: C{[status, {"id", "nodes"}]}.
        """
        if len(args) < 2 or args[0] != "status":
            self.malformedStatus += 1
            return
        status = args[1]
        if (not isinstance(status, dict)
                or not isinstance(status.get("id"), str)
                or not isinstance(status.get("nodes", []), list)):
            self.malformedStatus += 1
            return
        iid = status["id"]
        nodes = [n for n in status.get("nodes", []) if isinstance(n, str)]
        self.statusCount += 1
        self.statuses[iid] = {"nodes": nodes, "at": self.clock.seconds()}
        self._reporters.setdefault(connection, set()).add(iid)
        for callback in list(self._observers):
            callback(iid, self.statuses[iid])

    def connectionGone(self, connection):
        """
        Forget the statuses reported on a connection that is gone.
        """
        for iid in self._reporters.pop(connection, ()):
            self.statuses.pop(iid, None)

    def peerRemoved(self, peer):
        """
        Forget the status of a component that is gone.
        """
        self.statuses.pop(peer.iid, None)

    def components(self):
        """
        The discovered peers, L{dict} of iid to L{cocaine.mesh.discovery.Peer}.
        """
        return dict(self.discovery.peers) if self.discovery is not None else {}

    def snapshot(self):
        """
        The table of components: a L{list} of L{dict}s, sorted by name then
        iid, each with C{iid}, C{name}, C{type}, C{axon_type}, C{key},
        C{namespace}, C{address}, C{port}, the advertised C{respondsTo},
        C{requests}, C{broadcasts}, C{subscribesTo} (when present),
        C{connections} (iids it reported in its last status, or L{None}
        if it never reported) and C{connectedTo} (their names).
        """
        peers = self.components()
        rows = []
        for iid, peer in peers.items():
            ad = peer.advertisement
            status = self.statuses.get(iid)
            nodes = status["nodes"] if status is not None else None
            row = {
                "iid": iid,
                "name": ad.get("name"),
                "type": ad.get("type"),
                "axon_type": ad.get("axon_type"),
                "key": ad.get("key"),
                "namespace": ad.get("namespace"),
                "address": peer.address,
                "port": peer.port,
                "connections": nodes,
                "connectedTo": None if nodes is None else [
                    peers[n].advertisement.get("name") if n in peers else n
                    for n in nodes],
            }
            for field in ("respondsTo", "requests", "broadcasts",
                          "subscribesTo"):
                if field in ad:
                    row[field] = ad[field]
            rows.append(row)
        rows.sort(key=lambda r: (str(r["name"]), r["iid"]))
        return rows


# ---------------------------------------------------------------- the view


def _describe(row):
    what = (row.get("respondsTo") or row.get("requests")
            or row.get("broadcasts") or row.get("subscribesTo") or [])
    return ",".join(str(w) for w in what)


#: The columns of L{plainLines}: name, iid, type, address, port, key,
#: what it serves or wants, its connections.
_PLAIN_LINE = "{:<20} {:<36} {:<11} {:<15} {:<5} {:<8} {:<10} {}"


def plainLines(rows, now=None):
    """
    The table as plain text lines (one header, one line per component).
    """
    stamp = time.strftime("%H:%M:%S", time.localtime(now))
    lines = ["-- {} {} components".format(stamp, len(rows))]
    for row in rows:
        connected = row["connectedTo"]
        cells = [
            str(row["name"])[:20], row["iid"],
            row["axon_type"] or row["type"] or "-", row["address"],
            row["port"] if row["port"] is not None else "-", row["key"],
            _describe(row) or "-",
            "-" if connected is None
            else "->" + ",".join(str(c) for c in connected)]
        lines.append(_PLAIN_LINE.format(*[str(c) for c in cells]))
    return lines


def richTable(rows):
    """
    The table as a C{rich} table, for the terminal view.
    """
    from rich.table import Table

    table = Table(title="cocaine mesh monitor: {} components".format(
        len(rows)))
    for column in ("name", "id", "type", "address", "port", "key",
                   "namespace", "serves / wants", "connected to"):
        table.add_column(column)
    for row in rows:
        connected = row["connectedTo"]
        table.add_row(
            str(row["name"]), row["iid"],
            str(row["axon_type"] or row["type"] or "-"),
            str(row["address"]),
            str(row["port"] if row["port"] is not None else "-"),
            str(row["key"]), str(row["namespace"] or ""), _describe(row),
            "" if connected is None
            else ", ".join(str(c) for c in connected))
    return table


def parseArguments(argv):
    """
    @return: the parsed command line (an L{argparse.Namespace}).
    """
    parser = argparse.ArgumentParser(
        prog="python -m cocaine.mesh.monitor",
        description="Show every mesh component (cote's and ours) and its "
        "connections.")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per refresh")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds between refreshes (default 1)")
    parser.add_argument(
        "--count", type=int, default=0,
        help="exit after this many refreshes (default: never)")
    parser.add_argument(
        "--key", default=None,
        help="the monitor's key: clients whose key starts with it report "
        "to it")
    parser.add_argument("--environment", default=None)
    addDiscoveryArguments(parser, "--port")
    return parser.parse_args(argv)


def main(argv=None, out=None):
    """
    The command line: C{python -m cocaine.mesh.monitor --help}.
    """
    from twisted.internet import defer, task

    from cocaine.mesh.discovery import discoveryOptionsFrom

    args = parseArguments(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    try:
        options = discoveryOptionsFrom(args)
    except ValueError as e:
        sys.exit("{}: {}".format("cocaine.mesh.monitor", e))

    async def run(reactor):
        monitor = Monitor("monitor", key=args.key,
                          environment=args.environment, discovery=options,
                          reactor=reactor)
        monitor.startService()
        live = None
        if not args.json and out.isatty():
            from rich.console import Console
            from rich.live import Live
            live = Live(richTable([]), console=Console(file=out),
                        auto_refresh=False)
            live.start()
        n = 0
        try:
            while True:
                await task.deferLater(reactor, args.interval)
                rows = monitor.snapshot()
                now = time.time()
                if args.json:
                    out.write(json.dumps(
                        {"time": now, "components": rows,
                         "statusMessages": monitor.statusCount}) + "\n")
                elif live is not None:
                    live.update(richTable(rows), refresh=True)
                else:
                    out.write("\n".join(plainLines(rows, now)) + "\n")
                out.flush()
                n += 1
                if args.count and n >= args.count:
                    return
        finally:
            if live is not None:
                live.stop()
            await monitor.stopService()

    task.react(lambda reactor: defer.Deferred.fromCoroutine(run(reactor)))


if __name__ == "__main__":
    main()
