# -*- test-case-name: tests.worker.test_worker -*-
"""
A worker's settings from its environment: the timings of its control
channel and the app's credentials, as the runtime passes them.
"""

import os

#: Defaults, in seconds.
DEFAULT_HEARTBEAT_INTERVAL = 10.0
DEFAULT_DISOWN_TIMEOUT = 30.0
DEFAULT_TERMINATE_GRACE = 1.0

#: Environment variables that override the defaults (a manifest's
#: C{environment} map can set them); arguments to
#: L{cocaine.worker.worker.Worker} win over them.
ENV_HEARTBEAT_INTERVAL = "COCAINE_HEARTBEAT_INTERVAL"
ENV_DISOWN_TIMEOUT = "COCAINE_DISOWN_TIMEOUT"
ENV_TERMINATE_GRACE = "COCAINE_TERMINATE_GRACE"
ENV_TOKEN_TYPE = "COCAINE_APP_TOKEN_TYPE"
ENV_TOKEN_BODY = "COCAINE_APP_TOKEN_BODY"


def seconds(value, variable, default):
    """
    @return: C{value} if given, else the float in the environment variable
        C{variable} if it holds a positive number, else C{default}.
    """
    if value is not None:
        return float(value)
    try:
        number = float(os.environ.get(variable, ""))
    except ValueError:
        return default
    return number if number > 0 else default


def appAuthorization(environ=None):
    """
    The app's credentials from C{COCAINE_APP_TOKEN_TYPE} and
    C{COCAINE_APP_TOKEN_BODY} (as Cocaine 0.12 gives them), as an
    C{authorization} header value C{"TYPE BODY"}; L{None} without them.
    """
    environ = os.environ if environ is None else environ
    kind = environ.get(ENV_TOKEN_TYPE)
    body = environ.get(ENV_TOKEN_BODY)
    if not kind or not body:
        return None
    return "{} {}".format(kind, body)
