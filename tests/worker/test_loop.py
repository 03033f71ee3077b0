# -*- test-case-name: tests.worker.test_loop -*-
"""
Tests for the worker SDK's choice of event loop
(L{cocaine.worker.worker.loopFactory} and L{runLoop}).
"""

import asyncio
import sys

from twisted.trial.unittest import SynchronousTestCase

from cocaine.worker.worker import ENV_LOOP, loopFactory, runLoop


class LoopFactoryTests(SynchronousTestCase):
    """
    uvloop where it is installed, asyncio's loop otherwise or on request.
    """

    def test_uvloopWhenInstalled(self):
        """
        With uvloop importable (and C{asyncio.Runner}), the worker's loop
        is uvloop's.
        """
        try:
            import uvloop
        except ImportError:
            raise self.skipTest("uvloop is not installed")
        if not hasattr(asyncio, "Runner"):
            raise self.skipTest("Python before 3.11: asyncio's loop")
        self.assertIs(loopFactory({}), uvloop.new_event_loop)

    def test_asyncioOnRequest(self):
        """
        C{COCAINE_WORKER_LOOP=asyncio} keeps asyncio's own loop.
        """
        self.assertIs(loopFactory({ENV_LOOP: "asyncio"}),
                      asyncio.new_event_loop)
        self.assertIs(loopFactory({ENV_LOOP: "AsyncIO"}),
                      asyncio.new_event_loop)

    def test_asyncioWithoutUvloop(self):
        """
        Without uvloop the worker runs on asyncio's loop.
        """
        missing = object()
        saved = sys.modules.get("uvloop", missing)
        # a None entry makes "import uvloop" raise ImportError
        sys.modules["uvloop"] = None

        def restore():
            if saved is missing:
                del sys.modules["uvloop"]
            else:
                sys.modules["uvloop"] = saved
        self.addCleanup(restore)
        self.assertIs(loopFactory({}), asyncio.new_event_loop)

    def test_runLoop(self):
        """
        L{runLoop} runs a coroutine to its end on a loop of the factory
        and returns its result; the loop is closed afterwards.
        """
        if not hasattr(asyncio, "Runner"):
            raise self.skipTest("Python before 3.11: asyncio.run only")
        loops = []

        def factory():
            loop = asyncio.new_event_loop()
            loops.append(loop)
            return loop

        async def main():
            self.assertIs(asyncio.get_running_loop(), loops[-1])
            return 7

        self.assertEqual(runLoop(main(), factory), 7)
        self.assertEqual(len(loops), 1)
        self.assertTrue(loops[0].is_closed())

    def test_runLoopAsyncio(self):
        """
        With asyncio's factory, L{runLoop} is C{asyncio.run}.
        """
        async def main():
            return 8

        self.assertEqual(runLoop(main(), asyncio.new_event_loop), 8)
