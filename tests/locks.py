# -*- test-case-name: tests.test_locks -*-
"""
Locks between processes, for what the test runs of one machine share.

C{python -m tests} runs two trial workers at once (C{trial -j}), and a
developer may run a second checkout's suite beside it. Each of those
processes installs what its tests need on first use, into places they all
share: Debian packages, the npm and pip installs under
C{~/.cache/cocaine-tests}, an example app's C{node_modules}. Two installs
into one place at once spoil each other: C{apt-get} refuses to run beside
another (dpkg's lock), and the test would skip; a virtualenv made again
with C{--clear} under another process's C{pip install} loses it. Whoever
installs holds L{exclusive} on what it installs; the others wait for it,
then look again and find the install done.
"""

import fcntl
import os
import re
from contextlib import contextmanager

#: Where the lock files are.
LOCKS = os.path.join(os.path.expanduser("~"), ".cache", "cocaine-tests",
                     "locks")


def lockPath(name, directory=None):
    """
    The lock file of C{name}.

    @param name: what is locked: a word, or the path of what is
        installed; every character but letters, digits, C{.}, C{-} and
        C{_} becomes C{_} in the file's name.
    @param directory: where the lock files are, L{LOCKS} by default.
    """
    return os.path.join(LOCKS if directory is None else directory,
                        re.sub(r"[^\w.-]", "_", name) + ".lock")


@contextmanager
def exclusive(name, directory=None):
    """
    Hold the lock C{name} for the block, waiting while another process
    holds it: an exclusive C{flock(2)} on L{lockPath}, which the kernel
    drops when its holder closes it or exits, however it exits. The file
    stays for the next holder.

    @param name: see L{lockPath}.
    @param directory: see L{lockPath}.
    """
    path = lockPath(name, directory)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # close-on-exec: an install's subprocess must not keep the lock
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def aptInstalled(find, packages):
    """
    What C{find()} finds, once Debian's C{packages} are installed
    (L{bench.peers.debian.aptInstall}) if it found nothing. It looks and
    installs holding the lock C{"apt-get"}, one test process at a time:
    C{apt-get} fails beside another, both would write and remove
    C{policy-rc.d}, and what another process is installing is waited for,
    never found half unpacked.

    @param find: returns what is looked for (a path), or a false value
        when it is not there.
    @return: what C{find()} returned last: still false when the install
        did not bring it.
    @raise bench.peers.debian.AptError: the install failed.
    """
    from bench.peers import debian
    with exclusive("apt-get"):
        found = find()
        if not found:
            debian.aptInstall(packages)
            found = find()
    return found
