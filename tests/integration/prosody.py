"""
A real Prosody for tests: Debian's C{prosody} with a throwaway config in a
temporary directory: one virtual host (C{localhost} by default), c2s on
127.0.0.1 and a free port with STARTTLS required on a certificate made for
the test (L{tests.certs}), and no other listener (no s2s, HTTP, components
or direct TLS). Accounts are made with C{prosodyctl} on that config; the
server runs in the foreground by PID and is stopped by PID.

The package is installed with C{apt-get} (service starts denied) when it is
missing; a test skips, saying why, only when that fails.
"""

import os
import shutil
import socket
import subprocess

from twisted.trial.unittest import SkipTest

from tests.certs import CA, write
from tests.integration.node import freePort
from tests.integration.servers import readLog, stopProcess, waitStarted
from tests.locks import aptInstalled

CONFIG = """\
-- a throwaway Prosody for one test (tests/integration/prosody.py)
{runAsRoot}
daemonize = false
pidfile = "{directory}/prosody.pid"
data_path = "{directory}/data"
certificates = "{directory}/certs"
plugin_paths = {{}}
log = {{ {{ levels = {{ min = "debug" }}, to = "file",
          filename = "{directory}/prosody.log" }} }}
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {port} }}
c2s_interfaces = {{ "127.0.0.1" }}
c2s_require_encryption = true
c2s_direct_tls_ports = {{}}
legacy_ssl_ports = {{}}
s2s_ports = {{}}
s2s_direct_tls_ports = {{}}
http_ports = {{}}
https_ports = {{}}
component_ports = {{}}
admin_socket = "{directory}/admin.sock"
modules_enabled = {{ "roster", "saslauth", "tls", "disco", "posix", "ping" }}
modules_disabled = {{ "s2s", "s2s_auth_certs", "offline" }}
authentication = "internal_hashed"
storage = "internal"

VirtualHost "{domain}"
  ssl = {{ certificate = "{directory}/certs/{domain}.crt",
          key = "{directory}/certs/{domain}.key" }}
"""


def prosodyPaths():
    """
    The paths of C{prosody} and C{prosodyctl}, installing Debian's package
    when missing.

    @raise SkipTest: naming why they cannot be had.
    """
    from bench.peers.debian import AptError

    def find():
        paths = shutil.which("prosody"), shutil.which("prosodyctl")
        return None if None in paths else paths
    try:
        paths = aptInstalled(find, ["prosody"])
    except AptError as e:
        raise SkipTest("prosody is needed: {}".format(e))
    if paths is None:
        raise SkipTest("apt-get installed prosody but prosody or prosodyctl "
                       "is not on PATH")
    return paths


def _serverCertificate(ca, domain):
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    return ca._sign(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)]),
        [x509.SubjectAlternativeName([x509.DNSName(domain)]),
         x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH])])


class ProsodyServer:
    """
    One Prosody process.

    @ivar domain: its virtual host, the domain of its accounts' JIDs.
    @ivar port: its c2s port once started.
    @ivar caPath: the PEM of the CA that signed its certificate.
    """

    def __init__(self, directory, domain="localhost", port=None):
        """
        @param directory: where its config, certificates, data and log go;
            made if missing.
        @param port: a fixed c2s port, else a free one.
        """
        self.directory = os.path.abspath(directory)
        self.domain = domain
        self.port = port
        self.process = None
        self.caPath = os.path.join(self.directory, "ca.pem")
        self.configPath = os.path.join(self.directory, "prosody.cfg.lua")
        self._written = False

    def _writeConfig(self):
        os.makedirs(os.path.join(self.directory, "data"), exist_ok=True)
        if self.port is None:
            self.port = freePort()
        ca = CA("prosody test CA")
        certificate, key, _ = _serverCertificate(ca, self.domain)
        certs = os.path.join(self.directory, "certs")
        write(self.directory, "ca.pem", ca.pem, 0o644)
        write(certs, self.domain + ".crt", certificate, 0o644)
        write(certs, self.domain + ".key", key)
        with open(self.configPath, "w") as f:
            f.write(CONFIG.format(
                directory=self.directory, domain=self.domain, port=self.port,
                runAsRoot=("run_as_root = true" if os.geteuid() == 0
                           else "")))
        self._written = True

    def register(self, user, password):
        """
        Make account C{user@domain} with C{prosodyctl} on this config.

        @return: its JID.
        """
        _, prosodyctl = prosodyPaths()
        if not self._written:
            self._writeConfig()
        result = subprocess.run(
            [prosodyctl, "--config", self.configPath, "register", user,
             self.domain, password], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        if result.returncode != 0:
            raise RuntimeError("prosodyctl register {} failed:\n{}".format(
                user, result.stdout.decode("utf-8", "replace")))
        return "{}@{}".format(user, self.domain)

    def start(self, timeout=20):
        """
        Start it and wait until its c2s port accepts connections.

        @raise SkipTest: no prosody to be had.
        @raise RuntimeError: it did not come up (with its log's tail).
        """
        prosody, _ = prosodyPaths()
        if not self._written:
            self._writeConfig()
        with open(os.path.join(self.directory, "stdout.log"), "ab") as out:
            self.process = subprocess.Popen(
                [prosody, "--config", self.configPath, "-F"],
                stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT)
        if waitStarted(self.process, self._listening, timeout):
            return self
        tail = self.log()[-3000:]
        self.stop()
        raise RuntimeError("prosody on port {} did not start:\n{}".format(
            self.port, tail))

    def _listening(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=1):
                return True
        except OSError:
            return False

    def log(self):
        return readLog(os.path.join(self.directory, "prosody.log"))

    def stop(self):
        """
        Stop it by its PID and wait for it (idempotent).
        """
        process, self.process = self.process, None
        stopProcess(process)
