"""
The real Cocaine 0.12 command-line tools (C{cocaine-tools} 0.12.13.6, the
last on PyPI, with the framework C{cocaine} 0.12.14.5 and C{msgpack<1.0})
for compatibility tests: C{cocaine-tool} and C{cocaine-tornado-proxy}, the
0.12 HTTP proxy.

cocaine-tools is Python 2 only, so it is installed with C{pip --target}
by a Python 2.7 interpreter into C{$COCAINE_TOOLS_SITE}, by default
C{~/.cache/cocaine-tests/tools-0.12.13.6}, on first use (about 10 s with
PyPI reachable) by one test process at a time (L{tests.locks}), and reused
afterwards. The interpreter is C{$COCAINE_PYTHON2}, else C{python2.7} or
C{python2} on C{PATH}, else a pyenv-installed 2.7.

The tools run with C{-E -s} and an environment of their own: this
checkout's package is also called C{cocaine} and must not shadow theirs,
and a C{~/.cocaine/tools.yml} of the user must not change what they do.
"""

import glob
import os
import re
import shutil
import subprocess

from twisted.trial.unittest import SkipTest

from tests.integration.node import foreignEnvironment
from tests.locks import exclusive

VERSION = "0.12.13.6"
REQUIREMENTS = ["cocaine==0.12.14.5", "cocaine-tools==" + VERSION,
                "msgpack<1.0"]
DEFAULT_SITE = os.path.join(os.path.expanduser("~"), ".cache",
                            "cocaine-tests", "tools-" + VERSION)

#: What pip says when the package index cannot be reached or does not have
#: the packages: the only install failures that skip instead of fail.
_UNREACHABLE = re.compile(
    r"No matching distribution|Could not find a version|NewConnectionError"
    r"|Max retries exceeded|Temporary failure in name resolution"
    r"|Network is unreachable|Connection refused|ProxyError"
    r"|No module named pip", re.I)

#: Run a module's C{main} from the tools' site directory. C{addsitedir}
#: processes the namespace-package C{.pth} files C{cocaine} needs.
_LAUNCH = ("import site, sys; site.addsitedir(sys.argv.pop(1)); "
           "sys.argv[0] = {name!r}; from {module} import main; main()")


def python2():
    """
    A Python 2.7 interpreter.

    @raise SkipTest: there is none.
    """
    pyenv = os.environ.get("PYENV_ROOT") or os.path.join(
        os.path.expanduser("~"), ".pyenv")
    candidates = [os.environ.get("COCAINE_PYTHON2"),
                  shutil.which("python2.7"), shutil.which("python2")]
    # pyenv's shims answer only when 2.7 is the selected version
    candidates += sorted(glob.glob(os.path.join(
        pyenv, "versions", "2.7*", "bin", "python2.7")), reverse=True)
    for candidate in candidates:
        if not candidate:
            continue
        try:
            version = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2])"],
                capture_output=True, text=True, timeout=30,
                env=foreignEnvironment())
        except (OSError, subprocess.TimeoutExpired):
            continue
        if version.returncode == 0 and version.stdout.strip() == "(2, 7)":
            return candidate
    raise SkipTest("cocaine-tools {} needs Python 2.7: none found (tried "
                   "$COCAINE_PYTHON2, python2.7 and python2 on PATH, and "
                   "pyenv's versions)".format(VERSION))


def toolsSite():
    """
    The directory holding cocaine-tools and its dependencies, installing
    them when missing.

    @return: C{(python, directory)}.
    @raise SkipTest: naming the reason when Python 2.7 or PyPI is
        unavailable.
    @raise RuntimeError: the install failed for another reason.
    """
    python = python2()
    site = os.environ.get("COCAINE_TOOLS_SITE", DEFAULT_SITE)
    marker = os.path.join(site, ".installed")
    if os.path.exists(marker):
        return python, site
    # another test process may be installing them: wait, then look again
    with exclusive(os.path.abspath(site)):
        if not os.path.exists(marker):
            _install(python, site, marker)
    return python, site


def _install(python, site, marker):
    """
    Install the tools into C{site} afresh with C{python}; C{marker} says
    it is done.
    """
    shutil.rmtree(site, ignore_errors=True)
    try:
        install = subprocess.run(
            [python, "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", "--target", site]
            + REQUIREMENTS,
            capture_output=True, text=True, timeout=300,
            env=foreignEnvironment())
    except subprocess.TimeoutExpired:
        raise SkipTest("installing {} with {} timed out (is PyPI "
                       "reachable?)".format(" ".join(REQUIREMENTS), python))
    if install.returncode != 0:
        tail = " | ".join(install.stderr.strip().splitlines()[-3:])
        if _UNREACHABLE.search(install.stderr):
            raise SkipTest("cannot install {} with {}: {}".format(
                " ".join(REQUIREMENTS), python, tail))
        raise RuntimeError("installing {} into {} failed: {}".format(
            " ".join(REQUIREMENTS), site, tail))
    with open(marker, "w") as f:
        f.write("\n".join(REQUIREMENTS) + "\n")


def environment(home):
    """
    The environment the tools run in: nothing of ours, C{HOME} and
    C{TMPDIR} in C{home} (so no user config is read and what the tools
    leave in temporary directories goes there).
    """
    os.makedirs(home, exist_ok=True)
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home,
            "TMPDIR": home, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


def command(name, module, *args):
    """
    The command line running a console script of the tools.

    @param name: its C{argv[0]}, e.g. C{cocaine-tool}.
    @param module: the module whose C{main} it runs.
    """
    python, site = toolsSite()
    return [python, "-E", "-s", "-c", _LAUNCH.format(name=name,
                                                     module=module),
            site] + list(args)


def toolCommand(*args):
    """
    The command line of C{cocaine-tool ARGS}.
    """
    return command("cocaine-tool", "cocaine.tools.cocaine_tool", *args)


def proxyCommand(*args):
    """
    The command line of C{cocaine-tornado-proxy ARGS}.
    """
    return command("cocaine-tornado-proxy", "cocaine.proxy.proxy", *args)


class Tool:
    """
    C{cocaine-tool} pointed at one node, recording every command it ran
    and how it ended (for the report of a test run).

    @ivar runs: C{[(args, exit status)]}, in order.
    """

    def __init__(self, port, home, timeout=60):
        self.port = port
        self.home = home
        self.timeout = timeout
        self.runs = []

    def run(self, *args):
        """
        Run C{cocaine-tool ARGS --host 127.0.0.1 --port PORT}.

        @return: the L{subprocess.CompletedProcess}, text output.
        """
        argv = list(args) + ["--host", "127.0.0.1", "--port", str(self.port)]
        result = subprocess.run(
            toolCommand(*argv), cwd=self.home, env=environment(self.home),
            capture_output=True, text=True, timeout=self.timeout)
        self.runs.append((list(args), result.returncode))
        return result

    def record(self, test, path="tool-commands.txt"):
        """
        Append each command run and its exit status to C{path}, a line
        each: C{test, status, command}.
        """
        with open(os.path.abspath(path), "a") as f:
            for args, status in self.runs:
                f.write("{}\t{}\tcocaine-tool {}\n".format(
                    test, status, subprocess.list2cmdline(args)))
