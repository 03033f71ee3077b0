# -*- test-case-name: tests.test_testcasenames -*-
"""
Every module's C{# -*- test-case-name: ... -*-} header names test modules
that exist and hold tests, read the way trial reads it (C{trial
--testmodule FILE}, and editors after it): comma-separated, no spaces.

A header naming a module that does not exist runs nothing and says
nothing; twelve such headers had piled up before this test.
"""

import os

from twisted.scripts.trial import getTestModules
from twisted.trial.runner import ErrorHolder, TestLoader
from twisted.trial.unittest import SynchronousTestCase

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Where headers are read: the code (the package, the plugins, the
#: benchmarks), the tests themselves and the example apps.
TOPS = ("cocaine", "services", "drivers", os.path.join("twisted", "plugins"),
        "bench", "tests", "examples")


def headers(root=ROOT, tops=TOPS):
    """
    @return: C{[(path relative to root, [test module names])]} of every
        Python file under C{tops} with a C{test-case-name} header, sorted.
    """
    found = []
    for top in tops:
        for directory, subdirectories, files in os.walk(
                os.path.join(root, top)):
            subdirectories[:] = sorted(
                name for name in subdirectories
                if not name.startswith(".") and name not in (
                    "__pycache__", "node_modules"))
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(directory, name)
                    names = getTestModules(path)
                    if names:
                        found.append((os.path.relpath(path, root), names))
    return found


def _leaves(suite):
    try:
        tests = list(suite)
    except TypeError:
        yield suite
        return
    for test in tests:
        yield from _leaves(test)


def problem(name, loader=None):
    """
    @return: why trial cannot run C{name} as a test module (or package),
        or L{None} when it can.
    """
    loader = loader or TestLoader()
    suite = loader.loadByName(name, recurse=True)
    errors = [test for test in _leaves(suite)
              if isinstance(test, ErrorHolder)]
    if errors:
        # a Failure, or an exc_info tuple
        error = errors[0].error
        reason = error[1] if isinstance(error, tuple) else getattr(
            error, "value", error)
        return "does not load: {}: {}".format(type(reason).__name__,
                                              reason)
    if not suite.countTestCases():
        return "holds no tests"
    return None


class HeaderTests(SynchronousTestCase):

    def test_namedModulesExist(self):
        """
        Every name in every header is a test module (or a package of
        them) trial loads, with tests in it.
        """
        loader = TestLoader()
        found = headers()
        # the walk found the headers: most modules of the package have one
        self.assertGreater(len(found), 250)
        wrong = []
        for path, names in found:
            for name in names:
                why = problem(name, loader)
                if why is not None:
                    wrong.append("{} names {!r}: {}".format(path, name, why))
        if wrong:
            self.fail("headers naming what trial cannot run:\n"
                      + "\n".join(wrong))


class CheckTests(SynchronousTestCase):
    """
    The check itself finds what it is there to find.
    """

    def write(self, relative, text):
        path = os.path.join(self.root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def setUp(self):
        self.root = os.path.abspath(self.mktemp())

    def test_headers(self):
        """
        The header is read from the first two lines, several names
        comma-separated; files without one, other files and caches are
        left out.
        """
        self.write("pkg/a.py", "# -*- test-case-name: tests.test_a -*-\n")
        self.write("pkg/sub/b.py", "#!/usr/bin/env python\n"
                   "# -*- test-case-name: tests.x,tests.y -*-\n")
        self.write("pkg/c.py", '"""\nNo header.\n"""\n')
        self.write("pkg/d.txt", "# -*- test-case-name: tests.test_d -*-\n")
        self.write("pkg/__pycache__/e.py",
                   "# -*- test-case-name: tests.test_e -*-\n")
        self.write("pkg/f.py", "# -*- coding: utf-8 -*-\n")
        self.write("other/g.py", "# -*- test-case-name: tests.test_g -*-\n")
        self.assertEqual(headers(self.root, ("pkg",)), [
            (os.path.join("pkg", "a.py"), ["tests.test_a"]),
            (os.path.join("pkg", "sub", "b.py"), ["tests.x", "tests.y"])])

    def test_problems(self):
        """
        A module that does not exist, one without tests and a name with a
        space (trial does not strip them) are problems; a test module and
        a package of them are not.
        """
        self.assertEqual(problem("tests.test_nonexistent"),
                         "does not load: AttributeError: "
                         "tests.test_nonexistent does not exist.")
        self.assertIn("does not load", problem("tests.driver.test_cron"))
        self.assertEqual(problem("tests.tool.fakes"), "holds no tests")
        self.assertIn("does not load", problem(" tests.test_heap"))
        self.assertIsNone(problem("tests.test_heap"))
        self.assertIsNone(problem("tests.cache"))
