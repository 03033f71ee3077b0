# -*- test-case-name: tests.engine.test_engine,tests.engine.test_lifecycle -*-
"""
How an app's engine admits requests (L{Admission}, the first base of
L{cocaine.engine.engine.AppEngine}): a new session goes onto a worker at
once, into the queue, or is refused; a finished one makes room for the
next in the queue.

Every request goes through here twice (C{enqueue} or C{enqueueWhole},
then C{sessionFinished}). The module is compiled (L{cocaine.compiled})
and L{Admission} is an extension type there (C{admission.pxd}): the
fields those methods use are C struct members. The engine's lifecycle
and everything else it does stay in L{cocaine.engine.engine}, whose
machine's outputs choose what C{enqueue} does (C{_admit}).
"""

from collections import deque

from cocaine.engine.deadline import parseDeadline
from cocaine.engine.session import Session
from cocaine.engine.stats import AppStats
from cocaine.errors import AppNotRunning, EngineBroken, QueueFull


class Admission:
    """
    The engine's sessions: the queue, the running set, and what admits
    and ends them.

    @ivar name: the app's name.
    @ivar pool: its L{cocaine.engine.pool.Pool} of workers (set by the
        engine, which the pool refers to).
    @ivar queue: sessions waiting for a worker.
    @ivar running: sessions on a worker.
    @ivar accepted: sessions accepted since the engine was made.
    @ivar stats: its L{AppStats}, since it was made (the node makes an
        engine each time it starts an app).
    @ivar brokenReason: why the app is broken, or L{None}.
    """

    __slots__ = ("_reactor", "name", "profile", "pool", "queue", "running",
                 "accepted", "stats", "brokenReason", "_idleWaiters",
                 "_stallTimer", "_admit", "_deadlineHeaders", "_deadline")

    def __init__(self, reactor, name, profile):
        self._reactor = reactor
        self.name = name
        self.profile = profile
        self.pool = None
        self.queue = deque()
        self.running = set()
        self.accepted = 0
        self.stats = AppStats(reactor)
        self.brokenReason = None
        self._idleWaiters = []
        self._stallTimer = None
        #: what enqueue does now: the machine's outputs set it
        self._admit = self._refuseStopped
        # the last header list a deadline was read from, and that deadline
        self._deadlineHeaders = self._deadline = None

    def enqueue(self, upstream, event, tag=None, headers=()):
        """
        Take a new session (the app service's C{enqueue}).

        @return: the L{Session}, the target of the client's stream.
        """
        return self._admit(upstream, event, headers)

    def enqueueWhole(self, upstream, chunk, headers, event, tag=None):
        """
        Take a new session whose client sent its whole request at once:
        one chunk (its args list C{chunk}) and the end of its stream
        (L{cocaine.rpc.server}'s whole requests). A worker that takes it
        gets the invoke, the chunk and the close in one write.

        @param headers: the opening's decoded headers, or L{None}.
        @return: the L{Session}, its request stream ended.
        """
        return self._admit(upstream, event, headers, chunk)

    def _accept(self, upstream, event, headers, whole=None):
        worker = self.pool.pick(event)
        if worker is not None:
            session = Session(self, event, upstream, worker, whole)
            self.accepted += 1
            self.running.add(session)
        elif len(self.queue) >= self.profile.queueLimit:
            self._report("queue-full", depth=len(self.queue))
            session = Session(self, event, upstream)
            session.refuse(QueueFull("app {}: queue full ({} requests "
                                   "waiting)".format(self.name,
                                                     len(self.queue))))
            return session
        else:
            session = Session(self, event, upstream, None, whole)
            self.accepted += 1
            self.queue.append(session)
            self.pool.scale()
        if not headers:
            deadline = None
        elif headers is self._deadlineHeaders:
            # a client's literal headers, repeated: the server protocol
            # hands back the same list (ServerProtocol._readHeaders)
            deadline = self._deadline
        else:
            deadline = self._deadline = parseDeadline(headers)
            self._deadlineHeaders = headers
        if deadline is not None:
            session.setDeadline(self._reactor, deadline)
        if self._stallTimer is None:
            self._watchStalls()
        return session

    def _refuseBroken(self, upstream, event, headers, whole=None):
        return self._refuse(upstream, event, EngineBroken(
            "app {} is broken: {}".format(self.name, self.brokenReason)))

    def _refuseStopped(self, upstream, event, headers, whole=None):
        return self._refuse(upstream, event, AppNotRunning(
            "app {} is {}".format(self.name, self.state)))

    def _refuse(self, upstream, event, error):
        session = Session(self, event, upstream)
        session.refuse(error)
        return session

    def queueFull(self):
        """
        Whether a new session would be refused now (timers skip then).
        """
        return (self._admit != self._accept
                or (len(self.queue) >= self.profile.queueLimit
                    and self.pool.pick() is None))

    def dispatchQueue(self):
        """
        Give waiting sessions to the workers that can take them.
        """
        queue = self.queue
        while queue:
            worker = self.pool.pick(queue[0].event)
            if worker is None:
                break
            session = queue.popleft()
            self.running.add(session)
            session.assigned(worker)

    def sessionFinished(self, session):
        self.running.discard(session)
        if self.queue:
            self.dispatchQueue()
        if self._idleWaiters and not self.running and not self.queue:
            self._idle()

    def sessionAbandoned(self, session):
        try:
            self.queue.remove(session)
        except ValueError:
            return
        if self._idleWaiters and not self.running and not self.queue:
            self._idle()

    def failQueue(self, error):
        """
        Fail every waiting session with C{error}.
        """
        queue, self.queue = self.queue, deque()
        for session in queue:
            session.fail(error)
        if self._idleWaiters and not self.running:
            self._idle()

    def _idle(self):
        waiters, self._idleWaiters = self._idleWaiters, []
        for waiter in waiters:
            waiter.callback(None)
