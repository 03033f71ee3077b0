# -*- test-case-name: tests.worker.test_stream -*-
"""
Write flow control for the worker SDK's asyncio protocols: the transport
says when to pause writing and when to resume, and writers wait for it.
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
