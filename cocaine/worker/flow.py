# -*- test-case-name: tests.worker.test_stream -*-
"""
Waiting in the worker SDK's asyncio protocols: writers for the transport
to take writes again (it says when to pause and when to resume), a reader
for the next message.
"""

import asyncio


class WriteFlow:
    """
    A mixin for an C{asyncio} protocol with a C{_transport}: C{drain}
    waits while the transport has paused writing. Call L{_startFlow} in
    C{__init__} and L{_wakeDrainers} when the connection is lost.
    """

    def _startFlow(self):
        self._paused = False
        self._drainers = []

    def pause_writing(self):
        self._paused = True

    def resume_writing(self):
        self._paused = False
        self._wakeDrainers()

    def _wakeDrainers(self):
        drainers, self._drainers = self._drainers, []
        for waiter in drainers:
            if not waiter.done():
                waiter.set_result(None)

    async def _waitWritable(self):
        """
        Return once the transport takes writes again (at once when it
        does, or when there is no transport).
        """
        if self._paused and self._transport is not None:
            waiter = asyncio.get_running_loop().create_future()
            self._drainers.append(waiter)
            await waiter


async def waitForArrival(owner, timeout, busy):
    """
    Wait, as the one reader of C{owner}, until something arrives: the
    arrival sets the result of C{owner._waiter}.

    @param timeout: seconds, or L{None} for no limit.
    @param busy: the message of the L{RuntimeError} raised when another
        task is already waiting.
    @raise asyncio.TimeoutError: nothing arrived in time.
    """
    if owner._waiter is not None:
        raise RuntimeError(busy)
    waiter = owner._waiter = asyncio.get_running_loop().create_future()
    try:
        if timeout is None:
            await waiter
        else:
            await asyncio.wait_for(waiter, timeout)
    finally:
        owner._waiter = None
