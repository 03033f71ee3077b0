# -*- test-case-name: tests.engine.test_session -*-
"""
What happens to a session besides its chunks: the input protocol of
L{cocaine.engine.session.SessionMachine}.

It is a module of its own because L{cocaine.engine.session} is compiled
(L{cocaine.compiled}): Automat finds a protocol's inputs with
C{inspect.isfunction}, which a compiled function is not, so the protocol
stays Python.
"""

from typing import Protocol


class SessionInputs(Protocol):
    """
    What happens to a session, besides its chunks.
    """

    def assigned(self, worker: object) -> None:
        "A worker takes it."

    def requestEnded(self, mtype: int, args: list) -> None:
        "The client ended its request stream (close or error)."

    def requestEndedAfter(self, args: list) -> None:
        "The client sent a chunk (its args), then closed its stream."

    def responseEnded(self, mtype: int, args: list) -> None:
        "The worker ended its response stream (close or error)."

    def workerLost(self, worker: object) -> None:
        "The worker died or lost its connection."

    def clientLost(self) -> None:
        "The client went away."

    def expired(self, seconds: float) -> None:
        "Its deadline passed."

    def refuse(self, error: Exception) -> None:
        "The engine refuses it on arrival (queue full, app broken, stopped)."

    def fail(self, error: Exception) -> None:
        "The engine cannot serve it after all (spawn failed, app stopped)."

    def stateName(self) -> str:
        "The name of the state it is in."
