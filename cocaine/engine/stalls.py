# -*- test-case-name: tests.engine.test_engine -*-
"""
The stall sweep of an app's engine (L{StallSweep}, mixed into
L{cocaine.engine.engine.AppEngine}): sessions whose clients keep their
request streams open without sending anything are ended after
C{session-idle-timeout}, by one timer for the whole engine (none per
session, none per chunk).

It uses the engine's C{profile}, C{queue}, C{running}, C{log}, C{name},
C{_reactor} and C{_stallTimer}.
"""


class StallSweep:
    """
    The engine's one stall-sweep timer and what it ends.
    """

    #: Stall sweeps per C{session-idle-timeout}: a session is ended after
    #: between one and one and a half timeouts without a chunk.
    STALL_SWEEPS = 2

    def _watchStalls(self):
        """
        Arm the one stall-sweep timer of the engine (none per session, none
        per chunk), while sessions exist.
        """
        timeout = self.profile.sessionIdleTimeout
        if timeout and (self.queue or self.running):
            self._stallTimer = self._reactor.callLater(
                timeout / self.STALL_SWEEPS, self._sweepStalled)

    def _sweepStalled(self):
        """
        End the sessions whose clients left their request streams open
        without sending anything for C{session-idle-timeout}: 200 such
        sessions would otherwise hold every worker slot and queue place of
        the app forever (issue 14, finding 8).
        """
        self._stallTimer = None
        sweeps = self.STALL_SWEEPS
        stalled = [s for s in list(self.queue) + list(self.running)
                   if s.requestOpen and s.sweep(sweeps)]
        if stalled:
            self.log.info("app {app}: ended {count} sessions whose clients "
                          "sent nothing for {timeout:g}s "
                          "(session-idle-timeout)", app=self.name,
                          count=len(stalled),
                          timeout=self.profile.sessionIdleTimeout)
        self._watchStalls()
