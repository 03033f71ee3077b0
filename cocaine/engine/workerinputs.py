# -*- test-case-name: tests.engine.test_worker -*-
"""
What happens to a worker: the input protocol of
L{cocaine.engine.worker.WorkerMachine}, kept Python beside that compiled
module for the reason L{cocaine.engine.sessioninputs} gives.
"""

from typing import Protocol


class WorkerInputs(Protocol):
    """
    What happens to a worker.
    """

    def handshake(self, connection: object) -> bool:
        "It connected to the app's socket with its uuid: taken or not."

    def heartbeat(self) -> None:
        "It sent a heartbeat on the control channel."

    def startupTimedOut(self) -> None:
        "No handshake within startup-timeout."

    def heartbeatTimedOut(self) -> None:
        "Nothing from it within heartbeat-timeout."

    def idleTimedOut(self) -> None:
        "No session for idle-timeout."

    def stop(self, reason: str) -> None:
        "The engine wants it gone (pool shrink or pin, app stop)."

    def terminated(self, code: int, reason: str) -> None:
        "It sent terminate."

    def connectionLost(self) -> None:
        "Its connection to the app's socket dropped."

    def graceExpired(self) -> None:
        "It did not leave within the grace it was given."

    def processEnded(self, reason: object) -> None:
        "Its process ended."

    def stateName(self) -> str:
        "The name of the state it is in."
