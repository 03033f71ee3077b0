# -*- test-case-name: tests.integration.test_bench -*-
"""
Venvs for the Python peers, under the scratch home, never in the repo.

    python -m bench.peers.python_peers      # prints the result as JSON

L{ensure} makes two venvs, because the peers' green-thread libraries must
not meet in one interpreter:
  - C{HOME/venvs/zerorpc}: zerorpc with gevent, pyzmq and msgpack, and
    matplotlib for the charts;
  - C{HOME/venvs/nameko}: Nameko 2.14.1 with eventlet, kombu and amqp.
Each is pip-installed at the versions in L{PINS} (checked to run on Python
3.11: Nameko 2.14.1, the last stable release, declares no upper bounds,
and runs RPC on 3.11 with eventlet 0.41 and kombu 5.7; the 3.0.0 release
candidates were not needed), then smoke-tested by importing what the peer
scripts import. A venv whose installed versions already match is left
alone, so a second call only checks.
"""

import json
import os
import shutil
import subprocess
import sys

from bench.peers import benchHome

PINS = {
    "zerorpc": {
        "zerorpc": "0.6.3",
        "gevent": "26.9.0",
        "greenlet": "3.5.6",
        "pyzmq": "27.3.0",
        "msgpack": "1.2.4",
        "matplotlib": "3.11.2",
    },
    "nameko": {
        "nameko": "2.14.1",
        "eventlet": "0.41.3",
        "greenlet": "3.5.6",
        "kombu": "5.7.0",
        "amqp": "5.4.2",
    },
}

SMOKE = {
    "zerorpc": "import gevent, zerorpc, zmq, msgpack, matplotlib\n"
               "matplotlib.use('Agg')\n"
               "import matplotlib.pyplot\n",
    "nameko": "import eventlet\n"
              "eventlet.monkey_patch()\n"
              "import nameko.rpc, nameko.runners, nameko.standalone.rpc\n",
}

VERSIONS = """
import json, sys
from importlib import metadata
found = {}
for name in sys.argv[1:]:
    try:
        found[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        found[name] = None
print(json.dumps(found))
"""

INSTALL_TIMEOUT = 1200
CHECK_TIMEOUT = 120


class PeerInstallError(Exception):
    """
    A peer venv could not be made, installed or smoke-tested.
    """


def say(text):
    """
    Print one progress line, on stderr (stdout is for the JSON).
    """
    print("python_peers: " + text, file=sys.stderr, flush=True)


def venvPython(home, name):
    """
    @return: the interpreter of venv C{name} under C{home}.
    @rtype: L{str}
    """
    return os.path.join(home, "venvs", name, "bin", "python")


def _run(command, timeout, what):
    """
    Run C{command}, bounded by C{timeout} seconds.

    @param what: what it does, for the error.
    @return: its stdout.
    @raise PeerInstallError: it failed or timed out; with its output's tail.
    """
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONWARNINGS"] = "ignore"
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=timeout, env=env, cwd="/")
    except subprocess.TimeoutExpired:
        raise PeerInstallError("{} took over {} s: {}".format(
            what, timeout, " ".join(command)))
    if done.returncode != 0:
        raise PeerInstallError("{} exited {}: {}\n{}".format(
            what, done.returncode, " ".join(command),
            (done.stdout + done.stderr)[-3000:]))
    return done.stdout


def installedVersions(python, names):
    """
    @param python: a venv's interpreter.
    @param names: distribution names.
    @return: each name's installed version, or L{None} if it is missing;
        all L{None} if the interpreter is missing or broken.
    @rtype: L{dict}
    """
    if not os.access(python, os.X_OK):
        return dict.fromkeys(names)
    try:
        out = _run([python, "-c", VERSIONS] + list(names), CHECK_TIMEOUT,
                   "reading versions")
    except PeerInstallError:
        return dict.fromkeys(names)
    return json.loads(out.strip().splitlines()[-1])


def _makeVenv(home, name):
    """
    Make venv C{name} afresh, with a current pip.
    """
    path = os.path.join(home, "venvs", name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    say("creating venv " + path)
    _run([_baseInterpreter(), "-m", "venv", path], CHECK_TIMEOUT,
         "python -m venv")


def _baseInterpreter():
    """
    @return: the Python 3.11 to make venvs with: the one running this,
        through its base when it is itself a venv's.
    @rtype: L{str}
    """
    base = getattr(sys, "_base_executable", None) or sys.executable
    if sys.version_info[:2] != (3, 11):
        raise PeerInstallError("the peers are pinned for Python 3.11; this is "
                               "{}".format(sys.version.split()[0]))
    return base


def _install(python, pins):
    """
    pip-install C{pins} into the venv of C{python}.
    """
    specs = ["{}=={}".format(name, version) for name, version in pins.items()]
    say("pip install " + " ".join(specs))
    _run([python, "-m", "pip", "install", "--disable-pip-version-check",
          "--no-input", "-q"] + specs, INSTALL_TIMEOUT, "pip install")


def _smoke(python, name):
    """
    Import what the peer script of C{name} imports.

    @raise PeerInstallError: the import failed.
    """
    _run([python, "-c", SMOKE[name]], CHECK_TIMEOUT,
         "importing the {} peer's modules".format(name))


def ensureVenv(home, name):
    """
    Make sure venv C{name} has L{PINS}C{[name]} installed and importable.

    @return: its interpreter and installed versions.
    @rtype: L{tuple} of (L{str}, L{dict})
    @raise PeerInstallError: it could not be made to.
    """
    if name not in PINS:
        raise PeerInstallError("no peer venv named {!r}; expected one of {}"
                               .format(name, sorted(PINS)))
    pins = PINS[name]
    python = venvPython(home, name)
    found = installedVersions(python, pins)
    if found == pins:
        say("{} venv up to date ({})".format(name, python))
        return python, found
    if not any(found.values()):
        _makeVenv(home, name)
    else:
        say("{} venv has {}; installing {}".format(name, found, pins))
    _install(python, pins)
    found = installedVersions(python, pins)
    if found != pins:
        raise PeerInstallError("{} venv has {} after installing {}".format(
            name, found, pins))
    _smoke(python, name)
    say("{} venv ready ({})".format(name, python))
    return python, found


def ensure(home=None):
    """
    Make sure both peer venvs are installed and work.

    @param home: the scratch home; L{benchHome} by default.
    @return: C{{"zerorpc": python, "nameko": python, "charts": python,
        "versions": {...}}}, the pythons being paths to interpreters, and
        versions naming the frameworks, their green-thread libraries, their
        transports and matplotlib.
    @rtype: L{dict}
    @raise PeerInstallError: a venv could not be made to work.
    """
    home = os.path.abspath(home or benchHome())
    zerorpcPython, zerorpcVersions = ensureVenv(home, "zerorpc")
    namekoPython, namekoVersions = ensureVenv(home, "nameko")
    versions = dict(zerorpcVersions)
    versions.update(namekoVersions)
    versions["python"] = "{}.{}.{}".format(*sys.version_info[:3])
    return {
        "zerorpc": zerorpcPython,
        "nameko": namekoPython,
        "charts": zerorpcPython,
        "versions": versions,
    }


def main():
    """
    Run L{ensure}, print its result as JSON.
    """
    try:
        result = ensure()
    except PeerInstallError as e:
        print("python_peers: " + str(e), file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
