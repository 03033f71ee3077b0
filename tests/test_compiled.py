"""
Tests for L{cocaine.compiled}: the modules built with Cython, and the
switch that runs their Python source instead.
"""

import importlib
import importlib.machinery
import os
import subprocess
import sys
import tomllib
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

    def test_everyModuleCompiled(self):
        """
        Where the decoder was compiled, so was every listed module: a
        module that fails to compile is left Python by the build without
        a word (C{optional = true}), and would quietly cost what
        compiling it buys.
        """
        if not compiled.isCompiled(framing):
            raise self.skipTest(
                "cocaine.protocol.framing was not compiled (no C compiler "
                "when the package was installed)")
        pure = [name for name in compiled.MODULES
                if not compiled.isCompiled(importlib.import_module(name))]
        self.assertEqual(pure, [])


class ListTests(SynchronousTestCase):
    """
    The build and L{compiled.MODULES} name the same modules.
    """

    def test_pyprojectListsModules(self):
        """
        C{pyproject.toml} builds exactly the modules of
        L{compiled.MODULES}, each from its own C{.py} file, each optional
        (a machine without a C compiler installs the Python source).
        """
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        with open(os.path.join(root, "pyproject.toml"), "rb") as f:
            built = tomllib.load(f)["tool"]["setuptools"]["ext-modules"]
        self.assertEqual(sorted(e["name"] for e in built),
                         sorted(compiled.MODULES))
        for extension in built:
            self.assertEqual(
                extension["sources"],
                [extension["name"].replace(".", "/") + ".py"])
            self.assertIs(extension["optional"], True)


class StaleBuildTests(SynchronousTestCase):
    """
    A compiled module older than its source does not run: the source
    does, with a warning (L{compiled.staleBuild}, L{compiled.SourceFinder}).
    """

    def built(self, sourceChanged):
        """
        A module C{m} in a directory of its own: its source and a
        (pretend) build, the source changed C{sourceChanged} seconds
        after the build.

        @return: the directory.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        source = os.path.join(directory, "m.py")
        build = os.path.join(directory,
                             "m" + importlib.machinery.EXTENSION_SUFFIXES[0])
        for path in (source, build):
            with open(path, "w") as f:
                f.write("VALUE = 1\n")
        os.utime(build, (1000000, 1000000))
        os.utime(source, (1000000 + sourceChanged, 1000000 + sourceChanged))
        return directory

    def spec(self, directory):
        return importlib.machinery.PathFinder.find_spec("m", [directory])

    def test_current(self):
        """
        A build newer than its source is run.
        """
        directory = self.built(-60)
        self.assertIsNone(compiled.staleBuild(self.spec(directory)))

    def test_installedTogether(self):
        """
        A source written within L{compiled.STALE_AFTER} of its build (a
        wheel being installed) has not changed since.
        """
        directory = self.built(compiled.STALE_AFTER - 1)
        self.assertIsNone(compiled.staleBuild(self.spec(directory)))

    def test_changed(self):
        """
        A source changed after its build is what runs.
        """
        directory = self.built(60)
        self.assertEqual(compiled.staleBuild(self.spec(directory)),
                         os.path.join(directory, "m.py"))

    def written(self, directory, name, text, after):
        """
        Write C{name} in C{directory}, dated C{after} seconds after the
        pretend build.

        @return: its path.
        """
        path = os.path.join(directory, name)
        with open(path, "w") as f:
            f.write(text)
        os.utime(path, (1000000 + after, 1000000 + after))
        return path

    def declarationsChanged(self, after, text="cdef class M:\n    pass\n"):
        """
        A built module whose C{.pxd} (C{text}) was written C{after}
        seconds after the build (its source 60 seconds before it).

        @return: the directory and the C{.pxd}'s path.
        """
        directory = self.built(-60)
        return directory, self.written(directory, "m.pxd", text, after)

    def test_declarationsChanged(self):
        """
        A C{.pxd} beside the source changed after the build (the types it
        was compiled with) makes the build stale too, and is named.
        """
        directory, declarations = self.declarationsChanged(60)
        self.assertEqual(compiled.staleBuild(self.spec(directory)),
                         declarations)

    def test_declarationsCurrent(self):
        """
        A C{.pxd} older than the build leaves it current.
        """
        directory, declarations = self.declarationsChanged(-1000)
        self.assertIsNone(compiled.staleBuild(self.spec(directory)))

    def cimporting(self, after):
        """
        A built module C{m} whose C{.pxd} cimports a type from a module
        C{n} beside it (all three written before the build), then C{n}'s
        source written C{after} seconds after the build.

        @return: the directory and C{n}'s source path.
        """
        directory, _ = self.declarationsChanged(
            -1000, "from n cimport N\n\ncdef class M(N):\n    pass\n")
        return directory, self.written(directory, "n.py",
                                       "class N:\n    pass\n", after)

    def test_cimportedChanged(self):
        """
        A module the C{.pxd} cimports, changed after the build, makes the
        build stale too (that module runs from its source then, and the
        build's type no longer matches it), and is named.
        """
        directory, other = self.cimporting(60)
        self.assertEqual(compiled.staleBuild(self.spec(directory)), other)

    def test_cimportedCurrent(self):
        """
        A cimported module older than the build leaves it current.
        """
        directory, other = self.cimporting(-60)
        self.assertIsNone(compiled.staleBuild(self.spec(directory)))

    def test_finderRunsSourceForDeclarations(self):
        """
        A build stale by its C{.pxd} runs the module's Python source, with
        a warning naming the C{.pxd}.
        """
        directory, declarations = self.declarationsChanged(60)
        self.patch(compiled, "MODULES", ("m",))
        self.patch(compiled.SourceFinder, "everything", False)
        spec = compiled.SourceFinder.find_spec("m", [directory])
        self.assertEqual(spec.origin, os.path.join(directory, "m.py"))
        [warning] = self.flushWarnings()
        self.assertIn("m: {} changed after it was compiled".format(
            declarations), warning["message"])

    def test_notBuilt(self):
        """
        A module that was not compiled has no build to be stale.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        with open(os.path.join(directory, "m.py"), "w") as f:
            f.write("VALUE = 1\n")
        self.assertIsNone(compiled.staleBuild(self.spec(directory)))

    def test_finderWarnsAndRunsSource(self):
        """
        The finder gives a listed module's source when its build is
        stale, and warns with the module and the file named.
        """
        directory = self.built(60)
        self.patch(compiled, "MODULES", ("m",))
        self.patch(compiled.SourceFinder, "everything", False)
        spec = compiled.SourceFinder.find_spec("m", [directory])
        self.assertEqual(spec.origin, os.path.join(directory, "m.py"))
        [warning] = self.flushWarnings()
        self.assertIs(warning["category"], compiled.StaleBuild)
        self.assertIn("m: {} changed after it was compiled".format(
            os.path.join(directory, "m.py")), warning["message"])

    def test_finderRunsCurrentBuild(self):
        """
        A current build is what the finder gives, without a word.
        """
        directory = self.built(-60)
        self.patch(compiled, "MODULES", ("m",))
        self.patch(compiled.SourceFinder, "everything", False)
        spec = compiled.SourceFinder.find_spec("m", [directory])
        self.assertIsInstance(spec.loader,
                              importlib.machinery.ExtensionFileLoader)
        self.assertEqual(self.flushWarnings(), [])

    def test_unlistedModule(self):
        """
        Modules not listed are left to Python's own finders.
        """
        directory = self.built(60)
        self.assertIsNone(compiled.SourceFinder.find_spec("m", [directory]))


class DescribeBuildTests(SynchronousTestCase):
    """
    L{compiled.describeBuild} says what a process started now would run,
    for a benchmark's report.
    """

    def module(self, sourceChanged=None):
        """
        A listed top-level module C{m} on the path: its source, and a
        (pretend) build unless C{sourceChanged} is L{None}, the source
        changed that many seconds after the build.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        source = os.path.join(directory, "m.py")
        with open(source, "w") as f:
            f.write("VALUE = 1\n")
        if sourceChanged is not None:
            build = os.path.join(
                directory, "m" + importlib.machinery.EXTENSION_SUFFIXES[0])
            with open(build, "w") as f:
                f.write("built\n")
            os.utime(build, (1000000, 1000000))
            os.utime(source, (1000000 + sourceChanged,) * 2)
        self.patch(sys, "path", [directory] + sys.path)
        self.patch(compiled, "MODULES", ("m",))

    def test_compiled(self):
        self.module(sourceChanged=-60)
        self.assertEqual(compiled.describeBuild({}),
                         "1 of 1 modules compiled")

    def test_stale(self):
        self.module(sourceChanged=60)
        self.assertEqual(compiled.describeBuild({}),
                         "0 of 1 modules compiled (changed since built: m)")

    def test_notBuilt(self):
        self.module()
        self.assertEqual(compiled.describeBuild({}),
                         "0 of 1 modules compiled (not built: m)")

    def test_pure(self):
        self.module(sourceChanged=-60)
        self.assertEqual(
            compiled.describeBuild({compiled.ENV_PURE: "1"}),
            "0 of 1 modules compiled (COCAINE_PURE_PYTHON=1)")
