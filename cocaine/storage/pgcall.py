# -*- test-case-name: tests.storage.test_pgpipeline -*-
"""
What the PostgreSQL runner (L{cocaine.storage.pgpipeline}) and its
connections (L{cocaine.storage.pgconnection}) share: a statement's
L{Call}, what can happen to a connection (L{PgConnectionInputs}, its
machine's inputs), and libpq's messages made text.
"""

from typing import Protocol

from twisted.internet.defer import Deferred


class Call:
    """
    One statement: what is sent, and its outcome once answered.

    @ivar deadline: when it must have answered (the reactor's seconds).
    @ivar retried: whether it was sent again after its connection was lost.
    @ivar outcome: its rows, or the exception it fails with.
    @ivar sentAt: when it was last sent (the reactor's seconds).
    """

    __slots__ = ("command", "values", "types", "formats", "deferred",
                 "deadline", "retried", "outcome", "sentAt")

    def __init__(self, command, values, types, formats, deadline):
        self.command = command
        self.values = values
        self.types = types
        self.formats = formats
        self.deadline = deadline
        self.retried = False
        self.outcome = []
        self.sentAt = None
        self.deferred = Deferred(self._cancelled)

    def _cancelled(self, deferred):
        # the answer, when it comes, is dropped (PipelinedRunner._fire)
        pass


class PgConnectionInputs(Protocol):
    """
    What happens to one connection of the runner.
    """

    def open(self) -> None:
        "Start connecting."

    def readable(self) -> None:
        "The socket has something to read."

    def writable(self) -> None:
        "The socket takes more."

    def resolved(self, attempts: list) -> None:
        """
        The dsn's hosts were resolved: C{attempts} are the conninfos to
        try in turn, each with one address, and where each goes.
        """

    def connected(self) -> None:
        "libpq made the connection."

    def submit(self, call: Call) -> None:
        "Run a statement."

    def lost(self, reason: str, retry: bool) -> None:
        """
        The connection failed, the server closed it, or a statement did
        not answer in time; the statements it still holds are sent again
        on another connection if C{retry}, once each.
        """

    def drained(self) -> None:
        "The last statement in flight answered."

    def tick(self) -> None:
        "The timer fired: a deadline (connecting, or a statement's) is due."

    def close(self) -> None:
        "The runner stops."

    def stateName(self) -> str:
        "The name of the state it is in."


def libpqText(data):
    """
    @param data: a message of libpq's (bytes, maybe empty or L{None}).
    @return: its first line as text.
    """
    text = data.decode("utf-8", "replace").strip() if data else ""
    return text.splitlines()[0] if text else "unknown error"
