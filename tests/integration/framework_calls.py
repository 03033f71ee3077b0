"""
What the framework scripts share: run by the real Cocaine 0.12 framework's
interpreter (cocaine 0.12.14.5, msgpack<1.0, tornado 4), found next to the
script on its C{sys.path}. Imports nothing of ours (the framework is also
called C{cocaine}).

Import it before tornado or the framework: it puts back the
C{collections.MutableMapping} alias Python 3.10 removed and tornado 4 uses.
"""

import collections
import collections.abc

collections.MutableMapping = collections.abc.MutableMapping

from tornado import gen  # noqa: E402
from tornado.ioloop import IOLoop  # noqa: E402

from cocaine.exceptions import ServiceError  # noqa: E402
from cocaine.services import Locator  # noqa: E402
from framework_report import report  # noqa: E402

#: How long one answer is waited for.
TIMEOUT = 10


def locator(port):
    """
    The framework's locator of the node on 127.0.0.1:C{port}.
    """
    return Locator(endpoints=[["127.0.0.1", port]])


@gen.coroutine
def resolve(locator, name):
    """
    Resolve C{name}: its C{(endpoints, version, graph)}.
    """
    channel = yield locator.resolve(name)
    answer = yield channel.rx.get(timeout=TIMEOUT)
    raise gen.Return(answer)


def methods(graph):
    """
    The method names of a resolved C{graph}, in slot order.
    """
    return [graph[i][0] for i in sorted(graph)]


@gen.coroutine
def attempt(step, service, method, *args, close=False):
    """
    Call C{method} of C{service}, wait for its one answer and report it as
    C{value}, or its error as C{error} and C{reason}.

    @param close: close our side of the channel after the answer.
    @return: the answer, or C{None} after an error.
    """
    try:
        channel = yield getattr(service, method)(*args)
        value = yield channel.rx.get(timeout=TIMEOUT)
        if close:
            yield channel.tx.close()
    except ServiceError as e:
        report(step, error=[e.category, e.code], reason=e.reason)
        return
    report(step, value=value)
    raise gen.Return(value)


def run(main, timeout=60):
    """
    Run the coroutine function C{main} to its end on tornado's loop.
    """
    IOLoop.current().run_sync(main, timeout=timeout)
