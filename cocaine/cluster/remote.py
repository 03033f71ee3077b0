# -*- test-case-name: tests.cluster.test_remote -*-
"""
What the linked remote nodes publish: one table per node, filled from each
node's locator C{connect} stream and dropped with the node. Pure.

Peers' load reports are clamped (L{cocaine.cluster.load.clampReport}).
"""

from cocaine.cluster.load import MAX_REPORT_APPS, clampReport


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(
        value, bytes) else value


def _entry(raw):
    """
    A C{[endpoints, version, graph]} from the wire as C{(endpoints,
    version, graph)}, or L{None} for a removal (an empty endpoint list).

    @raise ValueError: not an entry.
    """
    if not isinstance(raw, (list, tuple)) or len(raw) != 3:
        raise ValueError("not [endpoints, version, graph]: {!r}".format(raw))
    endpoints, version, graph = raw
    if not isinstance(endpoints, (list, tuple)):
        raise ValueError("endpoints must be an array: {!r}".format(raw))
    checked = []
    for endpoint in endpoints:
        if (not isinstance(endpoint, (list, tuple)) or len(endpoint) != 2
                or type(endpoint[1]) is not int):
            raise ValueError("bad endpoint {!r}".format(endpoint))
        checked.append([_text(endpoint[0]), endpoint[1]])
    if not checked:
        return None
    return (checked, version, graph)


class RemoteTable:
    """
    C{{node uuid: {name: (endpoints, version, graph)}}} plus each linked
    node's locator endpoint.
    """

    def __init__(self, maxReportApps=MAX_REPORT_APPS):
        """
        @param maxReportApps: apps of one peer's load report kept at most.
        """
        self.maxReportApps = maxReportApps
        self._services = {}
        self._nodes = {}
        self._loads = {}

    def link(self, uuid, endpoint, snapshot):
        """
        Node C{uuid} is linked: its locator at C{endpoint}, its services
        the C{snapshot} (C{{name: [endpoints, version, graph]}}), replacing
        whatever was known of it.

        @raise ValueError: a malformed entry (nothing is changed).
        """
        services = {}
        for name, raw in dict(snapshot).items():
            entry = _entry(raw)
            if entry is not None:
                services[_text(name)] = entry
        self._services[uuid] = services
        self._loads.pop(uuid, None)
        self._nodes[uuid] = [_text(endpoint[0]), endpoint[1]]

    def update(self, uuid, changes):
        """
        Apply one chunk of the connect stream after the snapshot: each
        name's new entry, or its removal (empty endpoint list).

        @raise ValueError: a malformed entry (nothing is changed).
        @raise KeyError: C{uuid} is not linked.
        """
        services = self._services[uuid]
        parsed = [(_text(name), _entry(raw))
                  for name, raw in dict(changes).items()]
        for name, entry in parsed:
            if entry is None:
                services.pop(name, None)
            else:
                services[name] = entry

    def drop(self, uuid):
        """
        Forget node C{uuid} and everything it published.
        """
        self._services.pop(uuid, None)
        self._nodes.pop(uuid, None)
        self._loads.pop(uuid, None)

    def setLoad(self, uuid, report):
        """
        Node C{uuid}'s latest load report (L{cocaine.cluster.load}),
        clamped (L{clampReport}); ignored unless the node is linked.

        @raise ValueError: C{report} is not a map.
        """
        report = clampReport(report, self.maxReportApps)
        if uuid in self._nodes:
            self._loads[uuid] = report

    def load(self, uuid):
        """
        @return: node C{uuid}'s latest load report, or L{None}.
        """
        return self._loads.get(uuid)

    def loads(self):
        """
        @return: C{{uuid: report}} of the linked nodes that sent one.
        """
        return dict(self._loads)

    def nodes(self):
        """
        @return: C{{uuid: [address, port]}} of the linked nodes.
        """
        return {uuid: list(endpoint) for uuid, endpoint in
                self._nodes.items()}

    def providers(self, name):
        """
        @return: C{{uuid: entry}} of the nodes publishing C{name}.
        """
        return {uuid: services[name] for uuid, services in
                self._services.items() if name in services}

    def services(self, uuid):
        """
        @return: a copy of node C{uuid}'s C{{name: entry}}.
        """
        return dict(self._services.get(uuid, {}))
