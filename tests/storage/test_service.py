"""
Tests for L{cocaine.storage.service}.
"""

import errno
import io
import os

import msgpack
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from cocaine.errors import CATEGORY_SYSTEM, InvalidName, KeyNotFound
from cocaine.interfaces import IRPCService
from cocaine.protocol.services import STORAGE, STORAGE_VERSION
from cocaine.rpc.hosting import HostedService, ServerFactory
from cocaine.storage.files import FileStorage
from cocaine.storage.memory import MemoryStorage
from cocaine.storage.service import StorageService
from tests.storage._behaviour import ALL_BYTES

READ, WRITE, REMOVE, FIND = 0, 1, 2, 3
VALUE, ERROR = 0, 1


class _SynchronousThreadPool:
    """
    Runs "thread" work at once, so the thread path of L{FileStorage} can be
    driven without threads.
    """

    def callInThreadWithCallback(self, onResult, f, *args, **kwargs):
        try:
            result = f(*args, **kwargs)
        except BaseException:
            onResult(False, Failure())
        else:
            onResult(True, result)


class _SynchronousReactor:
    def getThreadPool(self):
        return _SynchronousThreadPool()

    def callFromThread(self, f, *args, **kwargs):
        f(*args, **kwargs)


class _DeferredBackend:
    """
    A backend answering every call with an already fired Deferred.
    """

    def __init__(self):
        self.calls = []

    def read(self, collection, key):
        self.calls.append(("read", collection, key))
        if key == "missing":
            return fail(KeyNotFound("storage: key 'missing' not found"))
        return succeed(b"value of " + key.encode())

    def write(self, collection, key, blob, tags):
        self.calls.append(("write", collection, key, blob, tags))
        return succeed(None)

    def remove(self, collection, key):
        self.calls.append(("remove", collection, key))
        return succeed(None)

    def find(self, collection, tags):
        self.calls.append(("find", collection, tags))
        return succeed(["a", "b"])


class StorageServiceTests(SynchronousTestCase):
    """
    L{StorageService} called directly.
    """

    def setUp(self):
        self.backend = MemoryStorage()
        self.service = StorageService(self.backend)

    def test_interface(self):
        """
        The service declares the storage protocol and version, and
        implements every message of it.
        """
        self.assertTrue(verifyObject(IRPCService, self.service))
        self.assertIs(self.service.protocol, STORAGE)
        self.assertEqual(self.service.version, STORAGE_VERSION)
        HostedService("storage", self.service, STORAGE, STORAGE_VERSION)

    def test_synchronousBackend(self):
        """
        With a synchronous backend every answer is immediate: C{read} gives
        C{(blob,)}, C{find} gives C{(keys,)}, C{write} and C{remove}
        L{None}.
        """
        self.assertIsNone(self.service.write("c", "k", b"v", ["t"]))
        self.assertEqual(self.service.read("c", "k"), (b"v",))
        self.assertEqual(self.service.find("c", ["t"]), (["k"],))
        self.assertEqual(self.service.find("c", []), (["k"],))
        self.assertIsNone(self.service.remove("c", "k"))
        self.assertEqual(self.service.find("c", []), ([],))

    def test_writeWithoutTags(self):
        """
        A write without tags hands the backend an empty list.
        """
        backend = _DeferredBackend()
        service = StorageService(backend)
        service.write("c", "k", b"v")
        service.write("c", "k", b"v", None)
        self.assertEqual(backend.calls, [("write", "c", "k", b"v", [])] * 2)

    def test_deferredBackend(self):
        """
        With a backend answering with Deferreds, C{read} and C{find} wrap
        the results the same way.
        """
        service = StorageService(_DeferredBackend())
        self.assertEqual(self.successResultOf(service.read("c", "k")),
                         (b"value of k",))
        self.assertEqual(self.successResultOf(service.find("c", ["t"])),
                         (["a", "b"],))
        self.assertIsNone(self.successResultOf(service.write(
            "c", "k", b"v", [])))
        self.assertIsNone(self.successResultOf(service.remove("c", "k")))
        self.failureResultOf(service.read("c", "missing"), KeyNotFound)

    def test_errorsPropagate(self):
        """
        Backend errors reach the caller unchanged.
        """
        self.assertRaises(KeyNotFound, self.service.read, "c", "k")
        self.assertRaises(KeyNotFound, self.service.remove, "c", "k")
        self.assertRaises(InvalidName, self.service.write, "../c", "k", b"",
                          [])

    def test_threadedFileBackend(self):
        """
        Over a L{FileStorage} whose values go through the thread pool, the
        answers are Deferreds of the same shapes.
        """
        backend = FileStorage(_SynchronousReactor(), self.mktemp(),
                              threadThreshold=16)
        service = StorageService(backend)
        written = service.write("c", "k", ALL_BYTES, ["t"])
        self.assertIsInstance(written, Deferred)
        self.assertIsNone(self.successResultOf(written))
        read = service.read("c", "k")
        self.assertIsInstance(read, Deferred)
        self.assertEqual(self.successResultOf(read), (ALL_BYTES,))
        self.assertEqual(service.find("c", ["t"]), (["k"],))


class _Wire:
    """
    One server connection over a L{StringTransport}.
    """

    def __init__(self, impl, name):
        hosted = HostedService(name, impl, impl.protocol, impl.version)
        self.protocol = ServerFactory(hosted).buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)
        self.channel = 0

    def call(self, mtype, args, packer=None):
        """
        Send one message on a new channel.

        @return: the decoded messages the server sent back.
        """
        self.channel += 1
        self.transport.clear()
        pack = packer or msgpack.Packer(use_bin_type=True).pack
        self.protocol.dataReceived(pack([self.channel, mtype, args]))
        return list(msgpack.Unpacker(
            io.BytesIO(self.transport.value()), raw=False,
            strict_map_key=False))


class StorageWireTests(SynchronousTestCase):
    """
    The storage service over the native protocol.
    """

    def setUp(self):
        self.path = os.path.abspath(self.mktemp())
        self.wire = _Wire(StorageService(FileStorage(None, self.path)),
                          "storage")

    def test_roundTripAllBytes(self):
        """
        A binary blob comes back as the same bin value.
        """
        self.assertEqual(self.wire.call(WRITE, ["c", "k", ALL_BYTES,
                                                ["t"]]),
                         [[1, VALUE, []]])
        self.assertEqual(self.wire.call(READ, ["c", "k"]),
                         [[2, VALUE, [ALL_BYTES]]])
        self.assertEqual(self.wire.call(FIND, ["c", ["t"]]),
                         [[3, VALUE, [["k"]]]])

    def test_tagsOptional(self):
        """
        C{write} may leave out the tags.
        """
        self.assertEqual(self.wire.call(WRITE, ["c", "k", b"v"]),
                         [[1, VALUE, []]])
        self.assertEqual(self.wire.call(FIND, ["c", []]),
                         [[2, VALUE, [["k"]]]])

    def test_oldClientRawStrings(self):
        """
        An old client packing everything as msgpack raw still stores its
        bytes unchanged.
        """
        old = msgpack.Packer(use_bin_type=False).pack
        blob = "\u00fc".encode("utf-8") + b"\x00\x01"
        self.assertEqual(self.wire.call(WRITE, [b"c", b"k", blob, [b"t"]],
                                        old), [[1, VALUE, []]])
        with open(os.path.join(self.path, "c", "k"), "rb") as f:
            self.assertEqual(f.read(), blob)

    def test_missingKey(self):
        """
        Reading or removing a missing key answers C{error} ENOENT in the
        system category with a message naming the key.
        """
        for mtype in (READ, REMOVE):
            [[channel, kind, args]] = self.wire.call(mtype, ["c", "nokey"])
            self.assertEqual(kind, ERROR)
            self.assertEqual(args[0], [CATEGORY_SYSTEM, errno.ENOENT])
            self.assertIn("'nokey'", args[1])

    def test_invalidName(self):
        """
        A name that would escape answers C{error} EINVAL naming it, and
        nothing is written outside the storage directory.
        """
        [[_, kind, args]] = self.wire.call(WRITE, ["c", "../evil", b"x"])
        self.assertEqual(kind, ERROR)
        self.assertEqual(args[0], [CATEGORY_SYSTEM, errno.EINVAL])
        self.assertIn("'../evil'", args[1])
        self.assertFalse(os.path.exists(os.path.join(
            os.path.dirname(self.path), "evil")))

    def test_removeThenFind(self):
        """
        C{remove} answers C{value []} and the key is gone from C{find}.
        """
        self.wire.call(WRITE, ["c", "k", b"v", ["t"]])
        self.assertEqual(self.wire.call(REMOVE, ["c", "k"]),
                         [[2, VALUE, []]])
        self.assertEqual(self.wire.call(FIND, ["c", ["t"]]),
                         [[3, VALUE, [[]]]])
