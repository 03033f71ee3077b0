# -*- test-case-name: tests.client.test_deploy -*-
"""
Deploy an app the way the Cocaine tools do (PROTOCOL.md section 7): the
archive to C{apps}, the manifest to C{manifests}, a profile to
C{profiles}, every value msgpack-packed; then C{node.start_app(name,
profile)}.

The one implementation of packing and uploading: C{cocaine-tool app
upload}, the tests and the benchmarks all use it.

    package = pack("examples/apps/echo")        # or an archive file
    checkSlave(package)                         # fail early, if wanted
    await upload(storage, package.name, archive=package.archive,
                 manifest=package.manifest)

L{upload} does the writes of L{storageWrites} through a Twisted-native
L{cocaine.client.Service}; a blocking client does the same writes one by
one. Neither checks the slave: the node refuses an app whose slave is
missing or not executable, naming it, and tests rely on that.
"""

import io
import json
import os
import tarfile
from dataclasses import dataclass

from cocaine.protocol.framing import packValue

#: Directory names the archive never contains (nor C{*.pyc} files).
SKIPPED = ("__pycache__",)

#: The suffixes of an app archive, stripped to name the app.
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")

#: The storage tags of an app's archive and manifest, and of a profile.
APP_TAGS = ("app",)
PROFILE_TAGS = ("profile",)


class DeployError(Exception):
    """
    An app that cannot be packed: the message names the bad path, file or
    field.
    """


class MissingManifest(DeployError):
    """
    An archive without a C{manifest.json}, and no manifest given.
    """


@dataclass(frozen=True)
class Package:
    """
    An app ready for storage.

    @ivar name: the app's name.
    @ivar archive: the tar or tar.gz archive's bytes.
    @ivar manifest: the manifest map.
    """

    name: str
    archive: bytes
    manifest: dict


def appName(path):
    """
    The name of the app at C{path}: the directory's name, or the archive's
    without its suffix (C{echo.tar.gz} is C{echo}); empty when there is
    none (C{/}).
    """
    base = os.path.basename(os.path.normpath(path))
    for suffix in ARCHIVE_SUFFIXES:
        if base.endswith(suffix) and len(base) > len(suffix):
            return base[:-len(suffix)]
    return base


def _skipped(name):
    return name in SKIPPED or name.endswith(".pyc")


def _walk(path):
    """
    C{[(absolute, relative)]} of what the archive of directory C{path}
    holds, in its order, and the total bytes of its regular files. Links
    are kept as links, never followed.
    """
    entries = []
    total = 0

    def visit(absolute, relative):
        nonlocal total
        entries.append((absolute, relative))
        if os.path.islink(absolute):
            return
        if os.path.isdir(absolute):
            for name in sorted(os.listdir(absolute)):
                if not _skipped(name):
                    visit(os.path.join(absolute, name),
                          relative + "/" + name)
        elif os.path.isfile(absolute):
            total += os.path.getsize(absolute)

    for name in sorted(os.listdir(path)):
        if not _skipped(name):
            visit(os.path.join(path, name), name)
    return entries, total


def contentSize(path):
    """
    The bytes of file content L{packDirectory} reads from directory
    C{path}: the total of a progress bar.
    """
    return _walk(path)[1]


class _Counting:
    """
    A file whose reads are reported to C{advance(bytes)}.
    """

    def __init__(self, f, advance):
        self._f = f
        self._advance = advance

    def read(self, size=-1):
        data = self._f.read(size)
        self._advance(len(data))
        return data


def packDirectory(path, advance=None):
    """
    A gzipped tar of the directory C{path}, built in memory, entries
    relative to it, sorted; Python caches (C{__pycache__}, C{*.pyc}) are
    left out.

    @param advance: called with the bytes of file content read since its
        last call, chunk by chunk, for a progress bar (L{contentSize} is
        the total).
    @return: the archive's bytes.
    """
    entries, _ = _walk(path)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for absolute, relative in entries:
            info = archive.gettarinfo(absolute, arcname=relative)
            if info.isreg():
                with open(absolute, "rb") as f:
                    archive.addfile(info, _Counting(f, advance)
                                    if advance is not None else f)
            else:
                archive.addfile(info)
    return buffer.getvalue()


def readJSON(path, what="manifest"):
    """
    A JSON file's value.

    @param what: how to name the file in an error.
    @raise DeployError: the file cannot be read or is not JSON.
    """
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except OSError as e:
        raise DeployError("cannot read {} {}: {}".format(
            what, path, e.strerror or e))
    except ValueError as e:
        raise DeployError("{} {} is not JSON: {}".format(what, path, e))


def readManifest(path):
    """
    The C{manifest.json} of the app directory C{path}.

    @raise DeployError: it cannot be read or is not JSON.
    """
    return readJSON(os.path.join(path, "manifest.json"))


def manifestOf(archive):
    """
    The C{manifest.json} inside an archive, or L{None} when it has none.

    @raise DeployError: the archive cannot be read, or its manifest is
        not JSON.
    """
    try:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            for member in tar.getmembers():
                if os.path.normpath(member.name) == "manifest.json" and (
                        member.isreg()):
                    return json.loads(tar.extractfile(member).read())
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DeployError("not a readable tar archive: {}".format(e))
    except ValueError as e:
        raise DeployError("manifest.json of the archive is not JSON: {}"
                          .format(e))
    return None


def archiveMembers(archive):
    """
    C{{normalised path: TarInfo}} of an archive's entries.

    @raise DeployError: it is not a tar or tar.gz archive.
    """
    try:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            return {os.path.normpath(m.name): m for m in tar.getmembers()}
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DeployError("not a tar or tar.gz archive: {}".format(e))


def pack(path, name=None, manifest=None, advance=None):
    """
    The app at C{path} ready for storage: a directory is packed with
    L{packDirectory} (its C{manifest.json} is the manifest); a C{.tar},
    C{.tar.gz} or C{.tgz} file is taken as it is (its C{manifest.json} is
    the manifest).

    @param name: the app's name (default: L{appName} of C{path}).
    @param manifest: the manifest map to use instead of the app's own.
    @param advance: a progress callback for L{packDirectory}.
    @rtype: L{Package}
    @raise DeployError: naming what cannot be used (L{MissingManifest}
        for an archive without one).
    """
    name = name or appName(path)
    if not name:
        raise DeployError("cannot tell the app's name from {!r}".format(
            path))
    if os.path.isdir(path):
        if manifest is None:
            manifest = readManifest(path)
        return Package(name, packDirectory(path, advance), manifest)
    if not os.path.isfile(path):
        raise DeployError("{}: no such directory or archive".format(path))
    try:
        with open(path, "rb") as f:
            archive = f.read()
    except OSError as e:
        raise DeployError("cannot read {}: {}".format(path, e.strerror or e))
    try:
        if manifest is None:
            manifest = manifestOf(archive)
        archiveMembers(archive)
    except DeployError as e:
        raise DeployError("{}: {}".format(path, e))
    if manifest is None:
        raise MissingManifest("{} has no manifest.json".format(path))
    return Package(name, archive, manifest)


def checkSlave(package):
    """
    Whether the manifest's C{slave} is in the archive, as the node will
    check it after unpacking.

    @return: warnings (text) about what the node would refuse later: a
        slave that is not executable.
    @raise DeployError: the manifest names no slave, or one that is not
        in the archive.
    """
    manifest = package.manifest
    slave = manifest.get("slave") if isinstance(manifest, dict) else None
    if not isinstance(slave, str) or not slave:
        raise DeployError("the manifest's slave must be the worker's path, "
                          "got {!r}".format(slave))
    member = archiveMembers(package.archive).get(os.path.normpath(slave))
    if member is None:
        raise DeployError("the manifest's slave {!r} is not in the app"
                          .format(slave))
    if not member.mode & 0o111:
        return ["the slave {!r} is not executable; the process isolate will "
                "refuse to start it".format(slave)]
    return []


def storageWrites(name, archive, manifest, profile=None, profileName=None):
    """
    The storage writes that deploy an app, in order: C{[(collection, key,
    value, tags)]}, every value msgpack-packed. The manifest goes first,
    the (large) archive second, the profile last.

    @param profile: a profile map to write as C{profileName} (default:
        the app's name), or L{None} for none.
    """
    writes = [("manifests", name, packValue(manifest), list(APP_TAGS)),
              ("apps", name, packValue(archive), list(APP_TAGS))]
    if profile is not None:
        writes.append(("profiles", profileName or name, packValue(profile),
                       list(PROFILE_TAGS)))
    return writes


async def upload(storage, name, path=None, archive=None, manifest=None,
                 profile=None, profileName=None, timeout=None):
    """
    Write an app to storage.

    @param storage: a L{cocaine.client.Service} of C{storage}.
    @param path: an app directory or archive file (its C{manifest.json} is
        the manifest unless C{manifest} is given); see L{pack}.
    @param archive: the archive's bytes instead of C{path}.
    @param profile: a profile map to write as C{profileName} (default: the
        app's name).
    @param timeout: seconds for each write (default: the service's).
    @return: the L{Package} written.
    @raise DeployError: C{path} cannot be packed.
    """
    if archive is None:
        package = pack(path, name, manifest)
    else:
        if manifest is None:
            manifest = readManifest(path) if path else manifestOf(archive)
            if manifest is None:
                raise MissingManifest("the archive has no manifest.json")
        package = Package(name, archive, manifest)
    for collection, key, value, tags in storageWrites(
            name, package.archive, package.manifest, profile, profileName):
        await storage.write(collection, key, value, tags, timeout=timeout)
    return package
