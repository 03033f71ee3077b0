# -*- test-case-name: tests.worker.test_stream -*-
"""
A worker's UNIX stream to the runtime: reads fed to the L{Worker}, writes
of one loop turn sent together, flow control for L{Response.drain}.
"""

import asyncio

from cocaine.protocol.framing import Encoder, packMessage
from cocaine.worker.flow import WriteFlow


class _Connection(WriteFlow, asyncio.BufferedProtocol):
    """
    The UNIX stream to the runtime, feeding a L{Worker}.
    """

    def __init__(self, worker, connected=None):
        """
        @param connected: called with this connection once it is made.
        """
        self._worker = worker
        self._connected = connected
        self._pack = Encoder().pack
        self._transport = None
        self._startFlow()
        self._loop = asyncio.get_running_loop()
        self._closed = self._loop.create_future()
        self._pending = None
        self._buffer = None

    def connection_made(self, transport):
        self._transport = transport
        if self._connected is not None:
            self._connected(self)

    #: One receive buffer, reused: asyncio's default allocates 256 KiB for
    #: every read.
    RECEIVE_BUFFER = 65536

    def get_buffer(self, sizehint):
        if self._buffer is None:
            self._buffer = memoryview(bytearray(self.RECEIVE_BUFFER))
        return self._buffer

    def buffer_updated(self, nbytes):
        # What the read's plain function handlers write collects here, in
        # one send; unless a flush is already due, this read decides when.
        owner = self._pending is None
        if owner:
            self._pending = []
        later = True
        try:
            later = self._worker._received(bytes(self._buffer[:nbytes]))
        finally:
            if owner:
                if later is not False:
                    # The tasks this read started or woke run in the loop's
                    # next turn, queued before this flush: what they write
                    # there leaves in the same send, not one turn later.
                    self._loop.call_soon(self.flush)
                else:
                    self.flush()

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        self._transport = None
        self._wakeDrainers()
        if not self._closed.done():
            self._closed.set_result(None)
        self._worker._lost(exc)

    def write(self, data):
        # Everything written in one turn of the loop (a reply's chunks and
        # its close, say) leaves in one send: one wake-up for the runtime.
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(data)

    def send(self, channel, kind, args):
        """
        Send C{[channel, kind, args]}: L{Worker.send} in one call fewer,
        for a session's L{Response}.
        """
        data = packMessage(self._pack, channel, kind, args)
        pending = self._pending
        if pending is None:
            self._pending = [data]
            self._loop.call_soon(self.flush)
        else:
            pending.append(data)

    def flush(self):
        pending, self._pending = self._pending, None
        transport = self._transport
        if pending and transport is not None and not transport.is_closing():
            transport.write(b"".join(pending))

    async def drain(self):
        # What was written this turn goes to the transport first: otherwise
        # a handler writing in a loop would pile everything up in
        # _pending, the transport would never pause, and nothing would
        # leave before the handler returned.
        if self._pending:
            self.flush()
        await self._waitWritable()

    async def shutdown(self, timeout=1.0):
        """
        Close the stream once what was written is flushed (at most
        C{timeout} seconds).
        """
        self.flush()
        transport = self._transport
        if transport is not None:
            transport.close()
            try:
                await asyncio.wait_for(asyncio.shield(self._closed), timeout)
            except asyncio.TimeoutError:
                transport.abort()
