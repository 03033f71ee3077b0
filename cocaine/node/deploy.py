# -*- test-case-name: tests.node.test_deploy -*-
"""
Where an app comes from: its manifest, profile and archive in storage, the
way the Cocaine tools deploy it (PROTOCOL.md section 7), or a development
directory; and the runlist of the apps started on boot.
"""

import json
import os
import re
import shutil

from twisted.internet.defer import maybeDeferred
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger

from cocaine.engine.archive import extractArchive
from cocaine.engine.manifest import ManifestError, parseManifest, parseProfile
from cocaine.errors import KeyNotFound, SpawnFailed
from cocaine.protocol.framing import packValue, unpackValue

#: Storage collections of the app layout (PROTOCOL.md section 7).
MANIFESTS, PROFILES, RUNLISTS, APPS = ("manifests", "profiles", "runlists",
                                       "apps")

#: The per-app quotas (issue 14, finding 10: a 498 KB upload unpacked to
#: 500 MiB): the archive as stored, and the files it unpacks to. The node
#: service's C{max-archive} and C{max-unpacked} change them.
DEFAULT_MAX_ARCHIVE = 64 * 1024 * 1024
DEFAULT_MAX_UNPACKED = 256 * 1024 * 1024

#: What an unpack leaves beside an app's directory in the spool when the
#: node dies in the middle (L{cocaine.engine.archive.extractArchive}).
_STAGING = re.compile(r"^\..+\.(new-[A-Za-z0-9_]+|old-[0-9a-f]{32})$")

log = Logger()


class Source:
    """
    One app ready to run: what it is, where its files are, and how it was
    asked for (to start it again the same way).

    @ivar name: the app's name.
    @ivar manifest: its parsed L{cocaine.engine.manifest.Manifest}.
    @ivar profile: its parsed L{cocaine.engine.manifest.Profile}.
    @ivar directory: where its files are (the slave runs there).
    @ivar local: a development directory (not from storage).
    @ivar requested: the profile as it was given: a name or a map.
    """

    def __init__(self, name, manifest, profile, directory, local,
                 requested):
        self.name = name
        self.manifest = manifest
        self.profile = profile
        self.directory = directory
        self.local = local
        self.requested = requested

    def origin(self):
        """
        @return: the L{cocaine.interfaces.INode.origin} map.
        """
        origin = {"local": self.local, "profile": self.requested}
        if self.local:
            origin["path"] = self.directory
        return origin


def checkName(name):
    """
    @raise SpawnFailed: C{name} cannot be an app's name.
    """
    if not name or "/" in name or name in (".", ".."):
        raise SpawnFailed("app name {!r} is not allowed".format(name))


async def readStored(storage, collection, key, what, app):
    """
    One stored value of the app layout, unpacked.

    @raise SpawnFailed: it is not in storage, naming where it was looked
        for.
    """
    try:
        return unpackValue(await maybeDeferred(storage.read, collection,
                                               key))
    except KeyNotFound:
        raise SpawnFailed("app {!r}: no {} in storage ({}/{})".format(
            app, what, collection, key))


async def resolveProfile(storage, name, profile):
    """
    @param profile: a profile name in storage, a profile map, or L{None}
        for the defaults.
    @return: the parsed profile.
    """
    if isinstance(profile, bytes):
        profile = profile.decode("utf-8")
    if isinstance(profile, str):
        raw = await readStored(storage, PROFILES, profile, "profile", name)
        return parseProfile(raw, profile)
    if isinstance(profile, dict) or profile is None:
        return parseProfile(profile or {}, "<{} inline>".format(name))
    raise ManifestError("app {!r}: profile must be a name or a map, got "
                        "{!r}".format(name, profile))


async def fromStorage(reactor, storage, spool, name, profile,
                      maxArchive=DEFAULT_MAX_ARCHIVE,
                      maxUnpacked=DEFAULT_MAX_UNPACKED):
    """
    Read an app deployed in storage and unpack its archive into
    C{<spool>/<name>} (in a thread).

    @param maxArchive: the most bytes the stored archive may have.
    @param maxUnpacked: the most bytes of files it may unpack to.
    @return: its L{Source}.
    """
    manifest = parseManifest(await readStored(
        storage, MANIFESTS, name, "manifest", name), name)
    parsed = await resolveProfile(storage, name, profile)
    archive = await readStored(storage, APPS, name, "archive", name)
    if isinstance(archive, str):
        archive = archive.encode("utf-8", "surrogateescape")
    if not isinstance(archive, bytes):
        raise SpawnFailed("app {!r}: the archive in storage is not binary "
                          "data".format(name))
    if len(archive) > maxArchive:
        raise SpawnFailed("app {!r}: the archive has {} bytes, more than the "
                          "{} the node takes (max-archive)".format(
                              name, len(archive), maxArchive))
    directory = os.path.abspath(os.path.join(spool, name))
    await deferToThreadPool(reactor, reactor.getThreadPool(),
                            extractArchive, archive, directory, maxUnpacked)
    return checkSlave(Source(name, manifest, parsed, directory, False,
                             profile))


def cleanSpool(spool):
    """
    Remove what unpacks interrupted by a crash left in the spool: the
    staging and replaced directories beside the apps' own (nothing else:
    the spool may be shared with other things).

    @return: the names removed.
    """
    removed = []
    try:
        names = os.listdir(spool)
    except OSError:
        return removed
    for name in names:
        if _STAGING.match(name):
            path = os.path.join(spool, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    continue
            removed.append(name)
    return removed


def removeUnpacked(spool, name):
    """
    Remove the unpacked copy of the stored app C{name} (its archive in
    storage is the original; the next start unpacks it again).
    """
    checkName(name)
    path = os.path.join(os.path.abspath(spool), name)
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)


async def fromDirectory(storage, name, path, profile):
    """
    Read a development app from directory C{path}: its C{manifest.json}
    beside its slave.

    @return: its L{Source}.
    """
    directory = os.path.abspath(path)
    manifestPath = os.path.join(directory, "manifest.json")
    try:
        with open(manifestPath, "rb") as f:
            raw = json.load(f)
    except (OSError, ValueError) as e:
        raise SpawnFailed("app {!r}: cannot read {}: {}".format(
            name, manifestPath, e))
    manifest = parseManifest(raw, name)
    parsed = await resolveProfile(storage, name, profile)
    return checkSlave(Source(name, manifest, parsed, directory, True,
                             profile))


def checkSlave(source):
    """
    @return: C{source} when its slave exists and can be run.
    @raise SpawnFailed: naming the slave and the directory.
    """
    slave = os.path.join(source.directory, source.manifest.slave)
    if not os.path.isfile(slave):
        raise SpawnFailed("app {!r}: slave {!r} not found in {}".format(
            source.name, source.manifest.slave, source.directory))
    if source.profile.isolate.get("type") != "thread" and not os.access(
            slave, os.X_OK):
        raise SpawnFailed("app {!r}: slave {!r} is not executable".format(
            source.name, source.manifest.slave))
    return source


class Runlist:
    """
    The node's runlist in storage: the apps started on boot, with their
    profiles: C{runlists/<name>}, as Cocaine 0.12 keeps it, or
    C{runlists/<name>@<node>} for a node on a shared storage (docs/
    cluster.md, "Shared storage"), so nodes sharing a store do not start
    and stop each other's apps.

    A node-scoped runlist not written yet reads as C{runlists/<name>}
    (one prepared for every node, e.g. with Cocaine 0.12's C{cocaine-tool
    runlist}); writes go to the node's own key only.

    @ivar name: the runlist's name (the node service's C{runlist}).
    @ivar node: the node's name when the runlist is the node's own, else
        L{None}.
    @ivar key: the key written.
    """

    def __init__(self, storage, name, node=None):
        self._storage = storage
        self.name = name
        self.node = node
        self.key = runlistKey(name, node)

    async def _read(self, key):
        value = unpackValue(await maybeDeferred(
            self._storage.read, RUNLISTS, key))
        if not isinstance(value, dict):
            log.warn("runlist {runlist} is not a map; ignored",
                     runlist=key)
            return {}
        return {(k.decode() if isinstance(k, bytes) else k):
                (v.decode() if isinstance(v, bytes) else v)
                for k, v in value.items()}

    async def read(self):
        """
        @return: C{{app: profile}}; empty when there is none.
        """
        keys = [self.key] if self.key == self.name else [self.key,
                                                         self.name]
        for key in keys:
            try:
                return await self._read(key)
            except KeyNotFound:
                continue
        return {}

    async def write(self, runlist):
        await maybeDeferred(self._storage.write, RUNLISTS, self.key,
                            packValue(runlist), ["runlist"])

    async def add(self, name, profile):
        runlist = await self.read()
        runlist[name] = profile
        await self.write(runlist)

    async def remove(self, name):
        runlist = await self.read()
        if runlist.pop(name, None) is not None:
            await self.write(runlist)


def runlistKey(name, node=None):
    """
    The key of runlist C{name} in collection C{runlists}: C{name}, or
    C{<name>@<node>} for the node C{node}'s own.
    """
    return name if node is None else "{}@{}".format(name, node)


def workerEnvironment(environ=None):
    """
    The base environment of workers: what they need of the node's, never
    all of it (L{cocaine.engine.environment}).
    """
    from cocaine.engine.environment import workerEnvironment
    return workerEnvironment(environ)


def defaultIsolate(reactor, profile, name):
    """
    The isolate of an app: the C{thread} one, or the process isolate with
    the profile's limits.
    """
    if profile.isolate.get("type") == "thread":
        if profile.user is not None or profile.group is not None:
            raise SpawnFailed("app {!r}: the thread isolate runs in the "
                              "node and cannot take the profile's user or "
                              "group".format(name))
        from cocaine.isolate.thread import ThreadIsolate
        return ThreadIsolate(reactor)
    from cocaine.isolate.process import ProcessIsolate
    return ProcessIsolate(reactor, rlimits=dict(profile.rlimits) or None,
                          cgroups=dict(profile.cgroups) or None,
                          user=profile.user, group=profile.group,
                          scheduling=profile.scheduling)
