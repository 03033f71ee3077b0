"""
Processes of the comparison: Debian packages installed without starting
their services, servers started and stopped by PID, CPU pinning, and the
CPU time and memory of a set of processes.
"""

import contextlib
import os
import shutil
import subprocess
import time

import psutil

POLICY = "/usr/sbin/policy-rc.d"


class Unavailable(Exception):
    """
    A peer cannot run on this machine; the message says why.
    """


@contextlib.contextmanager
def _servicesHeld():
    """
    While installing, keep Debian's maintainer scripts from starting the
    packages' system services (a C{policy-rc.d} answering 101), unless one
    is already there.
    """
    if os.path.exists(POLICY):
        yield
        return
    with open(POLICY, "w") as f:
        f.write("#!/bin/sh\n# bench.compare: no services during install\n"
                "exit 101\n")
    os.chmod(POLICY, 0o755)
    try:
        yield
    finally:
        os.unlink(POLICY)


def aptInstall(packages, commands):
    """
    Install Debian C{packages} unless every one of C{commands} is found.

    @raise Unavailable: when apt-get is missing or fails.
    """
    if all(shutil.which(command) for command in commands):
        return
    if shutil.which("apt-get") is None:
        raise Unavailable("{} missing and no apt-get to install {}".format(
            ", ".join(commands), " ".join(packages)))
    print("installing {} from Debian ...".format(" ".join(packages)),
          flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    with _servicesHeld():
        for argv in (["apt-get", "update", "-q"],
                     ["apt-get", "install", "-y", "-q",
                      "--no-install-recommends"] + list(packages)):
            result = subprocess.run(argv, env=env, capture_output=True,
                                    text=True)
            if result.returncode:
                raise Unavailable("{} failed: {}".format(
                    " ".join(argv[:2]), result.stderr.strip()[-400:]))


def pin(pids, cpu):
    """
    Pin processes to one CPU, when there are at least two.

    @param cpu: a CPU number, or L{None} to allow every CPU.
    """
    count = os.cpu_count() or 1
    if count < 2:
        return
    for pid in pids:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, set(range(count)) if cpu is None
                                 else {cpu})


def family(pids):
    """
    @return: the pids and every descendant of theirs that is alive.
    """
    found = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            found.append(pid)
            found.extend(child.pid for child in
                         process.children(recursive=True))
    return found


def cpuSeconds(pids):
    """
    @return: user + system CPU seconds of the processes, by pid.
    """
    seconds = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            seconds[pid] = times.user + times.system
    return seconds


def rssMegabytes(pids):
    """
    @return: the summed resident set size of the processes, in MB.
    """
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += psutil.Process(pid).memory_info().rss
    return total / 1e6


def readReady(process, what, timeout=60.0):
    """
    Wait for a server's C{ready ...} line.

    @return: the rest of the line (an endpoint, or empty).
    @raise Unavailable: when the server exits or stays silent.
    """
    import selectors
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not selector.select(deadline - time.monotonic()):
                break
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("ready"):
                return line[len("ready"):].strip()
    finally:
        selector.close()
    stop(process)
    raise Unavailable("{} server did not say ready within {:.0f} s (exit "
                      "{})".format(what, timeout, process.returncode))


def stop(process, timeout=10.0):
    """
    SIGTERM a process we started, SIGKILL it if it lingers.
    """
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
