# -*- test-case-name: tests.cluster.test_link -*-
"""
Our side of the peering with one remote node (PROTOCOL.md section 10): its
lifecycle is one machine, L{PeerLinkMachine}, whose transition table is the
spec (C{docs/cluster.md}).

    new --start--> connecting --opened--> subscribed --linked--> linked
                     ^    |                   |                    |
                     |  openFailed       streamEnded          streamEnded
                   retry  v                   v                    |
                     +-- waiting <------------+--------------------+

    any state --close--> closed; every live one --silent--> closed

A link is made when discovery first hears the node and started at once.
In C{connecting} the node's locator is asked for C{connect(own uuid)};
C{subscribed} holds the stream until its first chunk, the node's table,
is in the remote table; C{linked} holds it while the updates are read;
C{waiting} holds the reconnect timer (0.1 s, doubling, at most the
interval, each up to a tenth longer at random; back to 0.1 s once
linked); discovery hearing the node brings it forward to now, at most
once per the backoff's current delay.
C{silent} (not heard for the peering's silence period) forgets the
node; C{close} (the peering stops) ends the link quietly. C{closed} is
final: a stream opened too late is closed, anything else is ignored.

Chunks do not pass through the machine: the L{Subscription} of the state
reads them into the remote table and tells the machine only that the
stream is linked or has ended.
"""

from typing import Protocol

from automat import TypeMachineBuilder
from twisted.internet.defer import (
    CancelledError, Deferred, maybeDeferred)
from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger

from cocaine.backoff import backoffDelay
from cocaine.rpc.client import ChannelClosed
from cocaine.statemachine import build, nameStates

#: The first reconnect delay in seconds; it doubles up to the interval.
FIRST_BACKOFF = 0.1


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(
        value, bytes) else value


def _reason(exception):
    return str(exception) or type(exception).__name__


class Subscription:
    """
    Our reading of one node's C{connect} stream: the first chunk must come
    from that node and links it in the remote table; each later one updates
    a service or the node's load. Everything else is the machine's.

    @ivar stream: the stream (C{read()}, C{close()}).
    @ivar endpoints: the node's locator endpoints it was opened to.
    """

    def __init__(self, link, machine, stream, endpoints):
        self._link = link
        self._machine = machine
        self.stream = stream
        self.endpoints = endpoints
        self._reading = None
        d = Deferred.fromCoroutine(self._run())
        d.addErrback(lambda f: link.log.failure(
            "cluster: reading the stream of {uuid} failed", f,
            uuid=link.uuid))

    def close(self):
        """
        Stop reading (the read in flight is cancelled, so nothing more
        reaches the machine) and close the stream.
        """
        reading, self._reading = self._reading, None
        if reading is not None:
            reading.cancel()
        self.stream.close()

    async def _run(self):
        try:
            self._snapshot(await self._read())
            self._machine.linked(self)
            while True:
                self._update(await self._read())
        except CancelledError:
            return
        except ChannelClosed:
            reason = "closed"
        except Exception as e:
            reason = _reason(e)
        self._machine.streamEnded(reason)

    def _read(self):
        self._reading = self.stream.read()
        return self._reading

    def _snapshot(self, chunk):
        link = self._link
        uuid = _text(chunk[0])
        if uuid != link.uuid:
            raise ValueError("the locator at {} is node {}, not {}".format(
                self.endpoints, uuid, link.uuid))
        link.peering.remote.link(link.uuid, self.endpoints[0], chunk[1])

    def _update(self, chunk):
        remote, uuid = self._link.peering.remote, self._link.uuid
        if len(chunk) > 2:
            extra = chunk[2]
            if isinstance(extra, dict):
                report = extra.get("load", extra.get(b"load"))
                if report is not None:
                    remote.setLoad(uuid, report)
        if chunk[1]:
            remote.update(uuid, chunk[1])
            self._link.peering.changed()


class PeerLinkInputs(Protocol):
    """
    What happens to the link with one remote node.
    """

    def start(self) -> None:
        "Discovery heard the node for the first time: connect."

    def heard(self, endpoints: list) -> None:
        "Discovery heard the node again, with its locator at C{endpoints}."

    def opened(self, stream: object, endpoints: list) -> None:
        "The node's locator at C{endpoints} answered with its stream."

    def openFailed(self, reason: str) -> None:
        "The locator could not be reached, or refused C{connect}."

    def linked(self, subscription: Subscription) -> None:
        "The node's table, the stream's first chunk, is in the table."

    def streamEnded(self, reason: str) -> None:
        "The stream closed, failed, or carried something malformed."

    def retry(self) -> None:
        "The reconnect delay passed."

    def silent(self) -> None:
        "The node was not heard for the silence period."

    def close(self) -> None:
        "The peering stops."

    def stateName(self) -> str:
        "The name of the state it is in."


class PeerLink:
    """
    The link with one remote node: its data and what its machine's
    outputs do. Everything that happens to it goes to L{machine}.

    @ivar peering: the L{cocaine.cluster.peering.Peering} it belongs to:
        its C{clock}, own C{uuid}, C{openStream}, C{remote} table,
        C{interval}, C{silence} and C{logBudget} are used; it is told
        C{changed()} and C{silenced(uuid, reason)}.
    @ivar uuid: the remote node's.
    @ivar endpoints: its locator's, as last heard; the next connection
        goes there.
    @ivar attempts: connections failed since it was last linked (the
        backoff's exponent).
    @ivar hurriedAt: when hearing the node last brought a retry forward
        (the clock's seconds), or L{None}: again only once the backoff's
        current L{delay} has passed since.
    @ivar machine: its L{PeerLinkMachine}.
    """

    log = Logger()

    def __init__(self, peering, uuid, endpoints):
        self.peering = peering
        self.uuid = uuid
        self.endpoints = [tuple(e) for e in endpoints]
        self.attempts = 0
        self.hurriedAt = None
        self._silence = None
        self.machine = PeerLinkMachine(self)

    @property
    def state(self):
        """
        The name of its machine's state.
        """
        return self.machine.stateName()

    # -- what the outputs do -------------------------------------------------

    def delay(self):
        """
        @return: the backoff's delay for the retry after the last failed
            attempt (seconds), without its jitter.
        """
        return backoffDelay(self.attempts, FIRST_BACKOFF,
                            self.peering.interval, jitter=0.0)

    def _backoff(self):
        # plus up to a tenth at random: the peers of a node that restarts
        # do not all come back at the same instants
        self.attempts += 1
        return backoffDelay(self.attempts, FIRST_BACKOFF,
                            self.peering.interval)


_builder = TypeMachineBuilder(PeerLinkInputs, PeerLink)


def _subscribe(inputs, link, stream, endpoints):
    """
    Entering C{subscribed}: read the stream.
    """
    return Subscription(link, inputs, stream, endpoints)


def _keep(inputs, link, subscription: Subscription):
    """
    Entering C{linked}: the same subscription reads on.
    """
    return subscription


def _waitToRetry(inputs, link, reason):
    """
    Entering C{waiting}: the reconnect timer.
    """
    return link.peering.clock.callLater(link._backoff(), inputs.retry)


_new = _builder.state("new")
_connecting = _builder.state("connecting")
_subscribed = _builder.state("subscribed", _subscribe)
_linked = _builder.state("linked", _keep)
_waiting = _builder.state("waiting", _waitToRetry)
_closed = _builder.state("closed")

nameStates([_new, _connecting, _subscribed, _linked, _waiting, _closed],
           PeerLinkInputs.stateName)


# -- new: made when the node is first heard -----------------------------------

def _connect(inputs, link):
    # an attempt is not cancelled: one that ends after the link did is
    # ignored, and the stream it may open closed (see closed)
    endpoints = list(link.endpoints)
    attempt = maybeDeferred(link.peering.openStream, endpoints,
                            link.peering.uuid)
    attempt.addCallbacks(
        lambda stream: inputs.opened(stream, endpoints),
        lambda failure: inputs.openFailed(_reason(failure.value)))
    attempt.addErrback(lambda f: link.log.failure(
        "cluster: link to {uuid} failed", f, uuid=link.uuid))


@_new.upon(PeerLinkInputs.start).to(_connecting)
def _firstConnect(inputs, link):
    peering = link.peering
    link._silence = peering.clock.callLater(peering.silence, inputs.silent)
    _connect(inputs, link)


_new.upon(PeerLinkInputs.close).to(_closed).returns(None)


# -- every live state ---------------------------------------------------------

def _heardAgain(inputs, link, endpoints):
    link.endpoints = [tuple(e) for e in endpoints]
    link._silence.reset(link.peering.silence)


def _forget(link):
    link.peering.silenced(link.uuid, "silent for {}s".format(
        link.peering.silence))


def _quiet(link):
    link._silence.cancel()


_connecting.upon(PeerLinkInputs.heard).loop()(_heardAgain)
for _state in (_subscribed, _linked):
    _state.upon(PeerLinkInputs.heard, nodata=True).loop()(_heardAgain)


# -- connecting: waiting for the locator's answer -----------------------------

_connecting.upon(PeerLinkInputs.opened).to(
    _subscribed).returns(None)


def _cannotLink(link, endpoints, reason):
    if link.peering.logBudget.allow("unlinked"):
        link.log.info("cluster: cannot link to {uuid} at {endpoints}: "
                      "{reason}", uuid=link.uuid, endpoints=endpoints,
                      reason=reason)


@_connecting.upon(PeerLinkInputs.openFailed).to(_waiting)
def _cannotConnect(inputs, link, reason):
    _cannotLink(link, link.endpoints, reason)


@_connecting.upon(PeerLinkInputs.silent).to(_closed)
def _silentConnecting(inputs, link):
    _forget(link)


@_connecting.upon(PeerLinkInputs.close).to(_closed)
def _closeConnecting(inputs, link):
    _quiet(link)


# -- subscribed: the stream is open, its snapshot not read yet ----------------

@_subscribed.upon(PeerLinkInputs.linked, nodata=True).to(_linked)
def _nowLinked(inputs, link, subscription: Subscription):
    link.attempts = 0
    address, port = subscription.endpoints[0]
    link.log.info("cluster: linked to {uuid} at {address}:{port}",
                  uuid=link.uuid, address=address, port=port)
    link.peering.changed()


@_subscribed.upon(PeerLinkInputs.streamEnded).to(_waiting)
def _noSnapshot(inputs, link, subscription: Subscription, reason):
    subscription.close()
    _cannotLink(link, subscription.endpoints, reason)


@_subscribed.upon(PeerLinkInputs.silent).to(_closed)
def _silentSubscribed(inputs, link, subscription: Subscription):
    subscription.close()
    _forget(link)


@_subscribed.upon(PeerLinkInputs.close).to(_closed)
def _closeSubscribed(inputs, link, subscription: Subscription):
    subscription.close()
    _quiet(link)


# -- linked: the node's services are in the remote table ----------------------

def _unlink(link, subscription):
    subscription.close()
    link.peering.remote.drop(link.uuid)


@_linked.upon(PeerLinkInputs.streamEnded).to(_waiting)
def _lostLink(inputs, link, subscription: Subscription, reason):
    _unlink(link, subscription)
    link.peering.changed()
    link.log.info("cluster: link to {uuid} lost: {reason}", uuid=link.uuid,
                  reason=reason)


@_linked.upon(PeerLinkInputs.silent).to(_closed)
def _silentLinked(inputs, link, subscription: Subscription):
    _unlink(link, subscription)
    _forget(link)


@_linked.upon(PeerLinkInputs.close).to(_closed)
def _closeLinked(inputs, link, subscription: Subscription):
    _unlink(link, subscription)
    _quiet(link)


# -- waiting: the reconnect timer runs ----------------------------------------

@_waiting.upon(PeerLinkInputs.retry).to(_connecting)
def _reconnect(inputs, link, retry: IDelayedCall):
    _connect(inputs, link)


@_waiting.upon(PeerLinkInputs.heard).loop()
def _heardWhileWaiting(inputs, link, retry: IDelayedCall, endpoints):
    # Discovery heard the node: it is up, at these endpoints. Waiting on
    # for the backoff (up to the interval) left a node that restarted
    # unlinked for as long, so the retry is brought forward to now; at
    # most once per the backoff's current delay, so that hearing the
    # node often (pokes, forged announces) cannot make attempts more
    # than twice as often as the backoff alone.
    _heardAgain(inputs, link, endpoints)
    now = link.peering.clock.seconds()
    if link.hurriedAt is None or now - link.hurriedAt >= link.delay():
        link.hurriedAt = now
        retry.reset(0)


@_waiting.upon(PeerLinkInputs.silent).to(_closed)
def _silentWaiting(inputs, link, retry: IDelayedCall):
    retry.cancel()
    _forget(link)


@_waiting.upon(PeerLinkInputs.close).to(_closed)
def _closeWaiting(inputs, link, retry: IDelayedCall):
    retry.cancel()
    _quiet(link)


# -- closed: final ------------------------------------------------------------

@_closed.upon(PeerLinkInputs.opened).loop()
def _lateStream(inputs, link, stream, endpoints):
    # the attempt ended after the link did
    stream.close()


for _input in (PeerLinkInputs.heard, PeerLinkInputs.openFailed,
               PeerLinkInputs.streamEnded):
    _closed.upon(_input).loop().returns(None)
_closed.upon(PeerLinkInputs.silent).loop().returns(None)
_closed.upon(PeerLinkInputs.close).loop().returns(None)

#: The lifecycle of our link with one remote node.
PeerLinkMachine = build(_builder)
