"""
Tests for L{cocaine.compiled}: the modules built with Cython, and the
switch that runs their Python source instead.
"""

import importlib.machinery
import os
import subprocess
import sys
import types

from twisted.trial.unittest import SynchronousTestCase

from cocaine import compiled
from cocaine.protocol import framing


def importedFrom(name, environ):
    """
    @return: the file module C{name} is imported from in a fresh
        interpreter with C{environ} added to this one's environment.
    """
    env = dict(os.environ)
    env.pop(compiled.ENV_PURE, None)
    env.update(environ)
    result = subprocess.run(
        [sys.executable, "-c",
         "import {0}, sys; print(sys.modules[{0!r}].__file__)".format(name)],
        env=env, capture_output=True, text=True, timeout=60)
    if result.returncode:
        raise AssertionError(result.stderr)
    return result.stdout.strip()


class SwitchTests(SynchronousTestCase):
    """
    C{COCAINE_PURE_PYTHON} decides between the compiled module and its
    source.
    """

    def test_values(self):
        """
        C{1} asks for the source; C{0} or unset for what was built.
        """
        self.assertTrue(compiled.pureWanted({compiled.ENV_PURE: "1"}))
        self.assertFalse(compiled.pureWanted({compiled.ENV_PURE: "0"}))
        self.assertFalse(compiled.pureWanted({}))

    def test_badValue(self):
        """
        Any other value is refused with an error naming the variable and
        the value.
        """
        error = self.assertRaises(ValueError, compiled.pureWanted,
                                  {compiled.ENV_PURE: "yes"})
        self.assertIn("COCAINE_PURE_PYTHON='yes'", str(error))

    def test_sourceWhenAsked(self):
        """
        With the switch on, every listed module comes from its C{.py}
        file.
        """
        for name in compiled.MODULES:
            self.assertTrue(importedFrom(
                name, {compiled.ENV_PURE: "1"}).endswith(".py"))

    def test_builtOtherwise(self):
        """
        With the switch off, a listed module comes from what was built:
        its extension where there is one.
        """
        for name in compiled.MODULES:
            built = importlib.machinery.PathFinder.find_spec(
                name, compiled._parentPath(name)).origin
            self.assertEqual(importedFrom(name, {compiled.ENV_PURE: "0"}),
                             built)

    def test_badValueStopsImport(self):
        """
        A bad value stops the import of the package with the error, so a
        node or worker started with it says why instead of running the
        wrong code.
        """
        error = self.assertRaises(AssertionError, importedFrom, "cocaine",
                                  {compiled.ENV_PURE: "2"})
        self.assertIn("COCAINE_PURE_PYTHON='2': 0 or 1", str(error))


class PythonSourceTests(SynchronousTestCase):
    """
    L{compiled.pythonSource} runs a module's source beside the module
    already imported.
    """

    def test_freshCopy(self):
        """
        The copy is a module of its own, from the C{.py} file, not
        registered in C{sys.modules}.
        """
        source = compiled.pythonSource("cocaine.protocol.framing")
        self.assertIsNot(source, framing)
        self.assertTrue(source.__file__.endswith("framing.py"))
        self.assertIs(sys.modules["cocaine.protocol.framing"], framing)
        self.assertIsInstance(source.Decoder.__dict__["feed"],
                              types.FunctionType)

    def test_noSource(self):
        """
        A module without a Python source file is an L{ImportError}.
        """
        self.assertRaises(ImportError, compiled.pythonSource,
                          "cocaine.noSuchModule")


class BuiltTests(SynchronousTestCase):
    """
    Where the package was built with a C compiler, the listed modules are
    compiled (a machine without one runs their source, and skips this).
    """

    def test_decoderCompiled(self):
        """
        The framing decoder is an extension type.
        """
        if not compiled.isCompiled(framing):
            raise self.skipTest(
                "cocaine.protocol.framing was not compiled (no C compiler "
                "when the package was installed)")
        self.assertNotIsInstance(framing.Decoder.__dict__["feed"],
                                 types.FunctionType)
        self.assertEqual(framing.Decoder().feed(b"\x93\x01\x00\x90"),
                         [(1, 0, [], None)])
