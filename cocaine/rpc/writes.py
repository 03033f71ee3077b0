# -*- test-case-name: tests.rpc.test_writes -*-
"""
Writing messages with as few system calls as the traffic allows.

Twisted's C{transport.write} buffers and sends on the next turn of the
reactor: it registers the socket for writability, wakes up, sends, and
unregisters, so each flush costs about four system calls. An app request
crosses two connections each way, which made that the largest cost of a
request through the node.

Here, everything written while a batch is open (one C{dataReceived} call,
which may answer many pipelined requests and wake other connections) is
joined per transport and, when that transport has nothing buffered, sent
at once with the transport's own C{writeSomeData}; whatever the socket
does not take goes through C{transport.write} as before. Outside a batch a
write is sent the same way at once. Transports without Twisted's
file-descriptor buffer (test transports, TLS) just get C{write}: the
transport's class must have C{writeSomeData}, because TLS's transport is a
L{twisted.protocols.policies.ProtocolWrapper} whose C{__getattr__} hands
out the TCP transport's buffer and C{writeSomeData}, which would put
plaintext on the socket past TLS.
"""

import functools

_depth = 0
_pending = {}
_turnHeld = False

#: Which batch is open: a new number as each outermost batch opens (one
#: read, or a turn held with L{holdForTurn}), 0 while none is, so code
#: that runs in a batch can tell whether two calls came from the same one
#: (L{cocaine.engine.pool.Pool.pick}).
generation = 0
_batches = 0


def write(transport, data):
    """
    Write C{data} to C{transport}, joined with the batch's other writes to
    it when a batch is open.
    """
    if _depth:
        chunks = _pending.get(transport)
        if chunks is None:
            _pending[transport] = [data]
        else:
            chunks.append(data)
    else:
        sendNow(transport, data)


def begin():
    """
    Open a batch (batches nest; the outermost one flushes).
    """
    global _depth, generation, _batches
    if not _depth:
        _batches += 1
        generation = _batches
    _depth += 1


def end():
    """
    Close a batch; the outermost one sends what was written in it.
    """
    global _depth, generation
    _depth -= 1
    if _depth == 0:
        generation = 0
        if _pending:
            flush()


def flush():
    """
    Send what the open batches hold so far, joined per transport; they
    stay open. A long read's handler sends its first answers before it
    has handled the rest, so the peer starts on them meanwhile.
    """
    if not _pending:
        return
    pending = list(_pending.items())
    _pending.clear()
    for transport, chunks in pending:
        sendNow(transport, chunks[0] if len(chunks) == 1
                else b"".join(chunks))


def holdForTurn(reactor):
    """
    Open a batch that stays open until this turn of C{reactor} ends (it
    is closed by a C{callLater(0)}, which runs once the reactor has handled
    every connection that was ready). What a front writes to the workers
    of its requests, read from many connections in one turn, then leaves
    in one send per worker instead of one per message: the workers wake
    once a turn, not once a message.
    """
    global _turnHeld
    if not _turnHeld:
        _turnHeld = True
        begin()
        reactor.callLater(0, _endTurn)


def _endTurn():
    global _turnHeld
    _turnHeld = False
    end()


def batched(method):
    """
    Decorate a C{dataReceived}: what it writes is one batch.
    """
    @functools.wraps(method)
    def inBatch(*args, **kwargs):
        begin()
        try:
            return method(*args, **kwargs)
        finally:
            end()
    return inBatch


def sendNow(transport, data):
    """
    Send C{data} now if C{transport} has nothing buffered; otherwise (or
    for what the socket does not take) leave it to C{transport.write}.
    """
    try:
        type(transport).writeSomeData  # not a wrapper's (see the module's docstring)
        idle = (transport.connected and not transport.disconnecting
                and not transport._writeDisconnected
                and (transport.producer is None
                     or not transport.producerPaused)
                and not transport._tempDataBuffer
                and len(transport.dataBuffer) == transport.offset)
    except AttributeError:
        idle = False
    if idle:
        sent = transport.writeSomeData(data)
        if type(sent) is int and sent >= 0:
            if sent == len(data):
                return
            data = data[sent:]
    transport.write(data)


def pendingBytes(transport):
    """
    @return: the bytes written to C{transport} and not yet sent: those of
        the open batch and those in Twisted's write buffer; L{None} for a
        transport whose buffer cannot be seen (TLS's wrapper).
    """
    queued = sum(len(chunk) for chunk in _pending.get(transport, ()))
    try:
        type(transport).writeSomeData  # not a wrapper's (see above)
        queued += (len(transport.dataBuffer) - transport.offset
                   + transport._tempDataLen)
    except (AttributeError, TypeError):
        return None
    return queued


def discard(transport):
    """
    Forget what the open batch holds for C{transport} (its connection was
    cut).
    """
    _pending.pop(transport, None)
