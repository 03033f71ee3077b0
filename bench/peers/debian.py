# -*- test-case-name: tests.bench.test_debian -*-
"""
Debian packages for the benchmark peers, installed without starting
their system services: while C{apt-get} runs, C{/usr/sbin/policy-rc.d}
answers 101 (an existing script that already does is left alone; any
other is set aside and put back).
"""

import os
import subprocess

POLICY_RC_D = "/usr/sbin/policy-rc.d"
DENY_ALL = "#!/bin/sh\n# cocaine-bench: keep apt from starting services\nexit 101\n"


class AptError(Exception):
    """
    C{apt-get} could not install the packages; the message says why.
    """


def _policyDenies(path):
    """
    @param path: a C{policy-rc.d} script.
    @return: whether it forbids starting services (exit 101).
    @rtype: L{bool}
    """
    try:
        code = subprocess.call(
            [path, "any-service", "start"], timeout=10,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return code == 101


class DenyServiceStarts:
    """
    While open, C{policy-rc.d} forbids starting any service.
    """

    def __init__(self, path=POLICY_RC_D):
        self.path = path

    def __enter__(self):
        self.wrote = False
        self.saved = None
        if os.path.exists(self.path) and _policyDenies(self.path):
            return self
        if os.path.exists(self.path):
            self.saved = self.path + ".cocaine-bench"
            os.rename(self.path, self.saved)
        with open(self.path, "w") as f:
            f.write(DENY_ALL)
        os.chmod(self.path, 0o755)
        self.wrote = True
        return self

    def __exit__(self, *exc):
        if self.wrote:
            os.unlink(self.path)
        if self.saved:
            os.rename(self.saved, self.path)
        return False


def aptInstall(packages, timeout=900):
    """
    C{apt-get install -y} the packages (C{apt-get update} first when the
    install fails, then once more), with service starts denied.

    @param timeout: seconds for each apt-get command.
    @raise AptError: no apt-get, not root, or apt-get failed (with the
        tail of its output).
    """
    if os.geteuid() != 0:
        raise AptError("{} not installed, and uid {} cannot apt-get install "
                       "them".format(" ".join(packages), os.geteuid()))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
    command += list(packages)
    done = None
    with DenyServiceStarts():
        for attempt in ("install", "update", "install"):
            print("apt-get {} {}".format(attempt, " ".join(packages)
                                         if attempt == "install" else ""),
                  flush=True)
            try:
                if attempt == "update":
                    subprocess.run(["apt-get", "update", "-q"], env=env,
                                   timeout=timeout, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
                    continue
                done = subprocess.run(command, env=env, timeout=timeout,
                                      capture_output=True, text=True)
            except FileNotFoundError:
                raise AptError("no apt-get to install {}".format(
                    " ".join(packages)))
            except subprocess.TimeoutExpired:
                raise AptError("apt-get {} took over {} s".format(
                    attempt, timeout))
            if done.returncode == 0:
                return
    raise AptError("apt-get install {} exited {}:\n{}".format(
        " ".join(packages), done.returncode,
        (done.stdout + done.stderr)[-2000:]))
