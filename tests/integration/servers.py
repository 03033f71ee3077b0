"""
Starting and stopping the real server processes of integration tests (a
node, Redis, etcd, PostgreSQL, Prosody): wait until one answers, read its
log, stop it by its PID.
"""

import signal
import subprocess
import time


def waitStarted(process, ready, timeout, step=0.05):
    """
    Poll C{ready()} every C{step} seconds until it holds, C{process} has
    exited or C{timeout} seconds have passed.

    @return: whether it came up (C{ready()} held).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if ready():
            return True
        time.sleep(step)
    return False


def readLog(path):
    """
    The text of a server's log file; C{""} while there is none.
    """
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def stopProcess(process, sig=signal.SIGTERM, timeout=10):
    """
    Stop C{process} by its PID: send C{sig}, wait up to C{timeout} seconds,
    SIGKILL it if it lingers. Nothing when it is L{None} or has exited.

    @return: its exit status, or L{None} for no process.
    """
    if process is None:
        return None
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
