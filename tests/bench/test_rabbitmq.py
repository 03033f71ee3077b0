"""
Tests for L{bench.peers.rabbitmq.Broker}'s start: a port picked free and
then taken by another process before the broker binds it costs a start
on other ports, not the benchmark (RabbitMQ's three ports must be named;
none may be 0).
"""

import socket

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from bench.peers import rabbitmq
from bench.peers.rabbitmq import Broker, BrokerError


class _Failing(Broker):
    """
    A broker whose starts fail as C{errors} say, without starting
    anything.
    """

    def __init__(self, errors):
        Broker.__init__(self, home="/nonexistent")
        self.errors = list(errors)
        self.starts = 0

    def _startOnce(self):
        self.starts += 1
        error = self.errors.pop(0)
        if error is not None:
            raise error


class AttemptsTests(SynchronousTestCase):

    def setUp(self):
        self.patch(rabbitmq, "ensureInstalled", lambda: None)

    def test_exitedThenStarted(self):
        """
        A start whose process exited is tried again on other ports.
        """
        broker = _Failing([BrokerError("port taken", exited=True), None])
        broker.start()
        self.assertEqual(broker.starts, 2)

    def test_boundedAttempts(self):
        """
        After C{startAttempts} exits the last error is raised, naming what
        the earlier starts said.
        """
        broker = _Failing([BrokerError("exit {}\nlog".format(n), exited=True)
                           for n in range(5)])
        error = self.assertRaises(BrokerError, broker.start)
        self.assertEqual(broker.starts, Broker.startAttempts)
        self.assertTrue(str(error).startswith("exit 2\nlog\n"), str(error))
        self.assertIn("exit 0; exit 1", str(error))

    def test_noAnswerNotRetried(self):
        """
        A broker that never answered is not started again: another start
        would wait as long.
        """
        broker = _Failing([BrokerError("no AMQP answer in 90 s"), None])
        error = self.assertRaises(BrokerError, broker.start)
        self.assertEqual((broker.starts, str(error)),
                         (1, "no AMQP answer in 90 s"))


class _Stuck(Broker):
    """
    A broker whose start fails with C{failure} and whose stop then fails:
    a process survived KILL.
    """

    def __init__(self, failure):
        Broker.__init__(self, home="/nonexistent")
        self.failure = failure
        self.stops = 0

    def _prepare(self, node):
        return "/nonexistent/" + node

    def _startEpmd(self, port, base):
        raise self.failure

    def stop(self):
        self.stops += 1
        raise BrokerError("broker processes [4242] survived KILL")


class StopAfterFailedStartTests(SynchronousTestCase):
    """
    A start that fails stops what it started; a stop failing then does not
    hide why the start failed.
    """

    def setUp(self):
        self.patch(rabbitmq, "ensureInstalled", lambda: None)
        self.patch(rabbitmq.atexit, "register", lambda f: None)

    def test_brokerErrorNamesBoth(self):
        """
        The start's L{BrokerError} is raised with the stop's, and not
        retried although the start's process exited: processes are left.
        """
        broker = _Stuck(BrokerError("epmd exited: address in use",
                                    exited=True))
        error = self.assertRaises(BrokerError, broker.start)
        self.assertEqual(str(error), "epmd exited: address in use\n"
                         "(stopping what it started: broker processes "
                         "[4242] survived KILL)")
        self.assertFalse(error.exited)
        self.assertEqual(broker.stops, 1)

    def test_otherFailureRaisedAsItIs(self):
        """
        Any other failure of the start (an interrupt, a bug) is raised as
        it is, the stop's error as its context.
        """
        broker = _Stuck(KeyboardInterrupt())
        error = self.assertRaises(KeyboardInterrupt, broker.start)
        self.assertIsInstance(error.__context__, BrokerError)


class PortTakenTests(SynchronousTestCase):
    """
    The real broker (Debian's, installed as the benchmarks install it),
    its first ports picked to include one another process listens on.
    """

    def setUp(self):
        try:
            rabbitmq.ensureInstalled()
        except (BrokerError, rabbitmq.AptError) as e:
            raise SkipTest("RabbitMQ cannot be installed here: {}".format(e))
        self.taken = socket.socket()
        self.addCleanup(self.taken.close)
        self.taken.bind(("127.0.0.1", 0))
        self.taken.listen()
        self.port = self.taken.getsockname()[1]

    def startWithTaken(self, index):
        """
        Start a broker whose first pick of ports has the taken one at
        C{index} (AMQP, distribution, epmd).

        @return: the broker's AMQP URI.
        """
        picks = []
        realPorts = rabbitmq.freePorts

        def freePorts(count):
            ports = realPorts(count)
            if not picks:
                ports[index] = self.port
            picks.append(ports)
            return ports
        self.patch(rabbitmq, "freePorts", freePorts)
        broker = Broker(self.mktemp(), startTimeout=60)
        self.addCleanup(broker.stop)
        broker.start()
        self.assertEqual(len(picks), 2)
        self.assertNotIn(self.port, picks[1])
        self.assertTrue(rabbitmq.amqpAnswers(int(
            broker.amqpUri.rsplit(":", 1)[1].rstrip("/"))))
        return broker.amqpUri

    def test_amqpPortTaken(self):
        self.startWithTaken(0)

    def test_epmdPortTaken(self):
        """
        Something else answering on epmd's port is not taken for epmd.
        """
        self.startWithTaken(2)
