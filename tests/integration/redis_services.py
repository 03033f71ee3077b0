"""
What the integration tests of the Redis-backed services share: a node
config serving them all, nodes on one real Redis, and one run of the real
Cocaine 0.12 framework client against such a node
(L{tests.integration.framework_services}).
"""

import json
import os
import subprocess
import time

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.trial.unittest import SkipTest

from cocaine.errors import BackendUnavailable
from tests.integration.framework import frameworkPython
from tests.integration.node import Node, connectedService, startConnected
from tests.integration.redis import RedisServer

_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "framework_services.py")


def servicesConfig(url):
    """
    A node serving the local cache, the Redis one, elliptics and storage
    on a C{redis} backend, all on the Redis at C{url}.
    """
    return {"network": {"locator": 0},
            "storages": {"core": {"type": "files"},
                         "shared": {"type": "redis", "args": {"url": url}}},
            "services": {
                "logging": {"type": "logging"},
                "storage": {"type": "storage", "args": {
                    "backend": "shared"}},
                "cache": {"type": "cache", "args": {"max-size": 100}},
                "shared-cache": {"type": "cache", "args": {
                    "backend": "redis", "url": url}},
                "elliptics": {"type": "elliptics", "args": {"url": url}},
                "elliptics-source": {"type": "elliptics", "args": {
                    "source": "shared"}}}}


@inlineCallbacks
def until(condition, timeout=20.0):
    """
    Wait until C{condition()} (a Deferred of a bool) is true.
    """
    deadline = time.monotonic() + timeout
    while not (yield condition()):
        if time.monotonic() > deadline:
            raise AssertionError("not true within {} s".format(timeout))
        yield deferLater(reactor, 0.1, lambda: None)


class RedisNodes:
    """
    A Redis and nodes configured with L{servicesConfig}, stopped at
    teardown.
    """

    timeout = 120

    def startRedis(self):
        self.redis = RedisServer(self.mktemp()).start()
        self.addCleanup(lambda: self.redis.stop())

    def restartRedis(self):
        """
        Start Redis again (after C{self.redis.stop()}) on the same port, as
        a fresh server.
        """
        self.redis = RedisServer(self.redis.directory,
                                 port=self.redis.port).start()

    @inlineCallbacks
    def assertRedisDown(self, *calls):
        """
        Each of C{calls} fails with L{BackendUnavailable} naming the
        stopped Redis server.
        """
        for call in calls:
            try:
                yield call()
            except BackendUnavailable as e:
                self.assertIn("127.0.0.1:{}".format(self.redis.port), str(e))
            else:
                self.fail("no error while Redis is down")

    def startNode(self):
        return startConnected(
            self, Node(self.mktemp(), servicesConfig(self.redis.url)))

    def service(self, locator, name):
        return connectedService(self, locator, name)

    def connected(self, service):
        """
        Whether C{service} reaches its Redis (a call does not fail with
        L{BackendUnavailable}).
        """
        d = service.get(b"probe")
        d.addCallback(lambda _: True)
        d.addErrback(lambda f: f.trap(BackendUnavailable) and False)
        return d


class FrameworkRun:
    """
    One run of the framework script against one node, shared by the tests
    that check its steps (trial has no class fixtures).
    """

    done = False
    failed = None

    @classmethod
    def once(cls, testCase):
        if cls.failed is not None:
            raise cls.failed
        if cls.done:
            return cls.steps, cls.output
        cls.done = True
        try:
            python = frameworkPython()
        except SkipTest as e:
            cls.failed = e
            raise
        directory = os.path.abspath("framework-services")
        redis = RedisServer(os.path.join(directory, "redis")).start()
        try:
            node = Node(os.path.join(directory, "node"),
                        servicesConfig(redis.url)).start()
            try:
                result = subprocess.run(
                    [python, _SCRIPT, str(node.port)], capture_output=True,
                    text=True, timeout=120,
                    env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                    cwd=os.path.dirname(_SCRIPT))
            finally:
                node.stop()
        finally:
            redis.stop()
        cls.output = result.stdout + result.stderr
        if result.returncode != 0:
            cls.failed = AssertionError(cls.output)
            raise cls.failed
        cls.steps = {}
        for line in result.stdout.splitlines():
            record = json.loads(line)
            cls.steps[record.pop("step")] = record
        return cls.steps, cls.output


class FrameworkSteps:
    """
    A test case mixin reading the steps of L{FrameworkRun}.
    """

    timeout = 300

    def setUp(self):
        self.steps, self.output = FrameworkRun.once(self)

    def step(self, name):
        self.assertIn(name, self.steps, self.output)
        return self.steps[name]
