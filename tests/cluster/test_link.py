"""
Tests for L{cocaine.cluster.link}: the peer link machine, input by input
and state by state, over a fake peering, fake C{connect} streams and a
L{Clock}.
"""

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.logger import Logger, formatEvent
from twisted.trial.unittest import SynchronousTestCase

from cocaine import backoff
from cocaine.cluster.link import FIRST_BACKOFF, PeerLink, PeerLinkMachine
from cocaine.cluster.logbudget import LogBudget
from cocaine.cluster.remote import RemoteTable
from cocaine.errors import NotConnected
from cocaine.statemachine import initialState, mermaid, transitions
from tests.cluster.test_peering import EP_A, EP_B, US, FakeStream, entry

A = "node-a"
INTERVAL = 5.0
SILENCE = 3 * INTERVAL

STATES = {"new", "connecting", "subscribed", "linked", "waiting", "closed"}
LIVE = ["connecting", "subscribed", "linked", "waiting"]


class FakePeering:
    """
    What a link uses of its L{cocaine.cluster.peering.Peering}, recording
    what it is told.
    """

    def __init__(self, clock, openStream):
        self.clock = clock
        self.uuid = US
        self.openStream = openStream
        self.remote = RemoteTable()
        self.interval = INTERVAL
        self.silence = SILENCE
        self.changes = 0
        self.forgotten = []
        self.logBudget = LogBudget(clock, lambda kind, count, period: None)

    def changed(self):
        self.changes += 1

    def silenced(self, uuid, reason):
        self.forgotten.append((uuid, reason))


class Refused(Exception):
    pass


class QuietStream(FakeStream):
    """
    A stream whose C{close} leaves the read in flight alone.
    """

    def close(self):
        self.closed = True


class LinkTestCase(SynchronousTestCase):
    """
    A link to node A, and helpers that bring it into each state.
    """

    def setUp(self):
        # the reconnects' jitter at its least: their times are exact
        self.patch(backoff.random, "random", lambda: 0.0)
        self.clock = Clock()
        self.opens = []
        self.peering = FakePeering(self.clock, self.openStream)
        self.events = []
        self.patch(PeerLink, "log", Logger(observer=self.events.append))
        self.link = PeerLink(self.peering, A, EP_A)

    def openStream(self, endpoints, ownUuid):
        d = Deferred()
        self.opens.append((endpoints, ownUuid, d))
        return d

    def logged(self):
        return [formatEvent(event) for event in self.events]

    def connecting(self):
        self.link.machine.start()
        self.assertEqual(self.link.state, "connecting")

    def subscribed(self):
        self.connecting()
        stream = FakeStream()
        self.opens[-1][2].callback(stream)
        self.assertEqual(self.link.state, "subscribed")
        return stream

    def linked(self, services=None):
        stream = self.subscribed()
        stream.send(A, {"app": entry(1)} if services is None else services)
        self.assertEqual(self.link.state, "linked")
        return stream

    def waiting(self):
        self.connecting()
        self.opens[-1][2].errback(Refused("refused"))
        self.assertEqual(self.link.state, "waiting")

    def closed(self):
        self.connecting()
        self.link.machine.close()
        self.assertEqual(self.link.state, "closed")

    def retryDelay(self):
        """
        @return: the seconds until the reconnect (due before the silence).
        """
        return min(call.getTime() for call in
                   self.clock.getDelayedCalls()) - self.clock.seconds()


class TableTests(SynchronousTestCase):
    """
    The transition table as a whole.
    """

    def test_states(self):
        table = transitions(PeerLinkMachine)
        self.assertEqual({row[0] for row in table} | {row[2] for row in table},
                         STATES)
        self.assertEqual(initialState(PeerLinkMachine), "new")

    def test_liveStatesEnd(self):
        """
        Every live state is left for closed by the silence and by the
        peering stopping, and keeps its state when the node is heard.
        """
        table = {(old, symbol): new for old, symbol, new, _ in
                 transitions(PeerLinkMachine)}
        for state in LIVE:
            self.assertEqual(table[state, "silent"], "closed")
            self.assertEqual(table[state, "close"], "closed")
            self.assertEqual(table[state, "heard"], state)

    def test_closedIsFinal(self):
        for old, symbol, new, _ in transitions(PeerLinkMachine):
            if old == "closed":
                self.assertEqual(new, "closed", symbol)

    def test_mermaid(self):
        diagram = mermaid(PeerLinkMachine)
        self.assertIn("[*] --> new", diagram)
        self.assertIn("subscribed --> linked: linked", diagram)


class NewTests(LinkTestCase):
    def test_start(self):
        """
        Starting connects to the endpoints heard with C{connect(own uuid)}
        and arms the silence.
        """
        self.link.machine.start()
        self.assertEqual(self.link.state, "connecting")
        self.assertEqual([(e, u) for e, u, _ in self.opens], [(EP_A, US)])
        [silence] = self.clock.getDelayedCalls()
        self.assertEqual(silence.getTime(), SILENCE)

    def test_close(self):
        self.link.machine.close()
        self.assertEqual(self.link.state, "closed")
        self.assertEqual(self.opens, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])


class ConnectingTests(LinkTestCase):
    def test_opened(self):
        """
        The stream is read; nothing is linked before its snapshot.
        """
        stream = self.subscribed()
        self.assertIsNot(stream.pending, None)
        self.assertEqual(self.peering.remote.nodes(), {})
        self.assertEqual(self.peering.changes, 0)

    def test_openFailed(self):
        """
        A locator that cannot be reached is tried again after the first
        backoff; why is logged.
        """
        self.waiting()
        self.assertAlmostEqual(self.retryDelay(), FIRST_BACKOFF)
        self.assertEqual(self.logged(), [
            "cluster: cannot link to node-a at [('127.0.0.1', 100)]: "
            "refused"])

    def test_retrySpread(self):
        """
        The retry waits up to a tenth longer than the backoff at random:
        the peers of a node that restarts do not all come back at once.
        """
        self.patch(backoff.random, "random", lambda: 1.0)
        self.waiting()
        self.assertAlmostEqual(self.retryDelay(), FIRST_BACKOFF * 1.1)
        # the backoff itself (what limits hurried retries) has none
        self.assertAlmostEqual(self.link.delay(), FIRST_BACKOFF)

    def test_openRaises(self):
        """
        An opener raising at once counts as a failed attempt.
        """
        def broken(endpoints, ownUuid):
            raise Refused("no route")
        self.peering.openStream = broken
        self.link.machine.start()
        self.assertEqual(self.link.state, "waiting")

    def test_openedAtOnce(self):
        """
        A stream opened synchronously with its snapshot already read links
        the node before C{start} returns.
        """
        stream = FakeStream()
        stream.send(A, {"app": entry(1)})
        self.peering.openStream = lambda endpoints, own: succeed(stream)
        self.link.machine.start()
        self.assertEqual(self.link.state, "linked")
        self.assertEqual(list(self.peering.remote.services(A)), ["app"])

    def test_failedAtOnce(self):
        self.peering.openStream = lambda e, o: fail(Refused("refused"))
        self.link.machine.start()
        self.assertEqual(self.link.state, "waiting")

    def test_heard(self):
        """
        Hearing the node again keeps the attempt, postpones the silence
        and the next attempt goes to the endpoints heard.
        """
        self.connecting()
        self.clock.advance(SILENCE - 1)
        self.link.machine.heard(EP_B)
        self.clock.advance(SILENCE - 1)
        self.assertEqual(self.link.state, "connecting")
        self.assertEqual(len(self.opens), 1)
        self.opens[0][2].errback(Refused("refused"))
        self.clock.advance(FIRST_BACKOFF)
        self.assertEqual(self.opens[-1][0], EP_B)

    def test_silent(self):
        """
        A node that never answers is forgotten; the stream its locator
        opens late is closed, and a late failure changes nothing.
        """
        self.connecting()
        self.clock.advance(SILENCE)
        self.assertEqual(self.link.state, "closed")
        self.assertEqual(self.peering.forgotten, [(A, "silent for 15.0s")])
        stream = FakeStream()
        self.opens[0][2].callback(stream)
        self.assertTrue(stream.closed)
        self.assertEqual(self.link.state, "closed")
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_close(self):
        """
        Closed while connecting: the silence is disarmed, the node not
        forgotten, and the stream opened late closed at once.
        """
        self.closed()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.peering.forgotten, [])
        stream = FakeStream()
        self.opens[0][2].callback(stream)
        self.assertTrue(stream.closed)
        self.assertEqual(stream.pending, None)
        self.assertEqual(self.peering.remote.nodes(), {})

    def test_closeThenFailure(self):
        self.closed()
        self.opens[0][2].errback(Refused("refused"))
        self.assertEqual(self.link.state, "closed")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.logged(), [])


class SubscribedTests(LinkTestCase):
    def test_snapshot(self):
        """
        The first chunk, from the node heard, fills the remote table; the
        link is linked and the peering told.
        """
        self.linked()
        self.assertEqual(self.peering.remote.nodes(),
                         {A: ["127.0.0.1", 100]})
        self.assertEqual(self.peering.changes, 1)
        self.assertEqual(self.logged(),
                         ["cluster: linked to node-a at 127.0.0.1:100"])

    def test_wrongUuid(self):
        """
        A locator answering as another node is not linked: its stream is
        closed and the link waits to retry.
        """
        stream = self.subscribed()
        stream.send("node-b", {"app": entry(1)})
        self.assertEqual(self.link.state, "waiting")
        self.assertTrue(stream.closed)
        self.assertEqual(self.peering.remote.nodes(), {})
        self.assertEqual(self.peering.changes, 0)
        self.assertIn("is node node-b, not node-a", self.logged()[-1])

    def test_malformedSnapshot(self):
        stream = self.subscribed()
        stream.send(A, {"app": "nonsense"})
        self.assertEqual(self.link.state, "waiting")
        self.assertTrue(stream.closed)
        self.assertEqual(self.peering.remote.nodes(), {})

    def test_notAChunk(self):
        """
        A chunk that is no C{[uuid, services]} ends the stream too.
        """
        stream = self.subscribed()
        d, stream.pending = stream.pending, None
        d.callback(42)
        self.assertEqual(self.link.state, "waiting")
        self.assertTrue(stream.closed)

    def test_endsBeforeSnapshot(self):
        stream = self.subscribed()
        stream.end()
        self.assertEqual(self.link.state, "waiting")
        self.assertTrue(stream.closed)
        self.assertEqual(self.peering.changes, 0)
        self.assertTrue(self.logged()[-1].endswith(": closed"))

    def test_heard(self):
        stream = self.subscribed()
        self.link.machine.heard(EP_B)
        self.assertEqual(self.link.state, "subscribed")
        self.assertEqual(self.link.endpoints, EP_B)
        # the stream was opened to A: that is where the node is linked
        stream.send(A, {"app": entry(1)})
        self.assertEqual(self.peering.remote.nodes(),
                         {A: ["127.0.0.1", 100]})

    def test_silent(self):
        stream = self.subscribed()
        self.clock.advance(SILENCE)
        self.assertEqual(self.link.state, "closed")
        self.assertTrue(stream.closed)
        self.assertEqual(self.peering.forgotten, [(A, "silent for 15.0s")])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_close(self):
        """
        The read in flight is cancelled: the stream's end reaches nothing.
        """
        stream = self.subscribed()
        self.link.machine.close()
        self.assertEqual(self.link.state, "closed")
        self.assertTrue(stream.closed)
        self.assertEqual(self.peering.forgotten, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.logged(), [])

    def test_closeCancelsRead(self):
        """
        Closing cancels the read in flight, whatever the stream does.
        """
        self.connecting()
        stream = QuietStream()
        self.opens[-1][2].callback(stream)
        pending = stream.pending
        self.link.machine.close()
        self.assertTrue(stream.closed)
        self.assertTrue(pending.called)
        self.assertEqual(self.link.state, "closed")
        self.assertEqual(self.logged(), [])


class LinkedTests(LinkTestCase):
    def test_updates(self):
        """
        Updates and load reports go to the remote table without changing
        the link's state.
        """
        stream = self.linked()
        stream.send(A, {"other": entry(2)})
        stream.send(A, {"app": [[], 0, {}]})
        self.assertEqual(list(self.peering.remote.services(A)), ["other"])
        self.assertEqual(self.peering.changes, 3)
        d, stream.pending = stream.pending, None
        d.callback((A, {}, {"load": {"cpu": 1.0, "apps": {}}}))
        self.assertEqual(self.peering.remote.load(A),
                         {"cpu": 1.0, "apps": {}})
        self.assertEqual(self.peering.changes, 3)
        self.assertEqual(self.link.state, "linked")

    def test_streamClosed(self):
        """
        The stream closing drops the node at once and waits the first
        backoff to reconnect.
        """
        stream = self.linked()
        stream.end()
        self.assertEqual(self.link.state, "waiting")
        self.assertTrue(stream.closed)
        self.assertEqual(self.peering.remote.nodes(), {})
        self.assertEqual(self.peering.remote.providers("app"), {})
        self.assertEqual(self.peering.changes, 2)
        self.assertEqual(self.logged()[-1],
                         "cluster: link to node-a lost: closed")
        self.assertAlmostEqual(self.retryDelay(), FIRST_BACKOFF)

    def test_streamFails(self):
        """
        A stream ending with an error is lost the same way; the error says
        why.
        """
        stream = self.linked()
        stream.end(NotConnected("connection to locator lost: reset"))
        self.assertEqual(self.link.state, "waiting")
        self.assertEqual(self.peering.remote.nodes(), {})
        self.assertEqual(self.logged()[-1],
                         "cluster: link to node-a lost: connection to "
                         "locator lost: reset")

    def test_malformedChunk(self):
        """
        A malformed update ends the link rather than the peering: the node
        is dropped and reconnected.
        """
        stream = self.linked()
        stream.send(A, {"app": "nonsense"})
        self.assertEqual(self.link.state, "waiting")
        self.assertTrue(stream.closed)
        self.assertEqual(self.peering.remote.nodes(), {})
        self.assertIn("not [endpoints, version, graph]", self.logged()[-1])
        self.clock.advance(FIRST_BACKOFF)
        self.assertEqual(self.link.state, "connecting")
        self.assertEqual(len(self.opens), 2)

    def test_badLoadReport(self):
        stream = self.linked()
        d, stream.pending = stream.pending, None
        d.callback((A, {}, {"load": "busy"}))
        self.assertEqual(self.link.state, "waiting")
        self.assertEqual(self.peering.remote.nodes(), {})

    def test_heard(self):
        self.linked()
        self.link.machine.heard(EP_B)
        self.assertEqual(self.link.state, "linked")
        self.assertEqual(self.link.endpoints, EP_B)

    def test_silent(self):
        """
        3 x interval without an announce: the node, its services and its
        stream go, and the peering forgets it.
        """
        stream = self.linked()
        self.clock.advance(SILENCE)
        self.assertEqual(self.link.state, "closed")
        self.assertTrue(stream.closed)
        self.assertEqual(self.peering.remote.nodes(), {})
        self.assertEqual(self.peering.forgotten, [(A, "silent for 15.0s")])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_close(self):
        """
        The peering stopping drops the node quietly: nothing forgotten,
        no change told, nothing logged as lost, nothing left scheduled.
        """
        stream = self.linked()
        changes, logged = self.peering.changes, len(self.events)
        self.link.machine.close()
        self.assertEqual(self.link.state, "closed")
        self.assertTrue(stream.closed)
        self.assertEqual(self.peering.remote.nodes(), {})
        self.assertEqual(self.peering.forgotten, [])
        self.assertEqual(self.peering.changes, changes)
        self.assertEqual(len(self.events), logged)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class WaitingTests(LinkTestCase):
    def test_retry(self):
        self.waiting()
        self.clock.advance(FIRST_BACKOFF)
        self.assertEqual(self.link.state, "connecting")
        self.assertEqual(len(self.opens), 2)

    def test_backoff(self):
        """
        The delay doubles with each failure, up to the interval, and is
        back to the first once linked.
        """
        self.waiting()
        delays = []
        for _ in range(9):
            delays.append(round(self.retryDelay(), 6))
            self.clock.advance(self.retryDelay())
            self.link.machine.heard(EP_A)
            self.opens[-1][2].errback(Refused("refused"))
        self.assertEqual(delays, [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0,
                                  5.0])
        self.clock.advance(self.retryDelay())
        stream = FakeStream()
        self.opens[-1][2].callback(stream)
        stream.send(A, {})
        self.assertEqual(self.link.state, "linked")
        stream.end()
        self.assertAlmostEqual(self.retryDelay(), FIRST_BACKOFF)

    def test_heard(self):
        """
        Discovery hearing the node while the link waits to retry brings
        the retry forward to now, to the endpoints just heard.
        """
        self.waiting()
        self.link.machine.heard(EP_B)
        self.assertEqual(self.link.state, "waiting")
        self.clock.advance(0)
        self.assertEqual(self.link.state, "connecting")
        self.assertEqual(len(self.opens), 2)
        self.assertEqual(self.opens[-1][0], EP_B)

    def test_heardAtTheBackoffsPace(self):
        """
        Hearing the node brings a retry forward at most once per the
        backoff's current delay: heard again and again after a failed
        attempt, the link waits out that delay, which still doubles.
        """
        self.waiting()
        first = self.retryDelay()
        self.link.machine.heard(EP_A)
        self.clock.advance(0)
        self.opens[-1][2].errback(Refused("refused"))
        for _ in range(5):
            self.link.machine.heard(EP_A)
        self.clock.advance(0)
        self.assertEqual((self.link.state, len(self.opens)), ("waiting", 2))
        self.assertAlmostEqual(self.retryDelay(), 2 * first)
        self.clock.advance(first)
        self.link.machine.heard(EP_A)
        self.clock.advance(0)
        self.assertEqual(len(self.opens), 2)
        self.clock.advance(first)
        self.assertEqual((self.link.state, len(self.opens)),
                         ("connecting", 3))
        self.opens[-1][2].errback(Refused("refused"))
        self.link.machine.heard(EP_A)
        self.clock.advance(0)
        self.assertEqual(len(self.opens), 3)
        self.clock.advance(4 * first - self.clock.seconds())
        self.link.machine.heard(EP_A)
        self.clock.advance(0)
        self.assertEqual((self.link.state, len(self.opens)),
                         ("connecting", 4))

    def test_silent(self):
        """
        The silence while waiting cancels the reconnect.
        """
        self.waiting()
        self.link.machine.silent()
        self.assertEqual(self.link.state, "closed")
        self.assertEqual(self.peering.forgotten, [(A, "silent for 15.0s")])
        self.clock.advance(INTERVAL)
        self.assertEqual(len(self.opens), 1)

    def test_close(self):
        self.waiting()
        self.link.machine.close()
        self.assertEqual(self.link.state, "closed")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.peering.forgotten, [])


class ClosedTests(LinkTestCase):
    def test_ignored(self):
        """
        Nothing but a late stream does anything once closed.
        """
        self.closed()
        machine = self.link.machine
        machine.heard(EP_B)
        machine.silent()
        machine.close()
        machine.streamEnded("closed")
        machine.openFailed("refused")
        self.assertEqual(self.link.state, "closed")
        self.assertEqual(self.link.endpoints, EP_A)
        self.assertEqual(self.peering.forgotten, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(self.logged(), [])

    def test_lateStream(self):
        self.closed()
        stream = FakeStream()
        self.link.machine.opened(stream, EP_A)
        self.assertTrue(stream.closed)
        self.assertEqual(self.link.state, "closed")

