# -*- test-case-name: tests.integration.test_platform_app -*-
"""
Apps that use the platform services from inside a worker, on two real
nodes sharing a real Redis: C{examples/apps/platform} (our SDK) and
C{tests/integration/apps/fwplatform} (the same app on the REAL Cocaine
0.12 framework, run by its own interpreter).

Each node serves C{cache} (its own LRU), C{dcache} (a cache with the
Redis backend), C{urlfetch}, C{chrono} and C{notifications} (Redis
backend), and the apps as local apps. urlfetch fetches only a page this
test serves on 127.0.0.1.
"""

import json
import os
import shutil
import stat

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.trial.unittest import TestCase

from cocaine.client import Locator, Service
from cocaine.client.deploy import upload
from cocaine.errors import CATEGORY_FRAMEWORK, CATEGORY_USER, CocaineError
from tests.integration.apps012 import FRAMEWORK_SLAVE
from tests.integration.framework import frameworkPython
from tests.integration.node import ROOT, Node
from tests.integration.redis import RedisServer

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.join(ROOT, "examples", "apps", "platform")
FRAMEWORK_APP = os.path.join(HERE, "apps", "fwplatform")

#: The apps' error codes (see examples/apps/platform/worker.py).
BAD_REQUEST, SERVICE_FAILED, NO_MESSAGE = 1, 2, 3

#: The page urlfetch fetches.
PAGE = b"<html>the platform app fetched this</html>\n" * 25

PROFILE = {"pool-limit": 1, "log-output": True}

#: An app whose distributed cache is a service the node does not have.
MISNAMED = dict(PROFILE, environment={"PLATFORM_DCACHE": "nowhere"})


def frameworkApp(directory, python):
    """
    A copy of fwplatform in C{directory}, its slave C{run} executing the
    framework's C{python} on the unchanged worker script.
    """
    directory = os.path.abspath(directory)
    shutil.copytree(FRAMEWORK_APP, directory)
    slave = os.path.join(directory, "run")
    with open(slave, "w") as f:
        f.write(FRAMEWORK_SLAVE.format(python=python))
    os.chmod(slave, os.stat(slave).st_mode | stat.S_IXUSR)
    return directory


def nodeConfig(redisURL, local):
    """
    A node with the platform services (the shared ones on C{redisURL})
    and the C{local} apps.
    """
    return {"network": {"locator": 0}, "services": {
        "logging": {"type": "logging"},
        "storage": {"type": "storage"},
        "cache": {"type": "cache"},
        "dcache": {"type": "cache", "args": {
            "backend": "redis", "url": redisURL}},
        "urlfetch": {"type": "urlfetch"},
        "chrono": {"type": "chrono"},
        "notifications": {"type": "notifications", "args": {
            "backend": "redis", "url": redisURL}},
        "node": {"type": "node", "args": {"local": local}}}}


class _Page(Resource):
    isLeaf = True

    def render_GET(self, request):
        if request.path != b"/page":
            request.setResponseCode(404)
            return b"no such page"
        return PAGE


class _TwoNodes(TestCase):
    """
    A Redis, a page server, and nodes A and B serving the app C{app} (and
    C{app + "-misnamed"} whose C{dcache} is missing).

    @ivar app: the app's name on both nodes.
    """

    timeout = 180
    app = None

    def localApps(self):
        """
        C{{name: {"path": ..., "profile": ...}}} for both nodes.
        """
        raise NotImplementedError()

    def setUp(self):
        directory = os.path.abspath(self.mktemp())
        self.directory = directory
        self.redis = RedisServer(os.path.join(directory, "redis")).start()
        self.addCleanup(self.redis.stop)
        web = reactor.listenTCP(0, Site(_Page()), interface="127.0.0.1")
        self.addCleanup(web.stopListening)
        self.page = "http://127.0.0.1:{}/page".format(web.getHost().port)
        local = self.localApps()
        self.nodes = []
        for name in ("a", "b"):
            node = Node(os.path.join(directory, name),
                        nodeConfig(self.redis.url, local))
            node.start()
            self.addCleanup(node.stop)
            self.nodes.append(node)
        self.a, self.b = self.nodes
        self.locators = {}

    def service(self, node, name):
        locator = self.locators.get(node.port)
        if locator is None:
            locator = self.locators[node.port] = Locator(
                reactor, [("127.0.0.1", node.port)], timeout=30)
            self.addCleanup(locator.disconnect)
        service = Service(name, locator, timeout=60)
        self.addCleanup(service.disconnect)
        return service

    async def call(self, node, event, body, app=None):
        """
        One request to the app on C{node}: C{body} as JSON (or as the
        bytes given), its JSON answer.
        """
        channel = await self.service(node, app or self.app).enqueue(event)
        channel.write(body if isinstance(body, bytes)
                      else json.dumps(body).encode())
        channel.close()
        chunks = [chunk async for chunk in channel]
        return json.loads(b"".join(chunks))

    async def failure(self, node, event, body, app=None):
        with self.assertRaises(CocaineError) as raised:
            await self.call(node, event, body, app)
        return raised.exception

    # -- what both apps do -------------------------------------------------

    async def checkCaches(self):
        """
        The distributed cache is shared by the nodes, the local one not.
        """
        self.assertEqual(
            await self.call(self.a, "dcache-put",
                            {"key": "greeting", "value": "hello from A"}),
            {"key": "greeting", "stored": True})
        self.assertEqual(
            await self.call(self.b, "dcache-get", {"key": "greeting"}),
            {"key": "greeting", "exists": True, "value": "hello from A"})
        # it is really in Redis, under the cache's prefix
        self.assertIn(b"hello from A", self.redis.command(
            "GET", "cocaine:cache:greeting"))
        await self.call(self.b, "dcache-put",
                        {"key": "greeting", "value": "B was here"})
        self.assertEqual(
            (await self.call(self.a, "dcache-get",
                             {"key": "greeting"}))["value"], "B was here")

        await self.call(self.a, "cache-put",
                        {"key": "local", "value": "only on A"})
        self.assertEqual(
            await self.call(self.a, "cache-get", {"key": "local"}),
            {"key": "local", "exists": True, "value": "only on A"})
        self.assertEqual(
            await self.call(self.b, "cache-get", {"key": "local"}),
            {"key": "local", "exists": False, "value": None})
        self.assertEqual(
            (await self.call(self.b, "dcache-get",
                             {"key": "local"}))["exists"], False)

    async def checkFetch(self):
        self.assertEqual(
            await self.call(self.a, "fetch", {"url": self.page}),
            {"url": self.page, "success": True, "code": 200,
             "length": len(PAGE)})
        missing = self.page + "-missing"
        self.assertEqual(
            await self.call(self.b, "fetch",
                            {"url": missing, "timeout": 3000}),
            {"url": missing, "success": False, "code": 404,
             "length": len(b"no such page")})

    async def checkAfter(self):
        answer = await self.call(self.a, "after", {"seconds": 0.2})
        self.assertEqual(answer["seconds"], 0.2)
        self.assertIsInstance(answer["timer"], int)

    async def checkNotifications(self, listener, publisher, channel):
        """
        A C{listen} through the app on C{listener} hears what the app on
        C{publisher} publishes. The test publishes until the publish is
        delivered somewhere (the listener's subscription may take a moment
        to reach Redis); the first delivered one is what it hears.
        """
        listening = Deferred.fromCoroutine(self.call(
            listener, "listen", {"channel": channel, "timeout": 60}))
        for attempt in range(600):
            if listening.called:
                break
            answer = await self.call(publisher, "publish", {
                "channel": channel, "value": "news #{}".format(attempt)})
            self.assertEqual(answer["channel"], channel)
            if answer["delivered"] >= 1:
                break
            await deferLater(reactor, 0.05, lambda: None)
        else:
            self.fail("no publish on {} reached a subscriber".format(channel))
        self.assertEqual(await listening,
                         {"channel": channel,
                          "value": "news #{}".format(attempt)})
        return attempt

    async def checkErrors(self, category):
        """
        Bad requests and a missing service are the app's errors; with
        Redis stopped, the distributed cache fails naming the service.
        """
        error = await self.failure(self.a, "cache-get", b"not json")
        self.assertEqual((error.category, error.code),
                         (category, BAD_REQUEST))
        self.assertIn("not JSON", error.message)
        error = await self.failure(self.a, "cache-put", {"key": "k"})
        self.assertEqual(error.code, BAD_REQUEST)
        self.assertIn("'value' is missing", error.message)
        error = await self.failure(self.a, "after", {"seconds": "soon"})
        self.assertIn("'seconds' must be", error.message)

        error = await self.failure(self.b, "dcache-get", {"key": "k"},
                                   app=self.app + "-misnamed")
        self.assertEqual((error.category, error.code),
                         (category, SERVICE_FAILED))
        self.assertTrue(error.message.startswith(
            "dcache service 'nowhere' failed in "), error.message)
        self.assertIn("[10, 1] service 'nowhere' is not available",
                      error.message)                  # ServiceNotAvailable
        # the same app's other services are there
        self.assertEqual(
            (await self.call(self.b, "cache-get", {"key": "k"},
                             app=self.app + "-misnamed"))["exists"], False)

        self.redis.stop()
        error = await self.failure(self.a, "dcache-get", {"key": "k"})
        self.assertEqual((error.category, error.code),
                         (category, SERVICE_FAILED))
        self.assertTrue(error.message.startswith(
            "dcache service 'dcache' failed in get: "), error.message)
        self.assertIn("[1, 111] {} is not reachable".format(
            self.redis.url), error.message)           # BackendUnavailable
        # the node-local cache does not need Redis
        self.assertEqual(
            (await self.call(self.a, "cache-get", {"key": "k"}))["exists"],
            False)


class PlatformAppTests(_TwoNodes):
    """
    C{examples/apps/platform}, our SDK.
    """

    app = "platform"

    def localApps(self):
        return {"platform": {"path": APP, "profile": PROFILE},
                "platform-misnamed": {"path": APP, "profile": MISNAMED}}

    async def test_caches(self):
        await self.checkCaches()

    async def test_ttl(self):
        """
        A TTL given in the request reaches the distributed cache.
        """
        await self.call(self.a, "dcache-put",
                        {"key": "brief", "value": "v", "ttl": 600})
        ttl = int(self.redis.command("TTL", "cocaine:cache:brief")
                  .strip().lstrip(b":"))
        self.assertTrue(0 < ttl <= 600, ttl)

    async def test_fetch(self):
        await self.checkFetch()

    async def test_after(self):
        await self.checkAfter()

    async def test_notificationsAcrossNodes(self):
        await self.checkNotifications(self.a, self.b, "news")
        await self.checkNotifications(self.b, self.a, "sport")

    async def test_listenTimeout(self):
        error = await self.failure(self.a, "listen",
                                   {"channel": "quiet", "timeout": 0.2})
        self.assertEqual((error.category, error.code),
                         (CATEGORY_USER, NO_MESSAGE))
        self.assertEqual(error.message, "no message on 'quiet' within 0.2 s")

    async def test_errors(self):
        await self.checkErrors(CATEGORY_USER)

    async def test_uploaded(self):
        """
        Deployed as its docstring says (uploaded to storage, then
        started), the app finds its services by the manifest's names.
        """
        await upload(self.service(self.b, "storage"), "uploaded", path=APP,
                     profile=PROFILE, profileName="small")
        await self.service(self.b, "node").start_app("uploaded", "small")
        await self.call(self.a, "dcache-put", {"key": "k", "value": "v"})
        self.assertEqual(
            await self.call(self.b, "dcache-get", {"key": "k"},
                            app="uploaded"),
            {"key": "k", "exists": True, "value": "v"})


class FrameworkPlatformAppTests(_TwoNodes):
    """
    fwplatform, the same app on the real Cocaine 0.12 framework: its own
    C{cocaine.services.Service} calls our services from the worker.
    """

    app = "fwplatform"

    def localApps(self):
        python = frameworkPython()
        path = frameworkApp(os.path.join(self.mktemp(), "fwplatform"),
                            python)
        return {"fwplatform": {"path": path, "profile": PROFILE},
                "fwplatform-misnamed": {"path": path, "profile": MISNAMED}}

    async def test_services(self):
        await self.checkCaches()
        await self.checkFetch()
        await self.checkAfter()
        await self.checkNotifications(self.a, self.b, "news")

    async def test_errors(self):
        # the framework's response.error knows category 42 only
        await self.checkErrors(CATEGORY_FRAMEWORK)
