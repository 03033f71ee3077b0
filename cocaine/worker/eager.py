# -*- test-case-name: tests.worker.test_eager -*-
"""
Eager coroutine handlers: stepped at once when their read is dispatched,
in a task only if they have to wait (L{cocaine.worker.worker.Worker}).
"""

import asyncio
import os
import sys

#: C{1} makes coroutine handlers eager (stepped at once, a task only for
#: one that waits: see L{cocaine.worker.worker.Worker}), C{0} gives each
#: a task of its own from its start, whatever the app's code asks; unset,
#: the worker's C{eager} argument decides.
ENV_EAGER = "COCAINE_WORKER_EAGER"


#: Whether asyncio can start a task eagerly (Python 3.12): coroutine
#: handlers then start in a task of their own, stepped at once; before,
#: the worker steps them itself and makes a task only for one that waits.
EAGER_START = sys.version_info >= (3, 12)


def eagerWanted(eager):
    """
    @return: what C{COCAINE_WORKER_EAGER} says when it is set (the
        operator's switch), else C{eager} if given, else L{EAGER_START}.
    @raise ValueError: the variable is set to something else than C{0} or
        C{1}.
    """
    value = os.environ.get(ENV_EAGER, "").strip()
    if value:
        if value not in ("0", "1"):
            raise ValueError("{} must be 0 or 1, not {!r}".format(
                ENV_EAGER, value))
        return value == "1"
    if eager is not None:
        return bool(eager)
    return EAGER_START


#: L{ResumedHandler}'s C{_yielded} once the task has it
_HANDED = object()


def _handlers(name):
    """
    @return: a read-only property giving the handler's coroutine's
        attribute C{name}.
    """
    return property(lambda self: getattr(self._coroutine, name))


class ResumedHandler:
    """
    A coroutine handler that suspended in its first step, outside any task
    (L{cocaine.worker.worker.Worker._start}): the coroutine of the task
    that drives it on.

    The task's first C{send} gets what that step yielded (the future the
    handler waits for); every later C{send} and every C{throw} (the task's
    cancellation included, even before its first step) goes to the
    handler's coroutine. When that ends, the session ends as a plain
    function's does in L{Worker._start} (its response closed if open, or
    failed on an exception or cancellation) and the task's result is
    L{None}.
    """

    __slots__ = ("_worker", "_coroutine", "_yielded", "_request",
                 "_response")

    def __init__(self, worker, coroutine, yielded, request, response):
        self._worker = worker
        self._coroutine = coroutine
        self._yielded = yielded
        self._request = request
        self._response = response

    def send(self, value):
        yielded = self._yielded
        if yielded is not _HANDED:
            self._yielded = _HANDED
            return yielded
        return self._step(self._coroutine.send, value)

    def throw(self, error, *details):
        yielded, self._yielded = self._yielded, _HANDED
        if (yielded is not _HANDED
                and isinstance(error, asyncio.CancelledError)
                and getattr(yielded, "_asyncio_future_blocking", False)
                and yielded.cancel()):
            # cancelled before the task's first step: as a task cancelled
            # while it waits, the future the handler waits for is
            # cancelled, and the task, waiting for it, is woken with that
            return yielded
        return self._step(self._coroutine.throw, error, *details)

    def close(self):
        self._coroutine.close()

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        return self.send(None)

    # what asyncio and debuggers read of a task's coroutine (its repr,
    # Task.get_stack and print_stack): the handler's own coroutine's
    __name__ = _handlers("__name__")
    cr_code = _handlers("cr_code")
    cr_frame = _handlers("cr_frame")
    cr_running = _handlers("cr_running")
    cr_await = _handlers("cr_await")

    def _step(self, method, *args):
        worker, request, response = (
            self._worker, self._request, self._response)
        try:
            return method(*args)
        except StopIteration:
            if not response._closed:
                response.close()
        except asyncio.CancelledError:
            worker._cancelled(request, response)
        except Exception as error:
            worker._raised(request, response, error)
        except BaseException:
            worker._sessions.pop(request.channel, None)
            raise
        worker._sessions.pop(request.channel, None)
        raise StopIteration
