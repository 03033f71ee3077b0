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
at once with the transport's own C{writeSomeData} (or, for TCP's own,
with what it does: a C{send} on its socket, without its two Python
frames); whatever the socket does not take goes through
C{transport.write} as before. Outside a batch a write is sent the same
way at once. Transports without Twisted's
file-descriptor buffer (test transports, TLS) just get C{write}: the
transport's class must have C{writeSomeData}, because TLS's transport is a
L{twisted.protocols.policies.ProtocolWrapper} whose C{__getattr__} hands
out the TCP transport's buffer and C{writeSomeData}, which would put
plaintext on the socket past TLS. For the same reason a transport that
C{startTLS} turned to TLS (its C{TLS} flag) gets C{write}.
"""

import functools
from errno import ENOBUFS, EWOULDBLOCK

from twisted.internet import tcp


class _Batches:
    """
    The open batches, one set a process (a reactor handles one read at a
    time). Fields of one object rather than module globals: a compiled
    module looks its globals up again after any of them changed, and
    these changed at every read.

    @ivar depth: how deep they nest (0: none is open).
    @ivar pending: C{{transport: [bytes, ...]}} written while one is.
    @ivar turnHeld: whether one is held for the reactor's turn
        (L{holdForTurn}).
    @ivar generation: which is open: a new number as each outermost batch
        opens (one read, or a turn held with L{holdForTurn}), 0 while none
        is, so code that runs in a batch can tell whether two calls came
        from the same one (L{cocaine.engine.pool.Pool.pick}).
    @ivar opened: outermost batches opened so far.
    """

    __slots__ = ("depth", "pending", "turnHeld", "generation", "opened")

    def __init__(self):
        self.depth = 0
        self.pending = {}
        self.turnHeld = False
        self.generation = 0
        self.opened = 0


#: The process's batches.
batches = _Batches()


def write(transport, data):
    """
    Write C{data} to C{transport}, joined with the batch's other writes to
    it when a batch is open.
    """
    batch = batches
    if batch.depth:
        pending = batch.pending
        chunks = pending.get(transport)
        if chunks is None:
            pending[transport] = [data]
        else:
            chunks.append(data)
    else:
        sendNow(transport, data)


def begin():
    """
    Open a batch (batches nest; the outermost one flushes).
    """
    batch = batches
    depth = batch.depth
    if not depth:
        opened = batch.opened + 1
        batch.opened = batch.generation = opened
    batch.depth = depth + 1


def end():
    """
    Close a batch; the outermost one sends what was written in it.
    """
    batch = batches
    depth = batch.depth - 1
    batch.depth = depth
    if depth == 0:
        batch.generation = 0
        if batch.pending:
            flush()


def flush():
    """
    Send what the open batches hold so far, joined per transport; they
    stay open. A long read's handler sends its first answers before it
    has handled the rest, so the peer starts on them meanwhile.
    """
    pending = batches.pending
    if not pending:
        return
    if len(pending) == 1:
        # one peer written to (a sequential request's every read)
        transport, chunks = pending.popitem()
        sendNow(transport, chunks[0] if len(chunks) == 1
                else b"".join(chunks))
        return
    held = list(pending.items())
    pending.clear()
    for transport, chunks in held:
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
    batch = batches
    if not batch.turnHeld:
        batch.turnHeld = True
        begin()
        reactor.callLater(0, _endTurn)


def _endTurn():
    batches.turnHeld = False
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
    # (the map read inline: every send comes here)
    kind = _kinds.get(type(transport))
    if kind is None:
        kind = _kindOf(type(transport))
    if kind:
        try:
            idle = (transport.connected and not transport.disconnecting
                    and not transport._writeDisconnected
                    and (transport.producer is None
                         or not transport.producerPaused)
                    and not transport._tempDataBuffer
                    and len(transport.dataBuffer) == transport.offset)
        except AttributeError:
            # a writeSomeData without Twisted's buffer beside it
            idle = False
        if idle:
            if kind == _SOCKET:
                if transport.TLS:
                    # after startTLS: only write() goes through TLS
                    transport.write(data)
                    return
                sent = _send(transport.socket, data)
            elif getattr(transport, "TLS", False):
                transport.write(data)
                return
            else:
                sent = transport.writeSomeData(data)
            if type(sent) is int and sent >= 0:
                if sent == len(data):
                    return
                data = data[sent:]
    transport.write(data)


#: What L{sendNow} and L{pendingBytes} make of a transport's class:
#: L{_SOCKET} for TCP's own C{writeSomeData} and its C{TLS} flag (TCP's
#: transports and the workers' plain UNIX ones), whose send L{sendNow}
#: makes itself unless C{startTLS} turned the flag on; L{_OWN}
#: for another C{writeSomeData}, which it calls; L{_WRITE} for none (a
#: wrapper's, whose buffer is not the one to look at: see the module's
#: docstring).
_kinds = {}
_WRITE, _OWN, _SOCKET = 0, 1, 2
_ABSENT = object()


def _kindOf(cls):
    """
    @return: what L{_kinds} says of C{cls}, learnt the first time.
    """
    kind = _kinds.get(cls)
    if kind is not None:
        return kind
    # (present, whatever its value: a class that has one has Twisted's
    # buffer beside it, which is what counts)
    own = getattr(cls, "writeSomeData", _ABSENT)
    if own is _ABSENT:
        kind = _WRITE
    elif (own is tcp.Connection.writeSomeData
          and hasattr(cls, "TLS")):
        kind = _SOCKET
    else:
        kind = _OWN
    _kinds[cls] = kind
    return kind


def _send(sock, data):
    """
    Send what C{sock} takes of C{data} as TCP's C{writeSomeData} does,
    without its Python frames (the slice it makes for Windows, the retry
    wrapper): 4,900 instructions a call there, and a sequential request
    through the node sends twice.

    @return: the bytes sent (0 when the socket's buffer is full), or -1
        on an error (the connection's own write finds it and closes).
    """
    while True:
        try:
            return sock.send(data)
        except InterruptedError:
            continue
        except OSError as e:
            if e.errno == EWOULDBLOCK or e.errno == ENOBUFS:
                return 0
            return -1


def pendingBytes(transport):
    """
    @return: the bytes written to C{transport} and not yet sent: those of
        the open batch and those in Twisted's write buffer; L{None} for a
        transport whose buffer cannot be seen (TLS's wrapper).
    """
    if _kindOf(type(transport)) == _WRITE:
        return None
    queued = sum(len(chunk) for chunk in batches.pending.get(transport, ()))
    try:
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
    batches.pending.pop(transport, None)
