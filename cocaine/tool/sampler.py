# -*- test-case-name: tests.tool.test_top -*-
"""
What C{cocaine-tool top} sees each refresh: L{Sampler} asks the node for
its uuid (C{locator.uuid}), its apps (C{node.list}) and each app's info
map (C{node.info}, PROTOCOL.md section 5), and turns the request counters
into rates: the change of C{requests.accepted} (and C{rejected}) between
two refreshes over the real time between the two info calls. The first
refresh, and the first after the node's uuid changed (it restarted), has
no rate yet.
"""

import datetime
import time

from cocaine.errors import (
    AppNotRunning, CallTimeout, CocaineError, NotConnected)
from cocaine.tool.context import unreachableReason


class Snapshot:
    """
    What one refresh saw.

    @ivar time: the local wall-clock time of the refresh (a datetime).
    @ivar node: C{"host:port"} of the locator asked.
    @ivar uuid: the node's uuid, or L{None} when it could not be asked.
    @ivar reachable: whether the node answered.
    @ivar error: L{None}, or a one-line description of what failed.
    @ivar apps: C{[(name, info)]} in the node's order, where C{info} is the
        node's info map plus C{"per-second": {"accepted", "rejected"}}
        (floats, or L{None} without a previous refresh), or C{{"state": "not
        running"}} for a C{--app} the node does not run.
    @ivar total: how many apps the node runs.
    """

    def __init__(self, time, node):
        self.time = time
        self.node = node
        self.uuid = None
        self.reachable = False
        self.error = None
        self.apps = []
        self.total = 0


def _unreachableErrors():
    from twisted.internet.defer import TimeoutError as DeferredTimeout
    from twisted.internet.error import ConnectError
    return (NotConnected, CallTimeout, ConnectError, DeferredTimeout,
            OSError)


#: What a call raises when the node cannot be reached or does not answer.
_UNREACHABLE = _unreachableErrors()


class Sampler:
    """
    Takes L{Snapshot}s of a node through the tool context's blocking
    services, remembering the previous counters to compute rates.
    """

    def __init__(self, ctx, app=None, callTimeout=None, clock=time.monotonic,
                 now=datetime.datetime.now):
        self.ctx = ctx
        self.app = app
        self.node = "{}:{}".format(ctx.host, ctx.port)
        self.callTimeout = callTimeout
        self.reached = False
        self._clock = clock
        self._now = now
        self._services = {}
        self._uuid = None
        self._previous = {}

    def _service(self, name):
        service = self._services.get(name)
        if service is None:
            service = self._services[name] = self.ctx.service(name)
        return service

    def _call(self, service, method, *args):
        method = getattr(self._service(service), method)
        if self.callTimeout is None:
            return method(*args)
        return method(*args, timeout=self.callTimeout)

    def sample(self):
        """
        One refresh.

        @return: a L{Snapshot}; failures are in it, never raised (except
            programming errors).
        """
        snapshot = Snapshot(self._now().replace(microsecond=0), self.node)
        try:
            uuid = self._call("locator", "uuid")
            if isinstance(uuid, bytes):
                uuid = uuid.decode("utf-8", "replace")
            snapshot.uuid = uuid
            snapshot.reachable = True
            self.reached = True
            if uuid != self._uuid:
                # Another node (or the same one restarted): its counters
                # started again, so the previous ones mean nothing.
                self._uuid = uuid
                self._previous.clear()
            names = [textOf(name) for name in self._call("node", "list")]
            snapshot.total = len(names)
            wanted = [self.app] if self.app is not None else names
            for name in wanted:
                if name not in names:
                    snapshot.apps.append((name, {"state": "not running"}))
                    self._previous.pop(name, None)
                    continue
                try:
                    info = self._call("node", "info", name)
                except AppNotRunning:
                    # stopped between list and info
                    if self.app is not None:
                        snapshot.apps.append(
                            (name, {"state": "not running"}))
                    self._previous.pop(name, None)
                    continue
                snapshot.apps.append((name, self._withRates(name, info)))
        except _UNREACHABLE as e:
            snapshot.reachable = False
            snapshot.apps = []
            snapshot.error = "node unreachable at {} ({})".format(
                self.node, unreachableReason(e))
        except CocaineError as e:
            snapshot.error = "{}: {}".format(type(e).__name__, _oneLine(e))
        return snapshot

    def _withRates(self, name, info):
        info = dict(info)
        requests = info.get("requests") or {}
        accepted = requests.get("accepted")
        rejected = requests.get("rejected")
        now = self._clock()
        rates = {"accepted": None, "rejected": None}
        previous = self._previous.get(name)
        if previous is not None:
            then, accepted0, rejected0 = previous
            elapsed = now - then
            if elapsed > 0:
                rates["accepted"] = _rate(accepted0, accepted, elapsed)
                rates["rejected"] = _rate(rejected0, rejected, elapsed)
        self._previous[name] = (now, accepted, rejected)
        info["per-second"] = rates
        return info


def _rate(before, after, elapsed):
    if not isinstance(before, (int, float)) or not isinstance(
            after, (int, float)) or after < before:
        return None   # unknown, or the counter started again
    return (after - before) / elapsed


def textOf(value):
    """
    A name from the node as text (bytes decoded, undecodable replaced).
    """
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _oneLine(error):
    text = str(error) or type(error).__name__
    return " ".join(text.split())
