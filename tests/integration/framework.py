"""
The real Cocaine 0.12 Python framework in a virtualenv of its own, outside
the repository, for compatibility tests.

The virtualenv lives in C{$COCAINE_FRAMEWORK_VENV}, by default
C{~/.cache/cocaine-tests/framework-0.12.14.5}; it is created on first use
(about 10 s with PyPI reachable), by one test process at a time
(L{tests.locks}), and reused afterwards.
"""

import os
import subprocess
import sys

from twisted.trial.unittest import SkipTest

from tests.integration.framework_report import readSteps
from tests.integration.node import foreignEnvironment
from tests.locks import exclusive

REQUIREMENTS = ["cocaine==0.12.14.5", "msgpack<1.0"]
DEFAULT_VENV = os.path.join(os.path.expanduser("~"), ".cache",
                            "cocaine-tests", "framework-0.12.14.5")


def frameworkPython():
    """
    The interpreter of a virtualenv holding the real framework, creating it
    when missing.

    @raise SkipTest: naming the reason when the framework cannot be
        installed (no network to PyPI, no venv module).
    """
    venv = os.environ.get("COCAINE_FRAMEWORK_VENV", DEFAULT_VENV)
    python = os.path.join(venv, "bin", "python")
    marker = os.path.join(venv, ".installed")
    if os.path.exists(marker):
        return python
    # another test process may be installing it: wait, then look again
    with exclusive(os.path.abspath(venv)):
        if not os.path.exists(marker):
            _install(venv, python, marker)
    return python


def _install(venv, python, marker):
    """
    Make the virtualenv C{venv} again and install the framework into it;
    C{marker} says it is done.
    """
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", venv],
                       check=True, capture_output=True, timeout=120,
                       env=foreignEnvironment())
        subprocess.run([python, "-m", "pip", "install", "--quiet"]
                       + REQUIREMENTS, check=True, capture_output=True,
                       timeout=300, env=foreignEnvironment())
    except subprocess.CalledProcessError as e:
        raise SkipTest("cannot install {} into {}: {}".format(
            " ".join(REQUIREMENTS), venv,
            (e.stderr or b"").decode(errors="replace").strip()
            .splitlines()[-1:] or e))
    except subprocess.TimeoutExpired:
        raise SkipTest("installing {} timed out".format(
            " ".join(REQUIREMENTS)))
    with open(marker, "w") as f:
        f.write("\n".join(REQUIREMENTS) + "\n")


def frameworkSteps(testCase, script, *args, timeout=120):
    """
    Run C{script} (a framework_*.py script here) with the real framework's
    interpreter and nothing of ours in its environment, failing
    C{testCase} when it exits with an error.

    @param args: its command line (turned into strings).
    @return: C{{step: fields}} it printed.
    @raise SkipTest: no framework to be had.
    """
    result = subprocess.run(
        [frameworkPython(), script] + [str(a) for a in args],
        capture_output=True, text=True, timeout=timeout,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    testCase.assertEqual(result.returncode, 0, result.stderr)
    return readSteps(result.stdout)
