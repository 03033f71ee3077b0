# -*- test-case-name: tests.http.test_backends,tests.http.test_remote -*-
"""
The gateway's backend inside a node (L{NodeBackend}): sessions go to the
node's own apps through L{cocaine.interfaces.INode}; a request the node
refuses before any worker saw it (queue full, app not running here) is
tried once on a remote node of the cluster that publishes the app.
"""

import random

from zope.interface import implementer

from cocaine.errors import CocaineError
from cocaine.http.gateway import Backend, Call

#: The target of the node the gateway runs in.
LOCAL = "local"


@implementer(Call)
class LocalCall:
    """
    A session of the node's own app (a L{cocaine.http.gateway.Call}).
    """

    __slots__ = ("session",)

    def __init__(self, session):
        self.session = session

    def cancel(self):
        session, self.session = self.session, None
        if session is not None:
            session.connectionLost()


@implementer(Backend)
class NodeBackend:
    """
    @ivar context: the node's L{cocaine.context.Context} (its C{node} and
        C{locator} are read when needed: they may be set after the
        gateway is built).
    """

    def __init__(self, context, remote=None, rng=None):
        """
        @param remote: a L{cocaine.http.remote.RemoteApps} for the
            cluster's other nodes, or L{None} for none.
        """
        self.context = context
        self.remote = remote
        self._rng = rng or random.Random()

    def _providers(self, app, tried):
        table = getattr(self.context.locator, "remote", None)
        if table is None or self.remote is None:
            return []
        return sorted((uuid, entry) for uuid, entry in
                      table.providers(app).items() if uuid not in tried)

    def call(self, app, event, headers, chunk, upstream, tried):
        if LOCAL not in tried:
            upstream.target = LOCAL
            guard = getattr(self.context, "guard", None)
            if guard is not None:
                # the node's own apps are reached in process: the guard
                # the apps' listeners apply is applied here
                try:
                    guard.admit(app, "app", "enqueue", headers)
                except CocaineError as e:
                    upstream.error(e)
                    return LocalCall(None)
            session = self.context.node.enqueue(app, upstream, event, None,
                                                headers)
            session.write(chunk)
            session.close()
            return LocalCall(session)
        providers = self._providers(app, tried)
        uuid, (endpoints, _, graph) = self._rng.choice(providers)
        upstream.target = uuid
        return self.remote.call(endpoints, app, event, headers, chunk,
                                upstream, graph)

    def hasOther(self, app, tried):
        return LOCAL not in tried or bool(self._providers(app, tried))

    def healthy(self):
        node = self.context.node
        return node is None or bool(node.running)
