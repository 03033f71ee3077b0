# -*- test-case-name: tests.worker.test_worker -*-
"""
A worker's control channel (PROTOCOL.md section 6): heartbeats, the
disown timeout and the runtime's terminate, with the grace period given
to running handlers.
"""

import asyncio

from cocaine.protocol.worker import (
    CONTROL_CHANNEL, HEARTBEAT, TERMINATE, TERMINATING, text)

#: Exit statuses.
EXIT_OK = 0
EXIT_FAILURE = 1


class ControlChannel:
    """
    What L{cocaine.worker.worker.Worker} does on its control channel. It
    uses the worker's C{send}, C{drain}, C{log}, C{stop}, its sessions
    (C{_sessions}: channel -> C{(request, response, task)}) and its
    timings (C{heartbeatInterval}, C{disownTimeout}, C{terminateGrace}).
    """

    _heartbeatTimer = None
    _disownTimer = None
    _terminating = False

    def _heartbeat(self):
        self.send(CONTROL_CHANNEL, HEARTBEAT, [])
        loop = asyncio.get_running_loop()
        if self._disownTimer is None:
            self._disownTimer = loop.call_later(
                self.disownTimeout, self._disowned)
        self._heartbeatTimer = loop.call_later(
            self.heartbeatInterval, self._heartbeat)

    def _disowned(self):
        self._disownTimer = None
        self.log("disowned: no heartbeat answer from the runtime in {:g} s; "
                 "exiting".format(self.disownTimeout))
        self.stop(EXIT_FAILURE)

    def _stopTimers(self):
        for timer in (self._heartbeatTimer, self._disownTimer):
            if timer is not None:
                timer.cancel()
        self._heartbeatTimer = self._disownTimer = None

    def _terminate(self, args):
        if self._terminating:
            return
        self._terminating = True
        self._stopTimers()
        code = args[0] if args else 1
        reason = args[1] if len(args) > 1 else b""
        self.log("terminate requested by the runtime: {!r} {}; {} session(s)"
                 " running".format(code, text(reason), len(self._sessions)))
        asyncio.get_running_loop().create_task(
            self._shutdown(args))

    async def _shutdown(self, args):
        """
        Let running handlers finish within the grace period, fail the rest,
        answer the terminate and stop.
        """
        tasks = [task for _, _, task in self._sessions.values()
                 if task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks,
                                            timeout=self.terminateGrace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=0.1)
        for request, response, task in list(self._sessions.values()):
            response._fail(TERMINATING,
                           "worker is terminating: the handler did not "
                           "finish")
        # Echo what the runtime sent; text goes back as msgpack str, as the
        # real framework (which packs every string as raw) does.
        answer = [text(value) if isinstance(value, bytes) else value
                  for value in args]
        self.send(CONTROL_CHANNEL, TERMINATE, answer)
        await self.drain()
        self.log("terminated")
        self.stop(EXIT_OK)
