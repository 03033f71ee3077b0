# -*- test-case-name: tests.admin.test_web -*-
"""
What the dashboard's buttons do, through L{cocaine.interfaces.INode} and
storage only: start an app, pause it, resize its pool, remove a crashlog.
Each checks its arguments first and raises a L{cocaine.errors} error that
names the bad value.
"""

from cocaine.admin.crashlogs import removeCrashlog
from cocaine.errors import (
    AppAlreadyRunning, InvalidArgument, ServiceNotAvailable)


class Actions:

    def __init__(self, overview):
        """
        @param overview: the L{cocaine.admin.overview.Overview}: its
            context's node and storage, and the origins it has seen.
        """
        self.overview = overview

    def _node(self):
        node = self.overview.node
        if node is None:
            raise ServiceNotAvailable("this node runs no node service (no "
                                      "service of type \"node\")")
        return node

    async def start(self, name, profile=None):
        """
        Start app C{name}: with C{profile} (a profile name in storage) as
        the node's C{start_app} does; without one, the way it ran before
        (a development app from its directory, a stored app with the
        profile it had).

        @raise AppAlreadyRunning: it runs.
        @raise InvalidArgument: a bad profile, or none and none known.
        """
        node = self._node()
        if profile is not None and (not isinstance(profile, str)
                                    or not profile):
            raise InvalidArgument("profile must be a profile name, not "
                                  "{!r}".format(profile))
        if name in node.apps():
            raise AppAlreadyRunning("app {!r} is already running".format(
                name))
        origin = self.overview.seen.get(name) or {}
        if profile is None and origin.get("local"):
            await node.startLocal(name, origin["path"], origin.get("profile"))
        else:
            if profile is None:
                profile = origin.get("profile")
            if not isinstance(profile, str) or not profile:
                raise InvalidArgument("give a profile to start app {!r} "
                                      "with".format(name))
            await node.startApp(name, profile)
        return {"app": name, "started": True}

    async def pause(self, name):
        """
        Pause app C{name} (C{pause_app}), remembering how it ran.

        @raise AppNotRunning: it does not run.
        """
        node = self._node()
        self.overview.seen[name] = node.origin(name)
        await node.pauseApp(name)
        return {"app": name, "paused": True}

    def resize(self, name, size):
        """
        Keep app C{name}'s pool at C{size} workers (0 up to its pool
        limit); L{None} or a negative size returns to scaling by load.

        @raise AppNotRunning: it does not run.
        @raise InvalidArgument: C{size} is not an integer, or above the
            limit.
        """
        node = self._node()
        if size is None:
            size = -1
        if type(size) is not int:
            raise InvalidArgument("size must be an integer (a negative one "
                                  "or null: scale by load), not {!r}"
                                  .format(size))
        info = node.info(name)
        limit = (info.get("pool") or {}).get("capacity")
        if type(limit) is int and size > limit:
            raise InvalidArgument("size {} is above app {!r}'s pool limit "
                                  "{}".format(size, name, limit))
        node.pin(name, size)
        return {"app": name, "pinned": None if size < 0 else size}

    async def removeCrashlog(self, app, key):
        """
        @raise KeyNotFound: C{app} has no crashlog C{key}.
        """
        storage = self.overview.storage
        if storage is None:
            raise ServiceNotAvailable("this node has no core storage")
        await removeCrashlog(storage, app, key)
        return {"app": app, "removed": key}
