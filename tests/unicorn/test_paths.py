"""
Tests for L{cocaine.unicorn.paths}.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.errors import InvalidPath, InvalidType, InvalidValue
from cocaine.unicorn import paths


class PathTests(SynchronousTestCase):

    def test_valid(self):
        """
        Absolute paths of plain components are accepted.
        """
        for path in ("/a", "/a/b", "/a.b/c-d/e_f", "/\u00e9"):
            self.assertEqual(paths.checkPath(path), path)

    def test_invalid(self):
        """
        The root, relative paths, empty, dot and trailing components are
        C{invalid_path}, naming the path.
        """
        error = self.assertRaises(InvalidPath, paths.checkPath, "/")
        self.assertEqual(str(error), "root path is not allowed")
        for path in ("", "a/b", "/a/", "//a", "/a//b", "/a/./b", "/..",
                     "/a\x00"):
            error = self.assertRaises(InvalidPath, paths.checkPath, path)
            self.assertIn(repr(path), str(error))

    def test_family(self):
        """
        Parents, ancestors and names.
        """
        self.assertEqual(paths.parent("/a/b/c"), "/a/b")
        self.assertIsNone(paths.parent("/a"))
        self.assertEqual(paths.ancestors("/a/b/c"), ["/a", "/a/b"])
        self.assertEqual(paths.ancestors("/a"), [])
        self.assertEqual(paths.name("/a/b"), "b")

    def test_values(self):
        """
        Values round-trip; UTF-8 strings come back as text, others stay
        bytes; what is not msgpack is C{invalid_value}.
        """
        value = {b"k": [b"text", b"\xff\x00", 1, 2.5, None, True]}
        self.assertEqual(paths.decode(paths.encode(value)),
                         {"k": ["text", b"\xff\x00", 1, 2.5, None, True]})
        self.assertRaises(InvalidValue, paths.decode, b"\xc1")
        self.assertRaises(InvalidValue, paths.decode, b"")

    def test_add(self):
        """
        Ints add as ints, a float wins, anything else is C{invalid_type}.
        """
        self.assertEqual(paths.add(1, 2), 3)
        self.assertEqual(type(paths.add(1, 2.0)), float)
        self.assertRaises(InvalidType, paths.add, 1, "2")
        self.assertRaises(InvalidType, paths.add, "1", 2)
        self.assertRaises(InvalidType, paths.add, True, 2)
