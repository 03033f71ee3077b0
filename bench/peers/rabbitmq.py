# -*- test-case-name: tests.bench.test_installs,tests.integration.test_bench -*-
"""
A private RabbitMQ broker for the Nameko peer, on 127.0.0.1 only.

    python -m bench.peers.rabbitmq [--install-only]

L{ensureInstalled} installs Debian's C{rabbitmq-server} if it is missing,
with a C{policy-rc.d} that keeps apt from starting the system service.
L{Broker} starts our own C{epmd} and C{rabbitmq-server}, both in the
foreground as children of this process, with every directory under the
scratch home and every listener on 127.0.0.1:

    with Broker(home) as broker:
        broker.amqpUri    # amqp://guest:guest@127.0.0.1:PORT/
        broker.pids()     # epmd, the shell wrapper, beam.smp and its helpers

L{Broker.stop} ends them by PID (TERM, then KILL after a timeout) and leaves
nothing running. Nothing here looks processes up or ends them by name.
Should this process die without stopping it, Linux sends both children
SIGTERM (C{PR_SET_PDEATHSIG}), and the server's wrapper stops beam.smp:
start the broker from a thread that lives as long as it should.
"""

import argparse
import atexit
import os
import shutil
import socket
import subprocess
import sys
import time

import psutil

from bench.peers import benchHome
from bench.peers.debian import AptError, aptInstall
from bench.peers.processes import endTree, termWithParent

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
EPMD = "/usr/bin/epmd"
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


class BrokerError(Exception):
    """
    The broker could not be installed, started or stopped.

    @ivar exited: whether it came from a process that exited as it
        started (what a port taken meanwhile does), rather than from one
        that never answered.
    """

    def __init__(self, message, exited=False):
        Exception.__init__(self, message)
        self.exited = exited


def installed():
    """
    @return: whether Debian's RabbitMQ server and epmd are on this machine.
    @rtype: L{bool}
    """
    return os.access(SERVER, os.X_OK) and os.access(EPMD, os.X_OK)


def _systemBrokers():
    """
    @return: the PIDs of RabbitMQ nodes running as the Debian service (the
        C{rabbitmq} user's C{beam.smp}); used only to tell whether the
        install started one, never to end one.
    @rtype: L{set} of L{int}
    """
    found = set()
    for proc in psutil.process_iter(["pid", "name", "username"]):
        if proc.info["name"] == "beam.smp" and proc.info["username"] == "rabbitmq":
            found.add(proc.info["pid"])
    return found


def _stopSystemService(before):
    """
    Stop the Debian service if the install started one that was not
    running before it.

    @param before: L{_systemBrokers} before the install.
    """
    started = _systemBrokers() - before
    if not started:
        return
    print("rabbitmq: the install started the system service; stopping it",
          flush=True)
    for command in (["systemctl", "stop", "rabbitmq-server"],
                    ["service", "rabbitmq-server", "stop"]):
        try:
            subprocess.run(command, timeout=120, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if not (_systemBrokers() & started):
            return
    raise BrokerError("the install started the system RabbitMQ (PIDs {}) "
                      "and it would not stop".format(sorted(started)))


def ensureInstalled(timeout=900):
    """
    Install Debian's C{rabbitmq-server} unless it is there, without leaving
    the system service running, holding the tests' C{apt-get} lock
    (L{tests.locks.exclusive}): C{apt-get} fails beside another, a test's
    or another benchmark's.

    @param timeout: seconds for each apt-get command.
    @raise BrokerError: the install failed.
    """
    if installed():
        return
    from tests.locks import exclusive
    with exclusive("apt-get"):
        # installed meanwhile by whoever held the lock
        if installed():
            return
        before = _systemBrokers()
        try:
            aptInstall(["rabbitmq-server"], timeout)
        except AptError as e:
            raise BrokerError(str(e))
        _stopSystemService(before)
    if not installed():
        raise BrokerError("apt-get installed rabbitmq-server but {} or {} is "
                          "missing".format(SERVER, EPMD))


def freePorts(count):
    """
    @param count: how many ports.
    @return: distinct TCP ports free on 127.0.0.1 a moment ago.
    @rtype: L{list} of L{int}
    """
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def amqpAnswers(port, timeout=1.0):
    """
    @param port: a TCP port on 127.0.0.1.
    @param timeout: seconds for the connect and the answer.
    @return: whether an AMQP 0-9-1 broker there answers the protocol
        header with a method frame (C{connection.start}).
    @rtype: L{bool}
    """
    try:
        with socket.create_connection(("127.0.0.1", port), timeout) as s:
            s.sendall(AMQP_HEADER)
            first = s.recv(1)
    except OSError:
        return False
    return first == b"\x01"


def _tcpAnswers(port, timeout=0.5):
    """
    @return: whether something accepts TCP on 127.0.0.1:C{port}.
    @rtype: L{bool}
    """
    try:
        socket.create_connection(("127.0.0.1", port), timeout).close()
    except OSError:
        return False
    return True


def _tail(path, size=3000):
    """
    @return: the last C{size} characters of a file, or a note that it is
        missing.
    @rtype: L{str}
    """
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - size))
            return f.read().decode("utf-8", "replace")
    except OSError as e:
        return "({}: {})".format(path, e.strerror)


class Broker:
    """
    A RabbitMQ node of our own: C{epmd} and C{rabbitmq-server} as children
    of this process, listening on 127.0.0.1 only, its data and logs under
    C{home/rabbitmq/NODE}, emptied at each start.

    @ivar amqpUri: C{amqp://guest:guest@127.0.0.1:PORT/}, once started.
    @ivar logDir: where the node's logs are.
    """

    def __init__(self, home=None, startTimeout=90.0, stopTimeout=30.0):
        """
        @param home: the scratch home; L{benchHome} by default.
        @param startTimeout: seconds to wait for AMQP to answer.
        @param stopTimeout: seconds after TERM before KILL.
        """
        self.home = os.path.abspath(home or benchHome())
        self.startTimeout = startTimeout
        self.stopTimeout = stopTimeout
        self.amqpUri = None
        self.logDir = None
        self._epmd = None
        self._server = None
        self._tree = []

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    #: Starts tried, each on three ports picked anew, while a start
    #: ends with a process that exited: RabbitMQ needs its ports named
    #: (none may be 0), so a port free when picked can be taken by
    #: another process before the broker binds it.
    startAttempts = 3

    def start(self):
        """
        Start epmd, then the node, and wait until AMQP answers.

        @raise BrokerError: it did not answer within C{startTimeout}, or
            exited at each of C{startAttempts} starts; the message has the
            log's tail (and what the earlier starts said). Whatever was
            started is stopped first.
        """
        if self._server is not None:
            raise BrokerError("broker already started at " + self.amqpUri)
        ensureInstalled()
        failures = []
        while True:
            try:
                self._startOnce()
                return
            except BrokerError as e:
                failures.append(str(e).splitlines()[0])
                if not e.exited or len(failures) >= self.startAttempts:
                    if len(failures) > 1:
                        raise BrokerError(
                            "{}\n(starts before it, each on other ports: "
                            "{})".format(e, "; ".join(failures[:-1])))
                    raise

    def _startOnce(self):
        """
        One start on three ports picked now.
        """
        amqp, dist, epmd = freePorts(3)
        base = self._prepare("bench{}".format(amqp))
        atexit.register(self.stop)
        try:
            self._startEpmd(epmd, base)
            self._startServer(base, self._environment(base, amqp, dist, epmd))
            self._awaitAmqp(amqp)
        except BaseException as failure:
            self._stopAfter(failure)
            raise
        self.amqpUri = "amqp://guest:guest@127.0.0.1:{}/".format(amqp)
        self._tree = self._resolveTree()

    def _stopAfter(self, failure):
        """
        Stop what a failed start started. When that fails too, the start's
        own error is still the one raised: a L{BrokerError} naming both
        (and not to be retried, with processes left), or C{failure} as it
        is (an interrupt, a bug), the stop's error as its context.

        @param failure: the start's exception.
        """
        try:
            self.stop()
        except BrokerError as leftover:
            if isinstance(failure, BrokerError):
                raise BrokerError("{}\n(stopping what it started: {})".format(
                    failure, leftover)) from failure
            raise failure

    def _prepare(self, node):
        """
        Make an empty directory for the node, with its config files.

        @return: the directory.
        """
        base = os.path.join(self.home, "rabbitmq", node)
        shutil.rmtree(base, ignore_errors=True)
        self.logDir = os.path.join(base, "log")
        for sub in ("log", "mnesia", "home", "plugins-expand"):
            os.makedirs(os.path.join(base, sub))
        files = {
            "rabbitmq-env.conf": "",
            "enabled_plugins": "[].\n",
            "rabbitmq.conf": "log.console = false\n"
                             "log.file.level = info\n"
                             "loopback_users.guest = true\n",
        }
        for name, text in files.items():
            with open(os.path.join(base, name), "w") as f:
                f.write(text)
        return base

    def _environment(self, base, amqp, dist, epmd):
        """
        @return: the node's environment: private files, loopback listeners.
        @rtype: L{dict}
        """
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update({
            "HOME": os.path.join(base, "home"),
            "RABBITMQ_NODENAME": os.path.basename(base) + "@localhost",
            "RABBITMQ_CONF_ENV_FILE": os.path.join(base, "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": os.path.join(base, "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE":
                os.path.join(base, "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE":
                os.path.join(base, "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": os.path.join(base, "plugins-expand"),
            "RABBITMQ_MNESIA_BASE": os.path.join(base, "mnesia"),
            "RABBITMQ_LOG_BASE": self.logDir,
            "RABBITMQ_PID_FILE": os.path.join(base, "rabbit.pid"),
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(amqp),
            "RABBITMQ_DIST_PORT": str(dist),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
                "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(epmd),
        })
        return env

    def _startEpmd(self, port, base):
        """
        Start epmd in the foreground on 127.0.0.1:C{port}, and wait until it
        accepts.
        """
        log = open(os.path.join(self.logDir, "epmd.log"), "wb")
        with log:
            self._epmd = subprocess.Popen(
                [EPMD, "-address", "127.0.0.1", "-port", str(port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                cwd=base, env={"PATH": os.environ.get("PATH", "")},
                preexec_fn=termWithParent)
        deadline = time.monotonic() + 10
        while not _tcpAnswers(port) or not self._epmdStays():
            if self._epmd.poll() is not None or time.monotonic() > deadline:
                code = self._epmd.poll()
                raise BrokerError("epmd on 127.0.0.1:{} did not start (exit "
                                  "{}):\n{}".format(port, code,
                                                    _tail(log.name)),
                                  exited=code is not None)
            time.sleep(0.05)

    def _epmdStays(self, grace=0.2):
        """
        @return: whether epmd still runs C{grace} seconds on: what answers
            on its port may be another process's listener, and epmd then
            exits at once.
        """
        time.sleep(grace)
        return self._epmd.poll() is None

    def _startServer(self, base, env):
        """
        Start C{rabbitmq-server} in the foreground, its output to
        C{log/console.log}.
        """
        log = open(os.path.join(self.logDir, "console.log"), "wb")
        with log:
            self._server = subprocess.Popen(
                [SERVER], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                cwd=base, env=env, preexec_fn=termWithParent)

    def _awaitAmqp(self, port):
        """
        Wait until AMQP answers on C{port}.

        @raise BrokerError: the server exited, or C{startTimeout} passed.
        """
        deadline = time.monotonic() + self.startTimeout
        while not amqpAnswers(port):
            code = self._server.poll()
            if code is not None or time.monotonic() > deadline:
                why = ("exited {}".format(code) if code is not None else
                       "no AMQP answer in {:.0f} s".format(self.startTimeout))
                raise BrokerError(
                    "RabbitMQ on 127.0.0.1:{}: {}; logs in {}\n{}\n{}".format(
                        port, why, self.logDir,
                        _tail(os.path.join(self.logDir, "console.log")),
                        self._nodeLogTail()), exited=code is not None)
            time.sleep(0.2)

    def _nodeLogTail(self):
        """
        @return: the tail of the node's own log file, if it has one.
        @rtype: L{str}
        """
        for name in sorted(os.listdir(self.logDir)):
            if name.endswith(".log") and name not in ("console.log",
                                                      "epmd.log"):
                return _tail(os.path.join(self.logDir, name))
        return "(no node log yet)"

    def _resolveTree(self):
        """
        @return: epmd, the server wrapper and all of its descendants, as
            L{psutil.Process} objects.
        @rtype: L{list}
        """
        procs = []
        for popen in (self._epmd, self._server):
            if popen is None or popen.poll() is not None:
                continue
            try:
                root = psutil.Process(popen.pid)
                procs.append(root)
                procs.extend(root.children(recursive=True))
            except psutil.NoSuchProcess:
                pass
        return procs

    def pids(self):
        """
        @return: the OS PIDs of the broker: epmd, the C{rabbitmq-server}
            shell, C{beam.smp} and its helper processes, for CPU and RSS
            accounting.
        @rtype: L{list} of L{int}
        """
        return [p.pid for p in self._resolveTree()]

    def stop(self):
        """
        End the node, then epmd, by PID: TERM, then KILL after
        C{stopTimeout} seconds. Safe to call more than once.

        @raise BrokerError: a process survived KILL.
        """
        server, epmd = self._server, self._epmd
        if server is None and epmd is None:
            return
        serverTree = [p for p in self._tree + self._resolveTree()
                      if epmd is None or p.pid != epmd.pid]
        endTree(_unique(serverTree), self.stopTimeout)
        if epmd is not None:
            endTree(_unique([p for p in self._resolveTree()
                              if p.pid == epmd.pid]), 5)
        for popen in (server, epmd):
            if popen is not None:
                try:
                    popen.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        left = [p.pid for p in serverTree if _alive(p)]
        self._server = self._epmd = None
        self._tree = []
        if left:
            raise BrokerError("broker processes {} survived KILL".format(left))


def _alive(proc):
    """
    @return: whether C{proc} still runs (a zombie does not).
    @rtype: L{bool}
    """
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _unique(procs):
    """
    @return: C{procs} without repeats, in order.
    """
    seen, out = set(), []
    for p in procs:
        if p.pid not in seen:
            seen.add(p.pid)
            out.append(p)
    return out


def main(argv=None):
    """
    Install if needed; unless C{--install-only}, start a broker, print its
    URI and PIDs, and stop it.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--install-only", action="store_true")
    options = parser.parse_args(argv)
    ensureInstalled()
    if options.install_only:
        return 0
    started = time.monotonic()
    with Broker() as broker:
        print("{} up in {:.1f} s, PIDs {}".format(
            broker.amqpUri, time.monotonic() - started, broker.pids()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
