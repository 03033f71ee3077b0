# -*- test-case-name: tests.mesh.test_sockend -*-
"""
What a L{cocaine.mesh.sockend.Sockend} exposes to browsers (an
L{Exposure}): per cote namespace, the request types of its Responders and
the topics of its Publishers, kept up to date from discovery, with the
Requester and Subscriber that reach them.

As cote's Sockend, only Responders that advertise C{respondsTo} and
Publishers that advertise C{broadcasts} are exposed (it cannot know the
types of the others), and the Requester and Subscriber of a namespace
stay once made.
"""

from twisted.logger import Logger

__all__ = ["Exposure", "socketNamespace"]

log = Logger(namespace="cocaine.mesh.sockend")


def socketNamespace(namespace):
    """
    The socket.io namespace of a cote namespace, as cote's Sockend maps
    it: C{None} and C{""} are C{"/"}, C{"foo"} is C{"/foo"}.
    """
    return "/" + (namespace or "")


def _names(value):
    """
    The strings of an advertised list (C{respondsTo}, C{broadcasts}), or
    L{None} when it is not a list.
    """
    if not isinstance(value, list):
        return None
    return [v for v in value if isinstance(v, str)]


class _Channel:
    """
    One cote namespace (as advertised: C{None} and C{""} are two) and what
    the Sockend discovered there.

    @ivar responders: iid to the types that responder advertises.
    @ivar publishers: iid to the topics that publisher advertises.
    @ivar requester: the Requester of this namespace, once a responder
        was seen.
    @ivar subscriber: the Subscriber of this namespace, once a publisher
        was seen.
    """

    def __init__(self, namespace):
        self.namespace = namespace
        self.responders = {}
        self.publishers = {}
        self.requester = None
        self.subscriber = None

    def requestTypes(self):
        """
        The request types some responder of the namespace takes.
        """
        return {t for types in self.responders.values() for t in types}

    def topics(self):
        """
        The topics some publisher of the namespace broadcasts.
        """
        return {t for topics in self.publishers.values() for t in topics}


class Exposure:
    """
    The responders and publishers a sockend exposes, by namespace.

    @param key: the key string components must advertise.
    @param namespaces: the cote namespaces exposed (C{""} is the default
        one), or L{None} for every one.
    @param makeRequester: C{makeRequester(namespace)} returns the
        Requester of a cote namespace, made when its first responder is
        seen.
    @param makeSubscriber: C{makeSubscriber(channel)} returns the
        Subscriber of a channel, made when its first publisher is seen.

    @ivar channels: L{dict} of a cote namespace to its channel.
    """

    def __init__(self, key, namespaces, makeRequester, makeSubscriber):
        self.key = key
        self.namespaces = namespaces
        self.makeRequester = makeRequester
        self.makeSubscriber = makeSubscriber
        self.channels = {}
        self._observers = []
        self._exposed = {}

    def exposes(self, namespace):
        """
        Whether components of this cote namespace are exposed.
        """
        if namespace is not None and not isinstance(namespace, str):
            return False
        return self.namespaces is None or (namespace or "") in self.namespaces

    def peerAdded(self, peer):
        """
        A discovered component: expose it when it is a Responder with
        C{respondsTo} or a Publisher with C{broadcasts}, of our key.

        @return: the socket.io namespace whose exposure changed, or
            L{None}.
        """
        ad = peer.advertisement
        if ad.get("key") != self.key:
            return None
        namespace = ad.get("namespace")
        if not self.exposes(namespace):
            return None
        axonType = ad.get("axon_type")
        if axonType == "rep":
            types = _names(ad.get("respondsTo"))
            if types is None:
                return None
            channel = self._channel(namespace)
            channel.responders[peer.iid] = types
            if channel.requester is None:
                channel.requester = self.makeRequester(namespace)
        elif axonType == "pub-emitter":
            topics = _names(ad.get("broadcasts"))
            if topics is None:
                return None
            channel = self._channel(namespace)
            channel.publishers[peer.iid] = topics
            if channel.subscriber is None:
                channel.subscriber = self.makeSubscriber(channel)
        else:
            return None
        return socketNamespace(namespace)

    def peerRemoved(self, peer):
        """
        A component is gone: stop exposing what only it offered. (The
        namespace's requester and subscriber stay, as in cote.)

        @return: the socket.io namespaces whose exposure changed.
        """
        changed = []
        for channel in self.channels.values():
            if (channel.responders.pop(peer.iid, None) is not None
                    or channel.publishers.pop(peer.iid, None) is not None):
                changed.append(socketNamespace(channel.namespace))
        return changed

    def _channel(self, namespace):
        channel = self.channels.get(namespace)
        if channel is None:
            channel = self.channels[namespace] = _Channel(namespace)
        return channel

    def channelFor(self, namespace, requestType):
        """
        @param namespace: a socket.io namespace.
        @return: the channel whose responders take C{requestType} on it,
            or L{None}.
        """
        for channel in self.channels.values():
            if (socketNamespace(channel.namespace) == namespace
                    and channel.requester is not None
                    and requestType in channel.requestTypes()):
                return channel
        return None

    def components(self):
        """
        The Requesters and Subscribers made so far.
        """
        for channel in self.channels.values():
            for component in (channel.requester, channel.subscriber):
                if component is not None:
                    yield component

    def exposed(self):
        """
        What browsers can use, by socket.io namespace.

        @return: C{{"/ns": {"requests": [...], "broadcasts": [...]}}},
            sorted.
        """
        result = {}
        for channel in self.channels.values():
            entry = result.setdefault(
                socketNamespace(channel.namespace),
                {"requests": set(), "broadcasts": set()})
            entry["requests"] |= channel.requestTypes()
            entry["broadcasts"] |= channel.topics()
        return {ns: {k: sorted(v) for k, v in entry.items()}
                for ns, entry in sorted(result.items())}

    def observe(self, callback):
        """
        Call C{callback(namespace, requests, broadcasts)} (a socket.io
        namespace and two sorted lists) whenever what a namespace exposes
        changes.
        """
        self._observers.append(callback)

    def changed(self, namespace):
        """
        Tell the observers what socket.io namespace C{namespace} exposes
        now, if that changed since they were last told.
        """
        entry = self.exposed().get(namespace,
                                   {"requests": [], "broadcasts": []})
        if self._exposed.get(namespace) == entry:
            return
        self._exposed[namespace] = entry
        log.info("sockend exposes requests {requests} and broadcasts "
                 "{broadcasts} on socket.io namespace {namespace}",
                 namespace=namespace, requests=entry["requests"],
                 broadcasts=entry["broadcasts"])
        for callback in list(self._observers):
            try:
                callback(namespace, entry["requests"], entry["broadcasts"])
            except Exception:
                log.failure("sockend observer failed")
