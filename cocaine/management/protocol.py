# -*- test-case-name: tests.management.test_plane -*-
"""
The management plane's requests and replies (PROTOCOL.md section 9).

A request is one ZeroMQ message: its first frame the JSON request, for
version 3 a second frame with the RSA signature of the first frame's exact
bytes. A reply is one frame of JSON; a request that cannot be served is
answered C{{"error": message}} with one of the messages below.
"""

import json
from dataclasses import dataclass


#: The protocol versions served: 2 unsigned, 3 signed.
VERSIONS = (2, 3)
#: The actions, in the order the errors list them.
ACTIONS = ("create", "delete", "reload", "info")

#: The fixed error texts (the others carry details after them).
UNAUTHORIZED = "unauthorized user"
BAD_SIGNATURE = "invalid signature"
SIGNATURE_REQUIRED = "signed requests (version 3) are required"
NODE_NOT_RUNNING = "the node is not running"
STALE = "stale request: its timestamp is outside the replay window"
REPLAYED = "replayed request: its nonce was already used"
NO_STAMP = ('signed requests need "timestamp" (seconds since the epoch) '
            'and "nonce" (a unique string of 1-128 characters)')

#: The longest nonce of a signed request, in characters.
MAX_NONCE = 128


class ManagementError(Exception):
    """
    A request that cannot be served; the message is the reply's C{error}.
    """

    def __init__(self, message):
        Exception.__init__(self, message)
        self.message = message


@dataclass(frozen=True)
class Request:
    """
    @ivar body: the first frame's exact bytes (what a signature covers).
    @ivar signature: the second frame, or L{None}.
    @ivar timestamp: the request's C{timestamp} field (version 3: when it
        was made, seconds since the epoch), unchecked.
    @ivar nonce: its C{nonce} field, unchecked.
    """

    version: int
    action: object
    apps: object
    username: object
    body: bytes
    signature: object
    timestamp: object = None
    nonce: object = None


def parseRequest(frames):
    """
    Decode a request message, checking what every action needs.

    @param frames: the message's frames (bytes).
    @raise ManagementError: C{invalid json: ...}, C{invalid request: ...}
        or C{unsupported version: ...}.
    """
    if not frames:
        raise ManagementError("invalid request: empty message")
    body = frames[0]
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ManagementError("invalid json: {}".format(e))
    if not isinstance(value, dict):
        raise ManagementError("invalid request: must be a JSON object")
    version = value.get("version")
    if type(version) is not int or version not in VERSIONS:
        raise ManagementError("unsupported version: {} (2 and 3 are "
                              "supported)".format(json.dumps(version)))
    return Request(version, value.get("action"), value.get("apps"),
                   value.get("username"), body,
                   frames[1] if len(frames) > 1 else None,
                   value.get("timestamp"), value.get("nonce"))


def checkAction(request):
    """
    @return: the checked C{apps}: a map for C{create}, a list of names for
        C{delete} and C{reload}, L{None} for C{info}.
    @raise ManagementError: C{unsupported action: ...} or C{invalid
        request: ...}.
    """
    action, apps = request.action, request.apps
    if action not in ACTIONS:
        raise ManagementError("unsupported action: {} (create, delete, "
                              "reload, info)".format(json.dumps(action)))
    if action == "create":
        if not isinstance(apps, dict) or not apps or not all(
                isinstance(m, dict) for m in apps.values()):
            raise ManagementError('invalid request: create takes "apps": '
                                  '{name: manifest, ...}')
        return apps
    if action in ("delete", "reload"):
        if not isinstance(apps, list) or not apps or not all(
                isinstance(n, str) for n in apps):
            raise ManagementError('invalid request: {} takes "apps": '
                                  '[name, ...]'.format(action))
        return apps
    return None


def _jsonable(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if hasattr(value, "items"):
        return dict(value.items())
    return str(value)


def encodeReply(reply):
    """
    @return: the reply frame: C{reply} as JSON (bytes as text, anything
        else JSON does not know as its text).
    """
    return json.dumps(reply, default=_jsonable,
                      sort_keys=True).encode("utf-8")
