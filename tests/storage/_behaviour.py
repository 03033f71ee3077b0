"""
The behaviour every storage backend shares (the rules of
L{cocaine.interfaces.IStorageBackend}), as a mixin for one test case per
backend.
"""

import errno
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings, strategies as st
from twisted.internet.defer import maybeDeferred

from cocaine.errors import CATEGORY_SYSTEM, InvalidName, KeyNotFound

#: Every byte value, a few times over.
ALL_BYTES = bytes(range(256)) * 4

#: Names that would escape a directory or that no file system can hold.
BAD_NAMES = ["../x", "a/b", "..", ".", "", "a\0b", "a\\b", "/abs",
             "x" * 256]

#: Tags that need encoding on a file system.
ODD_TAGS = ["a/b", "\u00fc", "x y", "%2F", "a%b", ".", "..", ".hidden",
            "\\", "*", "\u2603\u2603"]


#: Text as it can arrive off the wire (valid UTF-8: no surrogates).
_wireText = st.text(st.characters(blacklist_categories=("Cs",)),
                    min_size=1, max_size=40)

def _fits(name):
    """
    Whether C{name} fits in one file name once percent-encoded, as the
    file backend stores tags and tagged keys.
    """
    return len(quote(name, safe="")) <= 255


#: Every key the backends must accept, with tags.
_keys = _wireText.filter(lambda k: "/" not in k and "\\" not in k
                         and "\0" not in k and k not in (".", "..")
                         and _fits(k))

#: Every tag the backends must accept.
_tags = _wireText.filter(lambda t: "\0" not in t and _fits(t))

#: Deterministic; the one method is shared by every backend's test case.
_property = settings(deadline=None, derandomize=True, max_examples=60,
                     suppress_health_check=[HealthCheck.differing_executors])


class StorageBehaviourMixin:
    """
    Tests for the common rules of every backend. A test case mixing this in
    provides C{makeBackend()} and derives from C{SynchronousTestCase}.
    """

    def setUp(self):
        self.storage = self.makeBackend()

    def call(self, method, *args):
        """
        Call a backend method and return its (already available) result.
        """
        return self.successResultOf(maybeDeferred(
            getattr(self.storage, method), *args))

    def failWith(self, method, exceptionType, *args):
        """
        Call a backend method that must fail with C{exceptionType}.

        @return: the exception.
        """
        return self.failureResultOf(maybeDeferred(
            getattr(self.storage, method), *args), exceptionType).value

    def test_roundTripAllBytes(self):
        """
        Every byte value comes back exactly as written.
        """
        self.call("write", "c", "k", ALL_BYTES, [])
        self.assertEqual(self.call("read", "c", "k"), ALL_BYTES)

    @_property
    @given(blob=st.binary(max_size=2048))
    def test_roundTripAnyBytes(self, blob):
        """
        Any bytes come back exactly as written.
        """
        self.call("write", "c", "k", blob, [])
        self.assertEqual(self.call("read", "c", "k"), blob)

    @_property
    @given(key=_keys, tags=st.lists(_tags, max_size=4))
    def test_anyKeyAndTags(self, key, tags):
        """
        Any acceptable key round-trips and is found by each of its tags and
        by all of them, and only there; after C{remove} it is gone.
        """
        self.storage = self.makeBackend()
        self.call("write", "p", key, key.encode("utf-8"), tags)
        self.assertEqual(self.call("read", "p", key), key.encode("utf-8"))
        self.assertEqual(self.call("find", "p", []), [key])
        for tag in tags:
            self.assertEqual(self.call("find", "p", [tag]), [key])
        self.assertEqual(self.call("find", "p", tags), [key])
        self.assertEqual(self.call("find", "p", ["not-" + "".join(tags)]),
                         [])
        self.call("remove", "p", key)
        self.assertEqual(self.call("find", "p", []), [])
        for tag in tags:
            self.assertEqual(self.call("find", "p", [tag]), [])

    def test_roundTripEmpty(self):
        """
        An empty value is a value, not a missing key.
        """
        self.call("write", "c", "empty", b"", [])
        self.assertEqual(self.call("read", "c", "empty"), b"")
        self.assertEqual(self.call("find", "c", []), ["empty"])

    def test_readReturnsBytes(self):
        """
        C{read} returns C{bytes}, also when C{write} got a bytearray.
        """
        self.call("write", "c", "k", bytearray(b"abc"), [])
        value = self.call("read", "c", "k")
        self.assertIsInstance(value, bytes)
        self.assertEqual(value, b"abc")

    def test_writeDefaultTags(self):
        """
        C{tags} may be left out or given as L{None}.
        """
        self.call("write", "c", "a", b"1")
        self.call("write", "c", "b", b"2", None)
        self.assertEqual(self.call("find", "c", []), ["a", "b"])
        self.assertEqual(self.call("find", "c", ["t"]), [])

    def test_overwriteReplacesValueAndTags(self):
        """
        A second write replaces the value and every tag of the first.
        """
        self.call("write", "c", "k", b"first value", ["a", "b"])
        self.call("write", "c", "k", b"2nd", ["b", "c"])
        self.assertEqual(self.call("read", "c", "k"), b"2nd")
        self.assertEqual(self.call("find", "c", ["a"]), [])
        self.assertEqual(self.call("find", "c", ["b"]), ["k"])
        self.assertEqual(self.call("find", "c", ["c"]), ["k"])

    def test_overwriteWithoutTagsDropsTags(self):
        """
        Writing a key again with no tags leaves it untagged.
        """
        self.call("write", "c", "k", b"v", ["a"])
        self.call("write", "c", "k", b"v", [])
        self.assertEqual(self.call("find", "c", ["a"]), [])
        self.assertEqual(self.call("find", "c", []), ["k"])

    def test_findOneTag(self):
        """
        C{find} with one tag returns the keys carrying it, sorted.
        """
        self.call("write", "c", "k2", b"", ["app"])
        self.call("write", "c", "k1", b"", ["app", "x"])
        self.call("write", "c", "k3", b"", ["other"])
        self.assertEqual(self.call("find", "c", ["app"]), ["k1", "k2"])

    def test_findSeveralTagsIntersection(self):
        """
        C{find} with several tags returns the keys carrying all of them.
        """
        self.call("write", "groups", "g1", b"", ["group", "active"])
        self.call("write", "groups", "g2", b"", ["group"])
        self.call("write", "groups", "g3", b"", ["active"])
        self.call("write", "groups", "g4", b"", ["active", "group", "x"])
        self.assertEqual(self.call("find", "groups", ["group", "active"]),
                         ["g1", "g4"])
        self.assertEqual(self.call("find", "groups", ["active", "group"]),
                         ["g1", "g4"])
        self.assertEqual(
            self.call("find", "groups", ["group", "active", "nope"]), [])

    def test_findDuplicateTags(self):
        """
        A tag given twice to C{write} or C{find} counts once.
        """
        self.call("write", "c", "k", b"", ["t", "t"])
        self.assertEqual(self.call("find", "c", ["t", "t"]), ["k"])
        self.call("remove", "c", "k")
        self.assertEqual(self.call("find", "c", ["t"]), [])

    def test_findNoTagsAllKeys(self):
        """
        C{find} with no tags returns every key of the collection, tagged
        or not.
        """
        self.call("write", "c", "b", b"", ["t"])
        self.call("write", "c", "a", b"", [])
        self.call("write", "c", ".dot", b"", [])
        self.call("write", "other", "z", b"", [])
        self.assertEqual(self.call("find", "c", []), [".dot", "a", "b"])

    def test_findUnknownCollection(self):
        """
        A collection nothing was written to has no keys.
        """
        self.assertEqual(self.call("find", "nothing", []), [])
        self.assertEqual(self.call("find", "nothing", ["t"]), [])

    def test_collectionsAreSeparate(self):
        """
        The same key in two collections holds two values and two sets of
        tags.
        """
        self.call("write", "one", "k", b"1", ["t1"])
        self.call("write", "two", "k", b"2", ["t2"])
        self.assertEqual(self.call("read", "one", "k"), b"1")
        self.assertEqual(self.call("read", "two", "k"), b"2")
        self.assertEqual(self.call("find", "one", ["t2"]), [])
        self.assertEqual(self.call("find", "two", ["t2"]), ["k"])
        self.call("remove", "one", "k")
        self.assertEqual(self.call("read", "two", "k"), b"2")

    def test_removeThenRead(self):
        """
        After C{remove}, C{read} fails with L{KeyNotFound} naming the key
        and the collection, as ENOENT in the system category.
        """
        self.call("write", "manifests", "app", b"v", ["app"])
        self.assertIsNone(self.call("remove", "manifests", "app"))
        error = self.failWith("read", KeyNotFound, "manifests", "app")
        self.assertIn("'app'", str(error))
        self.assertIn("'manifests'", str(error))
        self.assertEqual((error.category, error.code),
                         (CATEGORY_SYSTEM, errno.ENOENT))
        self.assertEqual(self.call("find", "manifests", ["app"]), [])
        self.assertEqual(self.call("find", "manifests", []), [])

    def test_readMissing(self):
        """
        Reading a key that was never written fails with L{KeyNotFound}.
        """
        self.call("write", "c", "other", b"", [])
        for collection in ("c", "never"):
            error = self.failWith("read", KeyNotFound, collection, "missing")
            self.assertIn("'missing'", str(error))
            self.assertIn(repr(collection), str(error))

    def test_removeMissing(self):
        """
        Removing a key that is not there fails with L{KeyNotFound}, in a
        known collection and in an unknown one, and also the second time.
        """
        self.call("write", "c", "k", b"", [])
        self.call("remove", "c", "k")
        for collection, key in (("c", "k"), ("c", "never"), ("x", "k")):
            error = self.failWith("remove", KeyNotFound, collection, key)
            self.assertIn(repr(key), str(error))
            self.assertIn(repr(collection), str(error))

    def test_removeKeepsOtherKeys(self):
        """
        Removing one key leaves the others and their tags alone.
        """
        self.call("write", "c", "a", b"A", ["t"])
        self.call("write", "c", "b", b"B", ["t"])
        self.call("remove", "c", "a")
        self.assertEqual(self.call("find", "c", ["t"]), ["b"])
        self.assertEqual(self.call("read", "c", "b"), b"B")

    def test_writeAfterRemove(self):
        """
        A removed key can be written again, with new tags only.
        """
        self.call("write", "c", "k", b"old", ["old"])
        self.call("remove", "c", "k")
        self.call("write", "c", "k", b"new", ["new"])
        self.assertEqual(self.call("read", "c", "k"), b"new")
        self.assertEqual(self.call("find", "c", ["old"]), [])
        self.assertEqual(self.call("find", "c", ["new"]), ["k"])

    def test_badKeysRejected(self):
        """
        Keys that would escape the collection are rejected by every method
        with L{InvalidName} naming the value; nothing is stored.
        """
        for name in BAD_NAMES:
            for method, args in (("read", ("c", name)),
                                 ("write", ("c", name, b"v", [])),
                                 ("remove", ("c", name))):
                error = self.failWith(method, InvalidName, *args)
                self.assertIn(repr(name), str(error), (method, name))
                self.assertEqual(error.category, CATEGORY_SYSTEM)
                self.assertEqual(error.code, errno.EINVAL)
        self.assertEqual(self.call("find", "c", []), [])

    def test_badCollectionsRejected(self):
        """
        Collections that would escape, or that start with C{.} (reserved
        for the backend), are rejected by every method with L{InvalidName}
        naming the value.
        """
        for name in BAD_NAMES + [".tags", ".tmp", ".hidden"]:
            for method, args in (("read", (name, "k")),
                                 ("write", (name, "k", b"v", [])),
                                 ("remove", (name, "k")),
                                 ("find", (name, [])),
                                 ("find", (name, ["t"]))):
                error = self.failWith(method, InvalidName, *args)
                self.assertIn(repr(name), str(error), (method, name))

    def test_longestName(self):
        """
        A name of 255 bytes is fine; 256 bytes (counted in UTF-8) is not.
        """
        self.call("write", "c", "k" * 255, b"v", [])
        self.assertEqual(self.call("read", "c", "k" * 255), b"v")
        self.failWith("write", InvalidName, "c", "\u00fc" * 128, b"v", [])

    def test_keysWithDotsAndSpaces(self):
        """
        Keys may start with a dot, hold spaces, percent signs and
        non-ASCII text.
        """
        keys = [".profile", "a b", "100%", "a%2Fb", "\u043a\u043b\u044e\u0447",
                "...", "1:2"]
        for i, key in enumerate(keys):
            self.call("write", "c", key, str(i).encode(), ["t"])
        for i, key in enumerate(keys):
            self.assertEqual(self.call("read", "c", key), str(i).encode())
        self.assertEqual(self.call("find", "c", ["t"]), sorted(keys))
        self.assertEqual(self.call("find", "c", []), sorted(keys))

    def test_oddTags(self):
        """
        Tags holding separators, dots, spaces, percent signs or non-ASCII
        text work through C{find}, each one distinct from the others.
        """
        for tag in ODD_TAGS:
            self.call("write", "c", "key-" + str(ODD_TAGS.index(tag)), b"",
                      [tag])
        for i, tag in enumerate(ODD_TAGS):
            self.assertEqual(self.call("find", "c", [tag]),
                             ["key-" + str(i)], tag)
        self.call("write", "c", "all", b"", ODD_TAGS)
        self.assertEqual(self.call("find", "c", ODD_TAGS), ["all"])
        self.assertEqual(self.call("find", "c", ["a/b", "x y"]), ["all"])

    def test_dotTagsDoNotBreakLaterWrites(self):
        """
        After keys were tagged C{"."} and C{".."}, other keys of the
        collection can still be written, retagged and removed, and the tags
        find only their own keys.
        """
        self.call("write", "c", "dot", b"", ["."])
        self.call("write", "c", "dotdot", b"", [".."])
        self.call("write", "c", "plain", b"", ["x"])
        self.call("write", "c", "plain", b"", ["y"])
        self.call("remove", "c", "plain")
        self.assertEqual(self.call("find", "c", ["."]), ["dot"])
        self.assertEqual(self.call("find", "c", [".."]), ["dotdot"])
        self.assertEqual(self.call("find", "c", []), ["dot", "dotdot"])

    def test_findUnknownLongTag(self):
        """
        A tag too long to have been stored finds nothing.
        """
        self.call("write", "c", "k", b"", ["t"])
        for tag in ("x" * 300, "\u00fc" * 200, "t" + "/" * 100):
            self.assertEqual(self.call("find", "c", [tag]), [])
            self.assertEqual(self.call("find", "c", ["t", tag]), [])

    def test_longCollection(self):
        """
        A collection name of up to 255 bytes of non-ASCII text works for
        untagged keys.
        """
        collection = "\u00fc" * 127
        self.call("write", collection, "k", b"v", [])
        self.assertEqual(self.call("read", collection, "k"), b"v")
        self.assertEqual(self.call("find", collection, []), ["k"])
        self.assertEqual(self.call("find", collection, ["t"]), [])
        self.call("remove", collection, "k")
        self.assertEqual(self.call("find", collection, []), [])

    def test_badTagsRejected(self):
        """
        An empty tag or one holding NUL is rejected with L{InvalidName}
        naming it, and the key is not written.
        """
        for tag in ("", "a\0b"):
            error = self.failWith("write", InvalidName, "c", "k", b"v",
                               ["ok", tag])
            self.assertIn(repr(tag), str(error))
        self.failWith("read", KeyNotFound, "c", "k")
