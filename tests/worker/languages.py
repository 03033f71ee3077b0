"""
Preparing the example workers of other languages once per test run, and
the toolchains they need (installed from Debian when missing).
"""

import atexit
import os
import shutil
import subprocess
import tempfile

#: The C++ example's toolchain: a compiler, make and msgpack-c++.
CPP_PACKAGES = ["g++", "make", "libmsgpack-cxx-dev"]
#: The Perl example's interpreter and msgpack module.
PERL_PACKAGES = ["perl", "libdata-messagepack-perl"]
#: The header of msgpack-c++ where Debian puts it.
MSGPACK_CPP_HEADER = "/usr/include/msgpack.hpp"
#: The example apps.
APPS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "examples", "apps")

_prepared = {}


def once(name, prepare):
    """
    Run C{prepare} once per test run and remember its result, or the
    L{twisted.trial.unittest.SkipTest} it raised.
    """
    from twisted.trial.unittest import SkipTest
    if name not in _prepared:
        try:
            _prepared[name] = (True, prepare())
        except SkipTest as skip:
            _prepared[name] = (False, skip)
    ok, value = _prepared[name]
    if not ok:
        raise value
    return value


def _ensure(what, packages, missing):
    """
    Install the Debian C{packages} when C{missing()} names something.

    @param what: the worker needing them, for the skip reason.
    @param missing: returns what is missing (text), or C{None}.
    @raise SkipTest: it is missing and installing it failed.
    """
    from twisted.trial.unittest import SkipTest
    from bench.peers.debian import AptError
    from tests.locks import aptInstalled
    try:
        if aptInstalled(lambda: missing() is None, packages):
            return
    except AptError as error:
        raise SkipTest("{} needs {} and installing {} failed: {}".format(
            what, missing(), " ".join(packages), error))
    lacking = missing()
    if lacking is not None:
        raise SkipTest("{} needs {}, still missing after installing {}"
                       .format(what, lacking, " ".join(packages)))


def _missingCpp():
    lacking = [name for name in ("c++", "make") if shutil.which(name) is None]
    if not os.path.exists(MSGPACK_CPP_HEADER):
        lacking.append(MSGPACK_CPP_HEADER)
    return ", ".join(lacking) or None


def _missingPerl():
    perl = shutil.which("perl")
    if perl is None:
        return "perl"
    try:
        check = subprocess.run([perl, "-MData::MessagePack", "-e", "1"],
                               stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "a working perl"
    return None if check.returncode == 0 else "Data::MessagePack"


def ensureCpp():
    """
    Make sure C{c++}, C{make} and msgpack-c++ are there, installing
    L{CPP_PACKAGES} when they are not.

    @raise SkipTest: they are missing and cannot be installed.
    """
    _ensure("the C++ worker", CPP_PACKAGES, _missingCpp)


def ensurePerl():
    """
    Make sure C{perl} and Data::MessagePack are there, installing
    L{PERL_PACKAGES} when they are not.

    @raise SkipTest: they are missing and cannot be installed.
    """
    _ensure("the Perl worker", PERL_PACKAGES, _missingPerl)


def copyExample(example):
    """
    A fresh copy of an example app (without what a build or an install
    left in the checkout), removed when the test run ends.

    @return: the copy's directory.
    """
    base = tempfile.mkdtemp(prefix="cocaine-lang-")
    atexit.register(shutil.rmtree, base, True)
    directory = os.path.join(base, example)
    shutil.copytree(os.path.join(APPS, example), directory,
                    ignore=shutil.ignore_patterns("node_modules", "*.o"))
    return directory


def buildWithMake(what, directory, binary, *variables):
    """
    Run C{make} in C{directory}, a copy of an example, to build C{binary}.

    @param variables: C{NAME=value} settings for C{make}.

    @return: the binary's path.
    @raise AssertionError: the build failed (the example is broken).
    """
    path = os.path.join(directory, binary)
    if os.path.exists(path):
        os.unlink(path)
    build = subprocess.run(["make", binary] + list(variables), cwd=directory,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=300)
    if build.returncode != 0 or not os.access(path, os.X_OK):
        raise AssertionError("{} does not build: {}".format(
            what, build.stdout.decode("utf-8", "replace")))
    return path
