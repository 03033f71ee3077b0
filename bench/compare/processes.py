# -*- test-case-name: tests.bench.test_installs,tests.integration.test_bench -*-
"""
Processes of the comparison: Debian packages installed without starting
their services, servers started and stopped by PID, CPU pinning, and the
CPU time and memory of a set of processes.
"""

import contextlib
import os
import shutil
import subprocess

import psutil

class Unavailable(Exception):
    """
    A peer cannot run on this machine; the message says why.
    """


def aptInstall(packages, commands):
    """
    Install Debian C{packages} (services held stopped, L{bench.peers.debian})
    unless every one of C{commands} is found, holding the tests' C{apt-get}
    lock (L{tests.locks.aptInstalled}): C{apt-get} fails beside another, a
    test's or another benchmark's.

    @raise Unavailable: when they cannot be installed.
    """
    def found():
        return all(shutil.which(command) for command in commands)
    if found():
        return
    from bench.peers.debian import AptError
    from tests.locks import aptInstalled
    try:
        aptInstalled(found, packages)
    except AptError as e:
        raise Unavailable(str(e))


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
