# -*- test-case-name: tests.mesh.test_components -*-
"""
The L{Subscriber}: receives the publications of every matching publisher,
as cote's, filtered by topic.
"""

import re

from twisted.logger import Logger

from cocaine.mesh.client import Client

__all__ = ["Subscriber"]

log = Logger()


def _topicPattern(topic):
    """
    A topic with C{*} wildcards (any run of characters) as a regular
    expression.
    """
    return re.compile(
        "^" + ".+".join(re.escape(p) for p in topic.split("*")) + "$")


class Subscriber(Client):
    """
    Receives publications of matching publishers.

    C{on(topic, callback)} calls C{callback(data, topic)}; a C{*} in a
    topic matches any run of characters, so C{"*"} matches every topic.

    @param subscribesTo: the advertised topics (default C{["*"]}).
    """

    axonType = "sub-emitter"
    oppo = "pub-emitter"

    def __init__(self, name, subscribesTo=None, **kwargs):
        Client.__init__(self, name, **kwargs)
        self.advertisement["subscribesTo"] = list(subscribesTo or ["*"])
        self._listeners = []

    def on(self, topic, callback):
        """
        Call C{callback(data, topic)} for each publication matching
        C{topic}.
        """
        self._listeners.append((_topicPattern(topic), callback))
        return callback

    def messageReceived(self, link, args, parts):
        """
        A publication: C{[message::<topic>, data]}, handed to the
        callbacks of matching topics.
        """
        if len(args) < 1 or not isinstance(args[0], str):
            return
        topic = args[0]
        if not topic.startswith("message::"):
            return
        topic = topic[len("message::"):]
        if self.namespace:
            prefix = self.namespace + "::"
            if not topic.startswith(prefix):
                return
            topic = topic[len(prefix):]
        data = args[1] if len(args) > 1 else None
        for pattern, callback in list(self._listeners):
            if pattern.match(topic):
                try:
                    callback(data, topic)
                except Exception:
                    log.failure("subscriber callback for {topic} failed",
                                topic=topic)
