# -*- test-case-name: tests.mesh.test_components -*-
"""
The L{Responder}: answers requests by their C{type}, as cote's.

A request is C{[j:{"type": ..., ...}, s:<id>]}; the reply, on the same
connection, is C{[j:null or the error, j:<result>, <the id part, byte for
byte>]}. Errors are C{{"message", "code", "name"}} objects (ours; cote
sends C{{}}).
"""

from twisted.internet import defer
from twisted.logger import Logger

from cocaine.mesh.component import asDeferred
from cocaine.mesh.errors import MeshError, errorObject
from cocaine.mesh.server import Server

__all__ = ["Responder"]

log = Logger()

#: Result types a handler returns that are neither Deferreds nor
#: awaitable: the Responder answers them at once, without a Deferred.
_PLAIN_RESULTS = frozenset(
    [type(None), bool, int, float, str, bytes, dict, list, tuple])


class Responder(Server):
    """
    Answers requests by their C{type}.

    Handlers are plain functions, coroutine functions or functions
    returning Deferreds; they get the request object. A raised exception
    reaches the requester as C{{"message", "code", "name"}} (see
    L{errorObject}); a request for a type without handler gets an
    C{ENOHANDLER} error, one without a type C{EBADREQUEST}.

    @param respondsTo: the advertised request types; default those with
        a handler when the service starts.
    @param subset: advertised, for requests with C{"__subset"}.
    """

    axonType = "rep"
    oppo = "req"

    def __init__(self, name, respondsTo=None, subset=None, **kwargs):
        Server.__init__(self, name, **kwargs)
        self.handlers = {}
        self._respondsTo = respondsTo
        if subset is not None:
            self.advertisement["subset"] = subset

    def on(self, requestType, handler):
        """
        Handle requests of C{requestType} with C{handler(request)}.
        """
        self.handlers[requestType] = handler
        return handler

    def startService(self):
        """
        Advertise C{respondsTo} (the handlers so far, unless given),
        listen and start discovery.
        """
        self.advertisement["respondsTo"] = list(
            self._respondsTo if self._respondsTo is not None
            else self.handlers)
        Server.startService(self)

    def messageReceived(self, connection, args, parts):
        """
        A request: C{[request, id]}; answered on the same connection.
        """
        if len(args) < 2:
            return
        request, idPart = args[0], parts[-1]
        if (not isinstance(request, dict)
                or not isinstance(request.get("type"), str)):
            self._reply(connection, [errorObject(MeshError(
                "a request is an object with a type", "EBADREQUEST")),
                idPart])
            return
        handler = self.handlers.get(request["type"])
        if handler is None:
            self._reply(connection, [errorObject(MeshError(
                "no handler for request type {!r}".format(request["type"]),
                "ENOHANDLER")), idPart])
            return
        try:
            result = handler(request)
        except BaseException:
            d = defer.fail()
        else:
            if type(result) in _PLAIN_RESULTS:
                # the usual case, answered without a Deferred
                try:
                    self._answered(result, connection, idPart)
                except Exception:
                    log.failure("cannot reply")
                return
            d = asDeferred(result)
        d.addCallbacks(self._answered, self._failed,
                       callbackArgs=(connection, idPart),
                       errbackArgs=(connection, request["type"], idPart))
        d.addErrback(lambda f: log.failure("cannot reply", f))

    def _answered(self, result, connection, idPart):
        if connection in self._connections:
            connection.sendMessage([None, result, idPart])

    def _failed(self, f, connection, requestType, idPart):
        if f.check(MeshError):
            log.info("handler for {type} answered an error: {error}",
                     type=requestType, error=f.getErrorMessage())
        else:
            log.failure("handler for {type} failed", f, type=requestType)
        self._reply(connection, [errorObject(f), idPart])

    def _reply(self, connection, args):
        if connection in self._connections:
            connection.sendMessage(args)
