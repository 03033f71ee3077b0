# -*- test-case-name: tests.mesh.test_components -*-
"""
The mesh's failures, in the one hierarchy of L{cocaine.errors}, and the
error objects responders send for them.

A responder's error reaches a requester as C{{"message", "code",
"name"}} (ours; cote sends C{{}} for a thrown error): L{errorObject} builds
it, L{RemoteError} carries it on the requester's side.
"""

from twisted.python.failure import Failure

from cocaine.errors import CocaineError

__all__ = [
    "MeshError",
    "RequestTimeout",
    "QueueFull",
    "ResponderLost",
    "RemoteError",
    "errorObject",
]


class MeshError(CocaineError):
    """
    A mesh failure. Raise it (or a subclass) in a handler to choose the
    C{code} the requester sees.
    """

    code = "EMESH"

    def __init__(self, message, code=None):
        CocaineError.__init__(self, message)
        self.message = message
        if code is not None:
            self.code = code


class RequestTimeout(MeshError):
    """
    No reply within the request's timeout.
    """

    code = "ETIMEDOUT"


class QueueFull(MeshError):
    """
    No responder is connected and the queue of waiting requests is full.
    """

    code = "EQUEUEFULL"


class ResponderLost(MeshError):
    """
    The connection to the responder handling the request was lost.
    """

    code = "ECONNRESET"


class RemoteError(MeshError):
    """
    The responder answered with an error object.

    @ivar error: the error exactly as received (any JSON value).
    @ivar name: its C{name}, when it had one.
    """

    def __init__(self, error):
        if isinstance(error, dict):
            message = error.get("message")
            code = error.get("code")
            name = error.get("name")
        else:
            message, code, name = None, None, None
        if message is None:
            message = "remote error: {!r}".format(error)
        MeshError.__init__(self, message,
                           code if code is not None else "EREMOTE")
        self.error = error
        self.name = name


def errorObject(error):
    """
    The JSON object a responder sends for an exception (ours: never
    C{{}}).

    @type error: an exception or a L{Failure}
    @return: C{{"message", "code", "name"}}; the code is the exception's
        C{code} when it has one, else C{"EHANDLER"}.
    """
    if isinstance(error, Failure):
        error = error.value
    message = getattr(error, "message", None)
    if not isinstance(message, str):
        message = str(error) or error.__class__.__name__
    code = getattr(error, "code", None)
    if code is not None and not isinstance(code, (str, int)):
        code = str(code)
    return {"message": message,
            "code": code if code is not None else "EHANDLER",
            "name": error.__class__.__name__}
