# -*- test-case-name: tests.worker.test_loop -*-
"""
The worker's event loop: uvloop's where it is installed, asyncio's
otherwise or when asked (C{COCAINE_WORKER_LOOP=asyncio}).
"""

import asyncio
import os

#: C{asyncio} keeps asyncio's own event loop where uvloop is installed.
ENV_LOOP = "COCAINE_WORKER_LOOP"


def loopFactory(environ=None):
    """
    What makes the worker's event loop: uvloop's (libuv's loop with its
    transports in C: less CPU per request, docs/performance.md) when it
    is installed and Python has C{asyncio.Runner} (3.11), unless
    C{COCAINE_WORKER_LOOP=asyncio}; asyncio's otherwise.

    @return: a callable returning a new event loop.
    """
    environ = os.environ if environ is None else environ
    if (environ.get(ENV_LOOP, "").lower() != "asyncio"
            and hasattr(asyncio, "Runner")):
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


def runLoop(main, factory=None):
    """
    Run the coroutine C{main} to its end on a new loop from C{factory}
    (L{loopFactory}'s by default), as C{asyncio.run} does.

    @return: what C{main} returns.
    """
    factory = factory or loopFactory()
    if factory is asyncio.new_event_loop:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
