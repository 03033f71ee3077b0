# -*- test-case-name: tests.cluster.test_peering -*-
"""
Locator peering (PROTOCOL.md section 10): for every node discovery hears,
connect to its locator and call C{connect(own uuid)}; the stream's first
chunk is the node's full table, the next ones single-service updates (an
empty endpoint list removes a name). The node and its services are dropped
when the stream closes (and the link reconnects with backoff) and
forgotten after 3 x interval without an announce.
"""

from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from cocaine.rpc.client import ChannelClosed

#: Silence for this many announce intervals forgets a node.
SILENCE_INTERVALS = 3

#: The first reconnect delay in seconds; it doubles up to the interval.
FIRST_BACKOFF = 0.1


class LocatorStream:
    """
    The C{connect} stream of a remote locator, over our client SDK.
    """

    def __init__(self, locator, channel):
        self._locator = locator
        self._channel = channel

    @classmethod
    async def open(cls, reactor, endpoints, ownUuid, timeout):
        from cocaine.client import Locator
        locator = Locator(reactor, [tuple(e) for e in endpoints],
                          connectTimeout=timeout)
        try:
            # ours: {"load": true} asks for load reports on the stream
            channel = await locator.connect(ownUuid, {"load": True},
                                            timeout=timeout)
        except BaseException:
            locator.disconnect()
            raise
        return cls(locator, channel)

    def read(self):
        """
        @return: a Deferred of the next C{(uuid, {name: entry})} (or
            C{(uuid, {}, {"load": report})}, ours), failing
            with L{ChannelClosed} or the error that ended the stream.
        """
        return self._channel.read()

    def close(self):
        return self._locator.disconnect()


def locatorStreams(reactor, timeout):
    """
    @return: a function C{(endpoints, ownUuid) -> Deferred of a stream}
        opening real L{LocatorStream}s.
    """
    def openStream(endpoints, ownUuid):
        return Deferred.fromCoroutine(LocatorStream.open(
            reactor, endpoints, ownUuid, timeout))
    return openStream


class _Link:
    """
    Our side of the peering with one remote node.
    """

    log = Logger()

    def __init__(self, peering, uuid, endpoints):
        self._peering = peering
        self.uuid = uuid
        self.endpoints = [tuple(e) for e in endpoints]
        self.stream = None
        self.linked = False
        self.stopped = False
        self.attempts = 0
        self._silence = None
        self._retry = None

    def heard(self):
        clock, delay = self._peering.clock, self._peering.silence
        if self._silence is not None and self._silence.active():
            self._silence.reset(delay)
        else:
            self._silence = clock.callLater(delay, self._peering.forget,
                                            self.uuid, "silent for {}s"
                                            .format(delay))

    def connect(self):
        self._retry = None
        d = Deferred.fromCoroutine(self._run())
        d.addErrback(lambda f: self.log.failure(
            "cluster link to {uuid} failed", f, uuid=self.uuid))

    async def _run(self):
        peering = self._peering
        endpoints = list(self.endpoints)
        try:
            stream = await peering.openStream(endpoints, peering.uuid)
        except Exception as e:
            self.log.info("cluster: cannot link to {uuid} at {endpoints}: "
                          "{reason}", uuid=self.uuid, endpoints=endpoints,
                          reason=str(e))
            self._scheduleRetry()
            return
        if self.stopped:
            stream.close()
            return
        self.stream = stream
        reason = "closed"
        try:
            chunk = await stream.read()
            uuid, snapshot = chunk[0], chunk[1]
            if isinstance(uuid, bytes):
                uuid = uuid.decode("utf-8", "replace")
            if uuid != self.uuid:
                raise ValueError("the locator at {} is node {}, not {}"
                                 .format(endpoints, uuid, self.uuid))
            peering.remote.link(self.uuid, endpoints[0], snapshot)
            self.linked = True
            self.attempts = 0
            self.log.info("cluster: linked to {uuid} at {address}:{port}",
                          uuid=self.uuid, address=endpoints[0][0],
                          port=endpoints[0][1])
            peering.changed()
            while True:
                chunk = await stream.read()
                if len(chunk) > 2:
                    extra = chunk[2]
                    if isinstance(extra, dict):
                        report = extra.get("load", extra.get(b"load"))
                        if report is not None:
                            peering.remote.setLoad(self.uuid, report)
                if chunk[1]:
                    peering.remote.update(self.uuid, chunk[1])
                    peering.changed()
        except ChannelClosed:
            pass
        except Exception as e:
            reason = str(e) or type(e).__name__
        self.stream = None
        stream.close()
        if self.linked:
            self.linked = False
            peering.remote.drop(self.uuid)
            peering.changed()
            self.log.info("cluster: link to {uuid} lost: {reason}",
                          uuid=self.uuid, reason=reason)
        if not self.stopped:
            self._scheduleRetry()

    def _scheduleRetry(self):
        if self.stopped:
            return
        delay = min(self._peering.interval, FIRST_BACKOFF * 2 ** self.attempts)
        self.attempts += 1
        self._retry = self._peering.clock.callLater(delay, self.connect)

    def stop(self):
        self.stopped = True
        for call in (self._silence, self._retry):
            if call is not None and call.active():
                call.cancel()
        self._silence = self._retry = None
        stream, self.stream = self.stream, None
        if stream is not None:
            stream.close()


class Peering(Service):
    """
    The links to every node discovery reports.

    @ivar remote: the L{cocaine.cluster.remote.RemoteTable} the links fill.
    """

    log = Logger()

    def __init__(self, clock, uuid, remote, interval, openStream,
                 forgotten=None):
        """
        @param openStream: C{(endpoints, ownUuid) -> Deferred of a stream}
            with C{read()} and C{close()} (L{locatorStreams}).
        @param forgotten: called with a uuid when a node is forgotten.
        """
        self.clock = clock
        self.uuid = uuid
        self.remote = remote
        self.interval = interval
        self.silence = SILENCE_INTERVALS * interval
        self.openStream = openStream
        self._forgotten = forgotten
        self._links = {}
        self._watchers = []

    def heard(self, uuid, endpoints):
        """
        Discovery heard node C{uuid} with its locator at C{endpoints}.
        """
        if uuid == self.uuid or not self.running:
            return
        link = self._links.get(uuid)
        if link is None:
            link = self._links[uuid] = _Link(self, uuid, endpoints)
            link.heard()
            link.connect()
            return
        link.endpoints = [tuple(e) for e in endpoints]
        link.heard()

    def forget(self, uuid, reason):
        """
        Drop node C{uuid}, its link and its services.
        """
        link = self._links.pop(uuid, None)
        if link is None:
            return
        link.stop()
        self.remote.drop(uuid)
        self.log.info("cluster: node {uuid} dropped: {reason}", uuid=uuid,
                      reason=reason)
        self.changed()
        if self._forgotten is not None:
            self._forgotten(uuid)

    def isLinked(self, uuid):
        link = self._links.get(uuid)
        return link is not None and link.linked

    def watch(self, callback):
        """
        Call C{callback()} whenever the remote table changes.
        """
        self._watchers.append(callback)

    def changed(self):
        for callback in list(self._watchers):
            try:
                callback()
            except Exception:
                self.log.failure("cluster watcher failed")

    def stopService(self):
        Service.stopService(self)
        links, self._links = self._links, {}
        for uuid, link in links.items():
            link.stop()
            self.remote.drop(uuid)
