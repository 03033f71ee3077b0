"""
Apps for the Cocaine 0.12 conformance tests, laid out to be deployed
through storage as the 0.12 tools do (the node unpacks them into its spool
directory, so nothing in them may point back at where they were built).
"""

import io
import os
import shutil
import stat
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
FWECHO = os.path.join(HERE, "apps", "fwecho")
MALFORMED = os.path.join(HERE, "apps", "malformed")

#: The slave of a framework app: the framework's interpreter on the
#: unchanged worker script next to it. C{-E}: the node's C{PYTHONPATH}
#: (this checkout, whose package is also called cocaine) must not shadow
#: the framework.
FRAMEWORK_SLAVE = """#!/bin/sh
exec '{python}' -E "$(dirname "$0")/worker.py" "$@"
"""

#: A worker that prints a line and exits before its handshake.
CRASHER_SLAVE = """#!/bin/sh
echo "crasher: about to fail on purpose"
exit 3
"""


def _executable(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP
             | stat.S_IXOTH)


def frameworkApp(directory, python):
    """
    A copy of the fwecho app (a worker written with the real 0.12
    framework) in C{directory}, its slave C{run} executing C{python}.

    @return: the app directory.
    """
    directory = os.path.abspath(directory)
    shutil.copytree(FWECHO, directory)
    _executable(os.path.join(directory, "run"),
                FRAMEWORK_SLAVE.format(python=python))
    return directory


def crasherApp(directory):
    """
    An app whose worker prints one line and exits at once (so the node
    writes a crashlog).

    @return: the app directory.
    """
    directory = os.path.abspath(directory)
    os.makedirs(directory)
    _executable(os.path.join(directory, "run"), CRASHER_SLAVE)
    with open(os.path.join(directory, "manifest.json"), "w") as f:
        f.write('{"slave": "run"}\n')
    return directory


def simpleApp(directory):
    """
    What cocaine-tools' own test suite uploads (its
    C{tests/fixtures/simple_app}): an executable C{__init__.py} holding
    only a C{#!} line, and a manifest C{{}}; the manifest the tools upload
    for it names C{__init__.py} as the slave.

    @return: the path of its C{.tar.gz}.
    """
    directory = os.path.abspath(directory)
    os.makedirs(directory)
    _executable(os.path.join(directory, "__init__.py"),
                "#!/usr/bin/env python\n")
    with open(os.path.join(directory, "manifest.json"), "w") as f:
        f.write("{}")
    path = directory + ".tar.gz"
    with open(path, "wb") as f:
        f.write(packTree(directory))
    return path


def packTree(directory):
    """
    The C{.tar.gz} of C{directory}'s contents, modes kept.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in sorted(os.listdir(directory)):
            tar.add(os.path.join(directory, name), arcname="./" + name)
    return buffer.getvalue()
