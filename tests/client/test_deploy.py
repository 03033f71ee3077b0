"""
L{cocaine.client.deploy}: packing an app and the storage writes that
deploy it, without a node.
"""

import io
import json
import os
import tarfile

from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase

from cocaine.client import deploy
from cocaine.protocol.framing import unpackValue


def _members(archive):
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: (tar.extractfile(m).read() if m.isreg() else m)
                for m in tar.getmembers()}


def _tar(files, mode="w"):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def makeApp(path, manifest=b'{"slave": "worker.py"}'):
    """
    An app directory at C{path} with a worker, a package and Python
    caches.

    @return: C{path}, absolute.
    """
    path = os.path.abspath(path)
    os.makedirs(os.path.join(path, "lib", "__pycache__"))
    os.makedirs(os.path.join(path, "__pycache__"))
    files = {"manifest.json": manifest, "worker.py": b"#!/bin/sh\n",
             "lib/util.py": b"x = 1\n", "lib/util.pyc": b"cache",
             "lib/__pycache__/util.cpython.pyc": b"cache",
             "__pycache__/w.pyc": b"cache"}
    for name, data in files.items():
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)
    os.chmod(os.path.join(path, "worker.py"), 0o755)
    return path


class _Storage:
    """
    A storage client that records its writes; each answers at once.
    """

    def __init__(self):
        self.writes = []

    def write(self, collection, key, value, tags, timeout=None):
        self.writes.append((collection, key, unpackValue(value), tags,
                            timeout))
        return succeed(None)


def _run(coroutine):
    """
    The result of a coroutine that never waits (a fake storage answers
    at once).
    """
    result = []
    Deferred.fromCoroutine(coroutine).addBoth(result.append)
    [value] = result
    if hasattr(value, "raiseException"):
        value.raiseException()
    return value


class PackTests(SynchronousTestCase):

    def test_appName(self):
        for path, name in [("apps/echo", "echo"), ("apps/echo/", "echo"),
                           ("echo.tar.gz", "echo"), ("x/echo.tgz", "echo"),
                           ("echo.tar", "echo"), (".tar", ".tar"),
                           ("/", "")]:
            self.assertEqual(deploy.appName(path), name, path)

    def test_packDirectory(self):
        """
        Entries relative to the directory, sorted, caches left out; the
        progress callback adds up to L{deploy.contentSize}.
        """
        path = makeApp(self.mktemp())
        read = []
        archive = deploy.packDirectory(path, read.append)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            self.assertEqual(tar.getnames(), [
                "lib", "lib/util.py", "manifest.json", "worker.py"])
            self.assertTrue(tar.getmember("worker.py").mode & 0o111)
        self.assertEqual(sum(read), deploy.contentSize(path))
        self.assertEqual(deploy.contentSize(path), 22 + 10 + 6)
        self.assertEqual(_members(deploy.packDirectory(path))["lib/util.py"],
                         b"x = 1\n")

    def test_linksKeptAsLinks(self):
        path = makeApp(self.mktemp())
        os.symlink("/etc", os.path.join(path, "etc"))
        member = _members(deploy.packDirectory(path))["etc"]
        self.assertTrue(member.issym())
        self.assertEqual(member.linkname, "/etc")

    def test_packDirectoryAndArchive(self):
        path = makeApp(self.mktemp())
        package = deploy.pack(path)
        self.assertEqual((package.name, package.manifest),
                         (os.path.basename(path), {"slave": "worker.py"}))
        self.assertEqual(deploy.checkSlave(package), [])
        package = deploy.pack(path, "other", {"slave": "lib/util.py"})
        self.assertEqual((package.name, package.manifest),
                         ("other", {"slave": "lib/util.py"}))
        self.assertEqual(deploy.checkSlave(package), [
            "the slave 'lib/util.py' is not executable; the process isolate "
            "will refuse to start it"])

        archive = _tar([("./manifest.json", b'{"slave": "w"}'),
                        ("./w", b"#!/bin/sh\n")], "w:gz")
        file = os.path.abspath(self.mktemp()) + ".tgz"
        with open(file, "wb") as f:
            f.write(archive)
        package = deploy.pack(file)
        self.assertEqual(package, deploy.Package(
            os.path.basename(file)[:-4], archive, {"slave": "w"}))
        self.assertEqual(deploy.checkSlave(package), [])

    def test_errorsNameTheBadValue(self):
        missing = os.path.abspath(self.mktemp())
        self.assertEqual(
            str(self.assertRaises(deploy.DeployError, deploy.pack, missing)),
            "{}: no such directory or archive".format(missing))
        self.assertEqual(
            str(self.assertRaises(deploy.DeployError, deploy.pack, "/")),
            "cannot tell the app's name from '/'")

        path = makeApp(self.mktemp(), b'{"slave": ')
        error = self.assertRaises(deploy.DeployError, deploy.pack, path)
        self.assertIn("manifest {} is not JSON".format(
            os.path.join(path, "manifest.json")), str(error))
        os.remove(os.path.join(path, "manifest.json"))
        error = self.assertRaises(deploy.DeployError, deploy.pack, path)
        self.assertIn("cannot read manifest {}".format(
            os.path.join(path, "manifest.json")), str(error))

        file = os.path.abspath(self.mktemp()) + ".tar"
        with open(file, "wb") as f:
            f.write(_tar([("w", b"")]))
        error = self.assertRaises(deploy.MissingManifest, deploy.pack, file)
        self.assertEqual(str(error), "{} has no manifest.json".format(file))
        with open(file, "wb") as f:
            f.write(b"not an archive")
        error = self.assertRaises(deploy.DeployError, deploy.pack, file)
        self.assertTrue(str(error).startswith(
            "{}: not a readable tar archive".format(file)), error)
        error = self.assertRaises(deploy.DeployError, deploy.pack, file,
                                  manifest={"slave": "w"})
        self.assertTrue(str(error).startswith(
            "{}: not a tar or tar.gz archive".format(file)), error)
        with open(file, "wb") as f:
            f.write(_tar([("manifest.json", b"{")]))
        error = self.assertRaises(deploy.DeployError, deploy.pack, file)
        self.assertIn("manifest.json of the archive is not JSON", str(error))

    def test_checkSlave(self):
        archive = _tar([("w", b"")])
        for manifest, message in [
                ({"slave": "nope"}, "the manifest's slave 'nope' is not in "
                 "the app"),
                ({"slave": ""}, "the manifest's slave must be the worker's "
                 "path, got ''"),
                ({}, "the manifest's slave must be the worker's path, got "
                 "None")]:
            error = self.assertRaises(
                deploy.DeployError, deploy.checkSlave,
                deploy.Package("a", archive, manifest))
            self.assertEqual(str(error), message)
        self.assertEqual(deploy.checkSlave(deploy.Package(
            "a", archive, {"slave": "./w"})), [])


class UploadTests(SynchronousTestCase):

    def test_storageWrites(self):
        """
        Manifest first, archive second, profile last; every value
        msgpack-packed, tagged as the Cocaine tools tag them.
        """
        writes = deploy.storageWrites("echo", b"\x1f\x8b", {"slave": "w"},
                                      {"pool-limit": 1}, "small")
        self.assertEqual(
            [(c, k, unpackValue(v), t) for c, k, v, t in writes],
            [("manifests", "echo", {b"slave": b"w"}, ["app"]),
             ("apps", "echo", b"\x1f\x8b", ["app"]),
             ("profiles", "small", {b"pool-limit": 1}, ["profile"])])
        self.assertEqual(len(deploy.storageWrites("e", b"", {})), 2)
        self.assertEqual(deploy.storageWrites("e", b"", {}, {})[2][1], "e")

    def test_uploadDirectory(self):
        path = makeApp(self.mktemp())
        storage = _Storage()
        package = _run(deploy.upload(storage, "echo", path=path,
                                     profile={"pool-limit": 2}, timeout=7))
        self.assertEqual(package.name, "echo")
        self.assertEqual(storage.writes, [
            ("manifests", "echo", {b"slave": b"worker.py"}, ["app"], 7),
            ("apps", "echo", package.archive, ["app"], 7),
            ("profiles", "echo", {b"pool-limit": 2}, ["profile"], 7)])
        self.assertIn("worker.py", _members(package.archive))

    def test_uploadArchive(self):
        """
        Given bytes are written as they are, even an archive the node will
        refuse (the node names what is wrong).
        """
        archive = _tar([("../escape.sh", b"#!/bin/sh\n")])
        storage = _Storage()
        _run(deploy.upload(storage, "evil", archive=archive,
                           manifest={"slave": "escape.sh"}))
        self.assertEqual([w[:3] for w in storage.writes], [
            ("manifests", "evil", {b"slave": b"escape.sh"}),
            ("apps", "evil", archive)])
        archive = _tar([("manifest.json", json.dumps(
            {"slave": "w"}).encode())])
        storage = _Storage()
        _run(deploy.upload(storage, "inner", archive=archive))
        self.assertEqual(storage.writes[0][2], {b"slave": b"w"})
        self.assertRaises(deploy.MissingManifest, _run, deploy.upload(
            _Storage(), "x", archive=_tar([("w", b"")])))
