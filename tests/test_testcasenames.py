# -*- test-case-name: tests.test_testcasenames -*-
"""
Every module's C{# -*- test-case-name: ... -*-} header names test modules
that exist and hold tests, read the way trial reads it (C{trial
--testmodule FILE}, and editors after it): comma-separated, no spaces.

A header naming a module that does not exist runs nothing and says
nothing; twelve such headers had piled up before this test. A module with
code and no header at all says nothing either: every one under L{CODE}
has one, but for the few in L{UNTESTED}.
"""

import ast
import os

from twisted.scripts.trial import getTestModules
from twisted.trial.runner import ErrorHolder, TestLoader
from twisted.trial.unittest import SynchronousTestCase

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Where headers are read: the code (the package, the plugins, the
#: benchmarks), the tests themselves and the example apps.
TOPS = ("cocaine", "services", "drivers", os.path.join("twisted", "plugins"),
        "bench", "tests", "examples")

#: Where every module with code must have a header: the code, not its
#: tests or the example apps.
CODE = ("cocaine", "services", "drivers", os.path.join("twisted", "plugins"),
        "bench")

#: The modules with code that no test runs, and why none can.
UNTESTED = {
    os.path.join("bench", "peers", "selftest.py"):
        "itself a check run by hand: installs the Python peers and a "
        "Debian RabbitMQ, then runs every peer (bench.compare runs the "
        "same peers, under tests.integration.test_bench)",
}


def _pythonFiles(root, tops):
    for top in tops:
        for directory, subdirectories, files in os.walk(
                os.path.join(root, top)):
            subdirectories[:] = sorted(
                name for name in subdirectories
                if not name.startswith(".") and name not in (
                    "__pycache__", "node_modules"))
            for name in sorted(files):
                if name.endswith(".py"):
                    yield os.path.join(directory, name)


def headers(root=ROOT, tops=TOPS):
    """
    @return: C{[(path relative to root, [test module names])]} of every
        Python file under C{tops} with a C{test-case-name} header, sorted.
    """
    found = []
    for path in _pythonFiles(root, tops):
        names = getTestModules(path)
        if names:
            found.append((os.path.relpath(path, root), names))
    return found


def hasCode(path):
    """
    @return: whether the module at C{path} holds more than a docstring.
    """
    with open(path, "rb") as f:
        body = ast.parse(f.read(), path).body
    if body and isinstance(body[0], ast.Expr) and isinstance(
            body[0].value, ast.Constant) and isinstance(
                body[0].value.value, str):
        body = body[1:]
    return bool(body)


def withoutHeader(root=ROOT, tops=CODE):
    """
    @return: the paths (relative to root, sorted) of every Python file
        under C{tops} that holds code and has no C{test-case-name} header
        where trial reads it (its first two lines).
    """
    return [os.path.relpath(path, root)
            for path in _pythonFiles(root, tops)
            if not getTestModules(path) and hasCode(path)]


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

    def test_everyModuleWithCode(self):
        """
        Every module with code under L{CODE} names the tests that test it,
        but for those in L{UNTESTED}.
        """
        missing = [path for path in withoutHeader() if path not in UNTESTED]
        if missing:
            self.fail("modules with code and no test-case-name header (add "
                      "one naming their tests):\n" + "\n".join(missing))

    def test_untestedHold(self):
        """
        Each module the allow-list excuses still exists, holds code and
        has no header: one that gained tests leaves the list.
        """
        self.assertEqual(sorted(set(UNTESTED) - set(withoutHeader())), [])


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

    def test_withoutHeader(self):
        """
        A module with code and no header is found; an empty or
        docstring-only one is not, nor one with the header on its second
        line after a shebang. A header below the second line is not read.
        """
        self.write("pkg/__init__.py", '"""\nA package.\n"""\n')
        self.write("pkg/empty.py", "")
        self.write("pkg/code.py", '"""\nCode.\n"""\n\nX = 1\n')
        self.write("pkg/sub/__init__.py", "from pkg.code import X\n")
        self.write("pkg/script.py", "#!/usr/bin/env python\n"
                   "# -*- test-case-name: tests.test_s -*-\nX = 1\n")
        self.write("pkg/late.py", "#!/usr/bin/env python\n\n"
                   "# -*- test-case-name: tests.test_l -*-\nX = 1\n")
        self.write("pkg/headed.py", "# -*- test-case-name: tests.test_h -*-\n"
                   "X = 1\n")
        self.write("pkg/notes.txt", "X = 1\n")
        self.assertEqual(withoutHeader(self.root, ("pkg",)), [
            os.path.join("pkg", "code.py"), os.path.join("pkg", "late.py"),
            os.path.join("pkg", "sub", "__init__.py")])

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
