# -*- test-case-name: tests.tool.test_peers -*-
"""
Reaching the other nodes of a cluster: the ones the locator's C{cluster}
method lists (C{{uuid: [host, port]}}), each asked first-hand through its
own locator.

    nodes = linkedNodes(ctx)
    answers = askEach(ctx, nodes, lambda peer: peer.node.list())

L{askEach} asks every node at once, each in a thread of its own with the
tool's C{--timeout} (L{PEER_TIMEOUT} when that is 0, "wait forever": the
user's own node may make the tool wait, a peer never does), so a node that
went away costs one timeout, not one per node, and is named with the
reason it did not answer.
"""

import threading
import time
from contextlib import contextmanager

from cocaine.errors import CocaineError
from cocaine.tool.context import (
    ToolContext, ToolError, plain, unreachableReason)

#: Seconds a peer has to answer each call when C{--timeout} is 0.
PEER_TIMEOUT = 10.0

#: At most this long to wait for a node's first load report.
LOAD_WAIT = 3.0

#: Seconds L{askEach} waits beyond three timeouts (connecting, asking,
#: closing) before it names a node that is still being asked.
SLACK = 5.0


def peerTimeout(ctx):
    """
    Seconds each call to a peer of C{ctx}'s node may take.
    """
    return ctx.timeout or PEER_TIMEOUT


def linkedNodes(ctx):
    """
    The remote nodes linked with C{ctx}'s node: C{{uuid: (host, port)}},
    from its locator's C{cluster} method.
    """
    nodes = ctx.locator.cluster() or {}
    return {plain(uuid): (plain(endpoint[0]), endpoint[1])
            for uuid, endpoint in nodes.items()}


def address(host, port):
    """
    C{host:port}, with an IPv6 host in brackets.
    """
    if ":" in host:
        return "[{}]:{}".format(host, port)
    return "{}:{}".format(host, port)


@contextmanager
def peerContext(ctx, host, port):
    """
    A L{ToolContext} for the node whose locator is at C{host:port}, with
    C{ctx}'s console and the peer timeout; its connections are closed on
    the way out.
    """
    timeout = peerTimeout(ctx)
    peer = ToolContext(host, port, timeout, console=ctx.console,
                       tls=getattr(ctx, "tls", None))
    try:
        yield peer
    finally:
        peer.close(timeout=timeout)


def _unreachableErrors():
    from twisted.internet.defer import TimeoutError as DeferredTimeout
    from twisted.internet.error import ConnectError
    return (CocaineError, ConnectError, DeferredTimeout, OSError, ToolError)


#: What asking a node raises when it cannot be reached, does not answer
#: or answers with an error.
UNREACHABLE = _unreachableErrors()


def askEach(ctx, nodes, question):
    """
    Ask every node C{question(peer)} at once, C{peer} being a
    L{peerContext} of that node.

    @param nodes: C{{uuid: (host, port)}}.
    @return: C{{uuid: (answer, None)}} for a node that answered,
        C{{uuid: (None, reason)}} for one that did not
        (L{unreachableReason}).
    @raise Exception: what a C{question} raised that is not about its
        node (a bug), once every node was asked.
    """
    timeout = peerTimeout(ctx)
    answers = {}
    bugs = []

    def ask(uuid, host, port):
        try:
            with peerContext(ctx, host, port) as peer:
                answers[uuid] = (question(peer), None)
        except UNREACHABLE as e:
            answers[uuid] = (None, unreachableReason(e))
        except BaseException as e:
            bugs.append(e)

    threads = []
    for uuid, (host, port) in sorted(nodes.items()):
        thread = threading.Thread(target=ask, args=(uuid, host, port),
                                  name="cocaine-tool-peer", daemon=True)
        thread.start()
        threads.append(thread)
    # Each call is bounded by the timeout; the deadline bounds the whole,
    # connecting and closing included, should a node stall in between.
    deadline = time.monotonic() + 3 * timeout + SLACK
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    if bugs:
        raise bugs[0]
    # a copy: a node still being asked may answer after all, too late
    result = dict(answers)
    for uuid in nodes:
        if uuid not in result:
            result[uuid] = (None, "no answer within {:g}s".format(timeout))
    return result


def nodeLoad(peer):
    """
    A node's services and load report, first-hand: its locator's
    C{connect} stream with C{{"load": true}} (docs/cluster.md), read up to
    the first load report; the stream ends when C{peer} is closed.

    @param peer: a L{peerContext} of the node.
    @return: C{(uuid, services, load)}: its uuid, the sorted names of the
        services it publishes, and its load report, or L{None} for a node
        that sends none within L{LOAD_WAIT} seconds (no cluster section,
        or not ours).
    """
    from twisted.internet.defer import TimeoutError as DeferredTimeout
    from cocaine.rpc.client import ChannelClosed
    channel = peer.locator.connect("cocaine-tool", {"load": True})
    first = plain(channel.read(timeout=peer.callTimeout))
    uuid, services = first[0], dict(first[1])
    load = None
    deadline = time.monotonic() + min(peer.timeout, LOAD_WAIT)
    while load is None and time.monotonic() < deadline:
        try:
            chunk = plain(channel.read(
                timeout=max(0.1, deadline - time.monotonic())))
        except (DeferredTimeout, ChannelClosed, CocaineError):
            break
        if len(chunk) > 2 and isinstance(chunk[2], dict):
            load = chunk[2].get("load")
            continue
        for name, entry in chunk[1].items():
            if entry and entry[0]:
                services[name] = entry
            else:
                services.pop(name, None)
    return uuid, sorted(services), load
