# -*- test-case-name: tests.mesh.test_interop -*-
"""
npm packages the mesh tests need, installed outside the repository.
"""

import json
import os
import subprocess

from twisted.trial.unittest import SkipTest


def ensurePackage(prefix, name, version):
    """
    Make sure C{name@version} is installed under C{prefix} with npm.

    @return: the C{node_modules} directory to put on C{NODE_PATH}.
    @raise SkipTest: when it cannot be installed, saying why.
    """
    modules = os.path.join(prefix, "node_modules")
    manifest = os.path.join(modules, name, "package.json")
    installed = None
    if os.path.exists(manifest):
        with open(manifest) as f:
            installed = json.load(f).get("version")
    if installed == version:
        return modules
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
    return modules
