# -*- test-case-name: tests.mesh.test_bridge -*-
"""
The mesh bridge (ours): Cocaine apps as cote Responders, cote Responders as
Cocaine services.

  - Every configured app is advertised as a cote Responder named after the
    app, responding to its configured events: a request
    C{{"type": <event>, ...}} runs the app's event with the request minus
    C{type} as one chunk (JSON text, or msgpack), and the app's answer
    (its chunks joined, decoded the same way, else as UTF-8 text) is the
    result. An app error reaches the requester as C{{"message", "code":
    "EAPP", "name"}}, an app that does not run as one with C{"ENOAPP"}.
    Apps are called through the node's L{cocaine.interfaces.INode}.
  - Every cote Responder discovered (same key and namespace as the bridge)
    is published at the locator as the Cocaine service
    C{<prefix><responder name>} (default prefix C{"mesh."}) with the
    protocol L{MESH_SERVICE}: C{request(type, json)} sends
    C{{"type": type, **json}} (C{json}: a map or a JSON text) to a
    responder of that name that responds to C{type}, and answers the
    result. The name is withdrawn when the last responder of that name
    goes; the bridge follows them with the requester's peer observer.

The C{mesh_bridge} service plugin (C{services/mesh_bridge.py}) builds a
L{MeshBridge} from its args; see C{docs/mesh.md}.
"""

import json as _json

import msgpack
from twisted.application.service import Service
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from cocaine.driver.base import JobUpstream
from cocaine.errors import AppNotRunning, CocaineError, InvalidArgument
from cocaine.interfaces import IRPCService
from cocaine.mesh.errors import MeshError
from cocaine.mesh.requester import Requester
from cocaine.mesh.responder import Responder
from cocaine.mesh.discovery import DiscoveryOptions
from cocaine.mesh.settings import SEGMENTATION
from cocaine.protocol.idl import Arg, Message, Protocol

__all__ = ["MESH_SERVICE", "MESH_BRIDGE", "MeshBridge", "MeshService",
           "MeshCallFailed", "encodeChunk", "decodeAnswer"]

log = Logger()

#: The protocol of a cote Responder published as a Cocaine service.
MESH_SERVICE = Protocol("mesh", [
    Message("request", [Arg("type", "str"), Arg("json", "any", True)]),
    Message("info", []),
])
MESH_SERVICE_VERSION = 1

#: The protocol of the bridge itself.
MESH_BRIDGE = Protocol("mesh_bridge", [
    Message("info", []),
])

ENCODINGS = ("json", "msgpack")


def encodeChunk(request, encoding):
    """
    The chunk an app gets for a request object: the object minus C{type}.
    """
    body = {k: v for k, v in request.items() if k != "type"}
    if encoding == "msgpack":
        return msgpack.packb(body, use_bin_type=True)
    return _json.dumps(body, separators=(",", ":")).encode("utf-8")


def decodeAnswer(chunks, encoding):
    """
    The result for an app's answer: its chunks joined and decoded with
    C{encoding}; else as UTF-8 text; else a list of byte values.
    """
    data = b"".join(c if isinstance(c, bytes) else str(c).encode("utf-8")
                    for c in chunks)
    if not data:
        return None
    try:
        if encoding == "msgpack":
            value = msgpack.unpackb(data, raw=False)
        else:
            value = _json.loads(data.decode("utf-8"))
        _json.dumps(value)  # must travel as JSON
        return value
    except (ValueError, TypeError, msgpack.UnpackException):
        # not of this encoding (UnicodeDecodeError is a ValueError): text
        pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return list(data)


def _plain(value):
    """
    A msgpack-decoded value with bytes turned into text, for JSON.
    """
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@implementer(IRPCService)
class MeshService:
    """
    One discovered cote Responder name as a Cocaine service.
    """

    protocol = MESH_SERVICE
    version = MESH_SERVICE_VERSION

    def __init__(self, bridge, name):
        self.bridge = bridge
        self.name = name

    def _where(self, requestType):
        def where(peer):
            ad = peer.advertisement
            responds = ad.get("respondsTo")
            return ad.get("name") == self.name and (
                not isinstance(responds, list) or requestType in responds)
        return where

    async def request(self, type, json=None):
        """
        Send C{{"type": type, **json}} to a responder of this name that
        responds to C{type}.

        @param json: a map, or JSON text of one.
        @return: the responder's result.
        @raise MeshCallFailed: the responder's error, or the mesh's.
        """
        if isinstance(json, (bytes, str)):
            try:
                json = _json.loads(json)
            except ValueError as e:
                raise InvalidArgument(
                    "request: json is not JSON text: {}".format(e))
        body = _plain(json) if json is not None else {}
        if not isinstance(body, dict):
            raise InvalidArgument(
                "request: json must be a map (or JSON text of one)")
        message = dict(body)
        message["type"] = type
        try:
            result = await self.bridge.requester.send(
                message, where=self._where(type))
        except MeshError as e:  # RemoteError included
            raise MeshCallFailed("{} ({})".format(e.message, e.code))
        return (result,)

    def info(self):
        """
        @return: the name and the iids of its responders.
        """
        return ({"name": self.name,
                 "responders": self.bridge.responders(self.name)},)


class MeshCallFailed(CocaineError):
    """
    A request through the bridge to a cote Responder failed; the message
    is the responder's (or the mesh's) with its code.
    """


@implementer(IRPCService)
class MeshBridge(Service):
    """
    The bridge service.

    @param context: the node's L{cocaine.context.Context} (C{node}, an
        L{cocaine.interfaces.INode}; C{registry}, C{config.network},
        C{reactor}).
    @param apps: L{dict} of app name to its list of events, or to
        C{{"events": [...], "encoding": ..., "name": ...}}.
    @param encoding: C{"json"} (default) or C{"msgpack"}: the chunk an app
        gets and how its answer is read.
    @param prefix: the prefix of published service names.
    @param publish: whether discovered responders are published.
    @param timeout: the default timeout of requests to responders.
    @param mesh: keywords for the components: C{key}, C{namespace},
        C{environment} and discovery options (the plugin's C{mesh},
        checked by L{cocaine.mesh.settings.checkMesh}).
    @param serviceHost: how published names are served (tests); default
        L{cocaine.rpc.host.ServiceHost}.
    """

    protocol = MESH_BRIDGE
    version = 1

    def __init__(self, context, apps=None, encoding="json", prefix="mesh.",
                 publish=True, timeout=30.0, mesh=None, serviceHost=None):
        self.context = context
        self.reactor = context.reactor
        self.apps = {}
        for app, spec in (apps or {}).items():
            if isinstance(spec, dict):
                self.apps[app] = {"events": list(spec.get("events", [])),
                                  "encoding": spec.get("encoding", encoding),
                                  "name": spec.get("name", app)}
            else:
                self.apps[app] = {"events": list(spec),
                                  "encoding": encoding, "name": app}
        self.prefix = prefix
        self.publishResponders = publish
        mesh = dict(mesh or {})
        segmentation = {k: mesh.pop(k) for k in SEGMENTATION if k in mesh}
        self._segmentation = segmentation
        self._discovery = DiscoveryOptions(**mesh)
        self.timeout = timeout
        if serviceHost is None:
            from cocaine.rpc.host import ServiceHost as serviceHost
        self._serviceHost = serviceHost
        self.responderComponents = {}
        self.requester = None
        self.hosts = {}
        self._peers = {}  # published name -> set of responder iids
        self._stopObserving = None

    # -- cocaine apps as responders -------------------------------------------

    def callApp(self, app, event, request, encoding):
        """
        Run C{event} of C{app} with C{request} (minus C{type}) as one
        chunk, through the node's L{cocaine.interfaces.INode}.

        @return: a Deferred of the decoded answer, failing with a
            L{MeshError} C{ENOAPP} when the app does not run and C{EAPP}
            when it answers an error.
        """
        node = self.context.node
        if node is None:
            return defer.fail(MeshError(
                "app {!r} is not running: no node here".format(app),
                "ENOAPP"))
        upstream = JobUpstream()
        session = node.enqueue(app, upstream, event)
        # when the app does not run, upstream has its error already and
        # the session ignores these
        session.write(encodeChunk(request, encoding))
        session.close()

        def failed(f):
            if f.check(AppNotRunning):
                raise MeshError("app {!r} is not running".format(app),
                                "ENOAPP")
            raise MeshError(f.getErrorMessage(), "EAPP")
        return upstream.result.addCallbacks(
            lambda chunks: decodeAnswer(chunks, encoding), failed)

    def _handler(self, app, event, encoding):
        return lambda request: self.callApp(app, event, request, encoding)

    # -- responders as cocaine services ---------------------------------------

    def _isRemoteResponder(self, peer):
        own = {c.discovery.iid for c in self.responderComponents.values()
               if c.discovery is not None}
        return (peer.iid not in own
                and isinstance(peer.advertisement.get("name"), str))

    def _responderAdded(self, peer):
        if not self.publishResponders or not self._isRemoteResponder(peer):
            return
        name = self.prefix + peer.advertisement["name"]
        iids = self._peers.setdefault(name, set())
        iids.add(peer.iid)
        if name in self.hosts:
            return
        host = self._serviceHost(
            self.reactor, name, MeshService(self, peer.advertisement["name"]),
            self.context.registry, self.context.config.network)
        self.hosts[name] = host
        d = defer.maybeDeferred(host.startService)

        def failed(f):
            log.warn("cannot publish {name}: {error}", name=name,
                     error=f.getErrorMessage())
            if self.hosts.get(name) is host:
                del self.hosts[name]
        d.addErrback(failed)

    def _responderRemoved(self, peer):
        name = self.prefix + str(peer.advertisement.get("name"))
        iids = self._peers.get(name)
        if not iids:
            return
        iids.discard(peer.iid)
        if not iids:
            del self._peers[name]
            host = self.hosts.pop(name, None)
            if host is not None:
                defer.maybeDeferred(host.stopService).addErrback(
                    lambda f: log.failure("stopping {name}", f, name=name))

    def responders(self, name):
        """
        @return: the sorted iids of the discovered responders called
            C{name}.
        """
        return sorted(iid for iid in self._peers.get(self.prefix + name, ()))

    # -- the service ----------------------------------------------------------

    def startService(self):
        """
        Advertise the apps as Responders and start the requester that
        finds the responders to publish.
        """
        Service.startService(self)
        for app, spec in self.apps.items():
            rep = Responder(spec["name"], respondsTo=spec["events"],
                            reactor=self.reactor, discovery=self._discovery,
                            **self._segmentation)
            for event in spec["events"]:
                rep.on(event, self._handler(app, event, spec["encoding"]))
            rep.startService()
            self.responderComponents[app] = rep
        self.requester = Requester(
            "cocaine-bridge", timeout=self.timeout, reactor=self.reactor,
            discovery=self._discovery, **self._segmentation)
        self._stopObserving = self.requester.addPeerObserver(
            self._responderAdded, self._responderRemoved)
        self.requester.startService()

    def stopService(self):
        """
        Withdraw the published names and stop the components.

        @return: a Deferred that fires once they are all gone.
        """
        Service.stopService(self)
        if self._stopObserving is not None:
            self._stopObserving()
            self._stopObserving = None
        stops = [defer.maybeDeferred(h.stopService)
                 for h in self.hosts.values() if h.running]
        self.hosts.clear()
        self._peers.clear()
        stops.extend(c.stopService()
                     for c in self.responderComponents.values())
        self.responderComponents.clear()
        if self.requester is not None:
            stops.append(self.requester.stopService())
            self.requester = None
        return defer.gatherResults(stops, consumeErrors=True).addCallback(
            lambda _: None)

    def info(self):
        """
        @return: the bridged apps and their events, and the published
            names.
        """
        return ({"apps": {app: spec["events"]
                          for app, spec in self.apps.items()},
                 "published": sorted(self.hosts)},)
