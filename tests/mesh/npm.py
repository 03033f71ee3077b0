# -*- test-case-name: tests.mesh.test_interop -*-
"""
npm packages the mesh tests need, installed outside the repository, by one
test process at a time (L{tests.locks}).
"""

import json
import os
import subprocess

from twisted.trial.unittest import SkipTest

from tests.locks import exclusive


def ensurePackage(prefix, name, version):
    """
    Make sure C{name@version} is installed under C{prefix} with npm.

    @return: the C{node_modules} directory to put on C{NODE_PATH}.
    @raise SkipTest: when it cannot be installed, saying why.
    """
    modules = os.path.join(prefix, "node_modules")
    manifest = os.path.join(modules, name, "package.json")
    # looked at only under the lock: another test process installing it
    # writes the package's manifest before its dependencies
    with exclusive(os.path.abspath(prefix)):
        if _installed(manifest) != version:
            _install(prefix, name, version, manifest)
    return modules


def _installed(manifest):
    """
    @return: the version in the package's C{manifest}, or L{None}.
    """
    if not os.path.exists(manifest):
        return None
    with open(manifest) as f:
        return json.load(f).get("version")


def _install(prefix, name, version, manifest):
    """
    C{npm install} C{name@version} under C{prefix}.

    @raise SkipTest: it failed, saying why.
    """
    os.makedirs(prefix, exist_ok=True)
    spec = "{}@{}".format(name, version)
    try:
        result = subprocess.run(
            ["npm", "install", "--prefix", prefix, "--no-audit", "--no-fund",
             spec], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise SkipTest("npm install {} timed out".format(spec))
    if result.returncode != 0 or not os.path.exists(manifest):
        raise SkipTest("npm install {} failed: {}".format(
            spec, result.stderr.strip()[-500:]))
