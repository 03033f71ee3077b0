"""
A real Redis for tests: Debian's C{redis-server} on 127.0.0.1, a free port
and a throwaway directory, run by PID and stopped by PID.

The package is installed with C{apt-get} (service starts denied) when it is
missing; a test skips, saying why, only when that fails.
"""

import os
import shutil
import socket
import ssl
import subprocess

from twisted.trial.unittest import SkipTest

from tests.integration.node import freePort
from tests.integration.servers import readLog, stopProcess, waitStarted
from tests.locks import aptInstalled

SERVER = "redis-server"


def redisServer():
    """
    The path of C{redis-server}, installing Debian's package when missing.

    @raise SkipTest: naming why it cannot be had.
    """
    from bench.peers.debian import AptError
    try:
        path = aptInstalled(lambda: shutil.which(SERVER), ["redis-server"])
    except AptError as e:
        raise SkipTest("redis-server is needed: {}".format(e))
    if path is None:
        raise SkipTest("apt-get installed redis-server but it is not on "
                       "PATH")
    return path


class RedisServer:
    """
    One Redis process, no persistence, loopback only.

    @ivar port: its port once started.
    @ivar url: C{redis://127.0.0.1:<port>/0} once started.
    """

    def __init__(self, directory, port=None, tls=None):
        """
        @param directory: where its config, log and (empty) data go; made
            if missing.
        @param port: a fixed port (to restart on the same one), else a free
            one.
        @param tls: L{None} for plain TCP, else C{(ca, authClients)}: a
            L{tests.certs.CA} that signs its certificate (for 127.0.0.1)
            and the clients', and whether it requires a client
            certificate. It then listens with TLS only, on C{port}; the
            CA's and a client's PEM files are in C{directory}
            (L{tlsFiles}).
        """
        self.directory = os.path.abspath(directory)
        self.port = port
        self.process = None
        self.tls = tls
        self.tlsFiles = {}

    @property
    def url(self):
        return "redis://127.0.0.1:{}/0".format(self.port)

    def start(self, timeout=20):
        """
        Start it and wait until it answers C{PING}.

        @raise SkipTest: no redis-server to be had.
        @raise RuntimeError: it did not come up (with its log's tail).
        """
        server = redisServer()
        os.makedirs(self.directory, exist_ok=True)
        if self.port is None:
            self.port = freePort()
        config = os.path.join(self.directory, "redis.conf")
        listen = "port {}\n".format(self.port)
        if self.tls is not None:
            listen = self._tlsConfig()
        with open(config, "w") as f:
            f.write("bind 127.0.0.1\n{}protected-mode yes\n"
                    "daemonize no\nsave \"\"\nappendonly no\n"
                    "dir {}\nlogfile {}\n".format(
                        listen, self.directory,
                        os.path.join(self.directory, "redis.log")))
        self.process = subprocess.Popen(
            [server, config], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if waitStarted(self.process, self._ping, timeout):
            return self
        tail = self.log()[-2000:]
        self.stop()
        raise RuntimeError("redis-server on port {} did not start:\n{}"
                           .format(self.port, tail))

    def _tlsConfig(self):
        """
        Write the CA's, the server's and a client's PEM files.

        @return: the config lines that listen with TLS only.
        """
        ca, authClients = self.tls
        files = self.tlsFiles
        serverCert, serverKey, _ = ca.server("127.0.0.1")
        clientCert, clientKey, _ = ca.client("redis-client")
        for name, data in [("ca", ca.pem), ("server", serverCert),
                           ("server-key", serverKey),
                           ("client", clientCert),
                           ("client-key", clientKey)]:
            files[name] = os.path.join(self.directory, name + ".pem")
            with open(files[name], "wb") as f:
                f.write(data)
        return ("port 0\ntls-port {}\ntls-cert-file {}\ntls-key-file {}\n"
                "tls-ca-cert-file {}\ntls-auth-clients {}\n".format(
                    self.port, files["server"], files["server-key"],
                    files["ca"], "yes" if authClients else "no"))

    def _connect(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=1)
        if self.tls is None:
            return s
        context = ssl.create_default_context(cafile=self.tlsFiles["ca"])
        context.load_cert_chain(self.tlsFiles["client"],
                                self.tlsFiles["client-key"])
        return context.wrap_socket(s, server_hostname="127.0.0.1")

    def _ping(self):
        try:
            with self._connect() as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args):
        """
        Run one command with a fresh connection (for tests' own checks).

        @return: the raw first reply line(s), bytes.
        """
        payload = b"*%d\r\n" % len(args)
        for arg in args:
            arg = arg if isinstance(arg, bytes) else str(arg).encode()
            payload += b"$%d\r\n%s\r\n" % (len(arg), arg)
        with self._connect() as s:
            s.settimeout(5)
            s.sendall(payload)
            return s.recv(65536)

    def log(self):
        return readLog(os.path.join(self.directory, "redis.log"))

    def stop(self):
        """
        Stop it by its PID and wait for it (idempotent).
        """
        process, self.process = self.process, None
        stopProcess(process)


class BlockingRedis:
    """
    A one-connection, blocking client with the call interface of
    L{cocaine.redis.client.Redis}: C{call(command, *args)} returns an
    already fired Deferred. It lets the synchronous backend behaviour tests
    (L{tests.storage._behaviour}) run against a real Redis.
    """

    def __init__(self, port):
        self.port = port
        self._socket = None
        self._buffer = b""

    def start(self):
        self._socket = socket.create_connection(("127.0.0.1", self.port),
                                                timeout=10)

    def stop(self):
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def call(self, command, *args, timeout=None):
        from twisted.internet.defer import fail, succeed
        from cocaine.errors import SystemError_
        if self._socket is None:
            self.start()
        parts = [command] + list(args)
        payload = [b"*%d\r\n" % len(parts)]
        for part in parts:
            if not isinstance(part, bytes):
                part = str(part).encode("utf-8")
            payload.append(b"$%d\r\n%s\r\n" % (len(part), part))
        self._socket.sendall(b"".join(payload))
        reply = self._reply()
        if isinstance(reply, _Error):
            return fail(SystemError_("redis: {}: {}".format(command,
                                                            reply.text)))
        return succeed(reply)

    def _line(self):
        while b"\r\n" not in self._buffer:
            self._more()
        line, self._buffer = self._buffer.split(b"\r\n", 1)
        return line

    def _more(self):
        data = self._socket.recv(65536)
        if not data:
            raise ConnectionError("redis closed the connection")
        self._buffer += data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return _Error(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            while len(self._buffer) < size + 2:
                self._more()
            value = self._buffer[:size]
            self._buffer = self._buffer[size + 2:]
            return value
        if kind == b"*":
            count = int(rest)
            if count < 0:
                return None
            return [self._reply() for _ in range(count)]
        raise ValueError("unexpected reply {!r}".format(line))


class _Error:
    def __init__(self, text):
        self.text = text
