"""
The command line itself: global options, the config file, usage errors and
a node that is not running.
"""

import io
import os
import sys

from twisted.trial.unittest import SynchronousTestCase

from cocaine.tool import cli
from tests.tool.support import ToolTestCase, freePort


class NoNodeTests(ToolTestCase):
    """
    Nothing listens on the port: every command says so in one line.
    """

    startNode = False

    def test_noNode(self):
        port = freePort()
        expected = "cocaine-tool: no node at 127.0.0.1:{} (connection " \
            "refused)".format(port)
        for args in (["uuid"], ["--json", "app", "list"],
                     ["call", "storage.read", "c", "k"], ["profile", "list"]):
            result = self.tool(*args, port=port)
            self.assertEqual(result.status, 1, result)
            self.assertEqual(result.stderr, expected + "\n", result)
            self.assertEqual(result.stdout, b"", result)

    def test_noNodeFromConfig(self):
        """
        The address comes from the config file when no option gives it.
        """
        port = freePort()
        os.makedirs(os.path.join(self.home, ".cocaine"))
        self.writeFile(os.path.join(".cocaine", "tools.yml"),
                       "host: 127.0.0.1\nport: {}\ntimeout: 3\n".format(port))
        self.fails("uuid", port=False, message="no node at 127.0.0.1:{} "
                   "(connection refused)".format(port))

    def test_usageErrors(self):
        for args in ([], ["app"], ["nosuch"], ["--port", "x", "uuid"],
                     ["crashlog", "view", "echo"]):
            result = self.tool(*args, port=False)
            self.assertEqual(result.status, 2, result)
            self.assertIn("usage: cocaine-tool", result.stderr, result)
            self.assertEqual(result.stdout, b"")

    def test_badConfig(self):
        path = self.writeFile("tools.yml", "port: [\n")
        line = self.fails("--config", path, "uuid", port=False, status=2,
                          message="config {}: not valid YAML".format(path))
        self.assertTrue(line.startswith("cocaine-tool: config "))
        path = self.writeFile("tools2.yml", "port: abc\n")
        self.fails("--config", path, "uuid", port=False, status=2,
                   message="port: must be a port number 0-65535, got 'abc'")
        path = self.writeFile("tools3.yml", "- a list\n")
        self.fails("--config", path, "uuid", port=False, status=2,
                   message="must be a map")
        self.fails("--config", os.path.join(self.home, "missing.yml"),
                   "uuid", port=False, status=2, message="no such file")

    def test_help(self):
        result = self.tool("--help", port=False)
        self.assertEqual(result.status, 0, result)
        for command in ("locate", "cluster", "uuid", "call", "app", "info",
                        "profile", "runlist", "group", "crashlog", "keys"):
            self.assertIn(command, result.out)
        result = self.tool("app", "upload", "--help", port=False)
        self.assertEqual(result.status, 0, result)
        self.assertIn("--manifest", result.out)


class GlobalOptionTests(ToolTestCase):
    """
    Options before or after the command; the config file; the console
    script entry point.
    """

    def test_optionsAfterTheCommand(self):
        result = self.tool("uuid", "--json", "--port", self.node.port,
                           port=False)
        self.assertEqual(result.status, 0, result)
        self.assertIn("uuid", result.out)

    def test_configFile(self):
        os.makedirs(os.path.join(self.home, ".cocaine"))
        self.writeFile(os.path.join(".cocaine", "tools.yml"),
                       "port: {}\n".format(self.node.port))
        uuid = self.tool("uuid", port=False)
        self.assertEqual(uuid.status, 0, uuid)
        # --port wins over the file
        self.fails("uuid", port=freePort(), message="no node at")
        path = self.writeFile("other.yml", "host: 127.0.0.1\nport: {}\n"
                              .format(self.node.port))
        self.assertEqual(self.tool("--config", path, "uuid",
                                   port=False).stdout, uuid.stdout)


class ParserTests(SynchronousTestCase):
    """
    The parser, in process (nothing here touches the network).
    """

    def test_commandModules(self):
        """
        The top command's module is registered with the others; a module
        that does not exist is skipped silently.
        """
        self.assertIn("cocaine.tool.top", cli.COMMAND_MODULES)
        self.assertIsNone(cli._loadModule("cocaine.tool.does_not_exist"))

    def test_commandPath(self):
        parser = cli.buildParser()
        args = parser.parse_args(["app", "start", "echo", "--port", "7"])
        self.assertEqual((args._command, args.name, args.port, args.host,
                          args.json), ("app start", "echo", 7, None, False))
        args = parser.parse_args(["--json", "--host", "h", "profile", "list"])
        self.assertEqual((args._command, args.json, args.host),
                         ("profile list", True, "h"))

    def test_mainReturnsUsageStatus(self):
        stderr = io.StringIO()
        self.patch(sys, "stderr", stderr)
        self.assertEqual(cli.main(["app", "start"]), 2)
        self.assertIn("the following arguments are required: NAME",
                      stderr.getvalue())

    def test_loadConfig(self):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("host: example.org\nport: 1234\ntimeout: 2.5\n")
        self.assertEqual(cli.loadConfig(path), {
            "host": "example.org", "port": 1234, "timeout": 2.5})
        self.assertEqual(cli.loadConfig(self.mktemp()), {})
        with open(path, "w") as f:
            f.write("")
        self.assertEqual(cli.loadConfig(path), {})

    def test_consoleScript(self):
        """
        setup.cfg installs the C{cocaine-tool} script and the package.
        """
        import configparser
        from tests.integration.node import ROOT
        config = configparser.ConfigParser()
        config.read(os.path.join(ROOT, "setup.cfg"))
        self.assertIn("cocaine-tool = cocaine.tool.cli:main",
                      config["options.entry_points"]["console_scripts"])
        self.assertIn("cocaine.tool", config["options"]["packages"].split())
        requires = config["options"]["install_requires"].split()
        self.assertIn("rich>=13", requires)
        self.assertIn("pyyaml>=6", requires)


class TLSOptionTests(SynchronousTestCase):
    """
    C{--tls-ca}, C{--tls-cert}, C{--tls-key}: options first, then the
    C{COCAINE_TLS_*} variables, then the config file.
    """

    def setUp(self):
        from tests.certs import CA, write
        self.directory = os.path.abspath(self.mktemp())
        ca = CA()
        self.ca = write(self.directory, "ca.pem", ca.pem, 0o644)
        cert, key, _ = ca.client("uid:1")
        self.cert = write(self.directory, "c.pem", cert)
        self.key = write(self.directory, "c.key", key)

    def tls(self, argv, config=None, environ=None):
        args = cli.buildParser().parse_args(argv + ["uuid"])
        return cli._clientTLS(args, config or {}, environ or {})

    def test_none(self):
        self.assertIsNone(self.tls([]))

    def test_options(self):
        tls = self.tls(["--tls-ca", self.ca, "--tls-cert", self.cert,
                        "--tls-key", self.key])
        with open(self.ca, "rb") as f:
            self.assertEqual(tls.ca, f.read())
        self.assertIsNotNone(tls.creator("127.0.0.1"))

    def test_environmentAndConfig(self):
        tls = self.tls([], config={"tls-ca": "/nonexistent"},
                       environ={"COCAINE_TLS_CA": self.ca})
        self.assertIsNotNone(tls.ca)
        tls = self.tls([], config={"tls-ca": self.ca})
        self.assertIsNotNone(tls.ca)

    def test_unreadable(self):
        error = self.assertRaises(cli.ConfigError, self.tls,
                                  ["--tls-ca", "/nonexistent/ca.pem"])
        self.assertIn("/nonexistent/ca.pem", str(error))

    def test_unusableKey(self):
        """
        An encrypted key is a mistake in the settings (a usage error
        naming the file), found before anything connects: not "no node
        at" the address the tool would have tried.
        """
        from tests.certs import encryptedKey, write
        path = write(self.directory, "enc.key", encryptedKey())
        error = self.assertRaises(
            cli.ConfigError, self.tls, ["--tls-ca", self.ca, "--tls-cert",
                                        self.cert, "--tls-key", path])
        self.assertEqual(str(error), "TLS: the TLS client key {!r}: the key "
                         "is encrypted; give it unencrypted (no passphrase "
                         "is ever asked for)".format(path))
        stderr = io.StringIO()
        self.patch(sys, "stderr", stderr)
        status = cli.main(["--tls-ca", self.ca, "--tls-cert", self.cert,
                           "--tls-key", path, "--port", "1", "app", "list"])
        self.assertEqual(status, 2)
        self.assertIn("cocaine-tool: TLS: the TLS client key", stderr.getvalue())
        self.assertNotIn("no node at", stderr.getvalue())

    def test_caWithoutCertificate(self):
        """
        A CA file without a certificate, or with one that cannot be read,
        is named.
        """
        from tests.certs import write
        empty = write(self.directory, "empty.pem", b"nothing here")
        error = self.assertRaises(cli.ConfigError, self.tls,
                                  ["--tls-ca", empty])
        self.assertEqual(str(error), "TLS: the TLS CA {!r} holds no PEM "
                         "certificate".format(empty))
        bad = write(self.directory, "bad.pem",
                    b"-----BEGIN CERTIFICATE-----\nAAAA\n"
                    b"-----END CERTIFICATE-----\n")
        error = self.assertRaises(cli.ConfigError, self.tls,
                                  ["--tls-ca", bad])
        self.assertIn("TLS: the TLS CA {!r}: a certificate that cannot be "
                      "read (".format(bad), str(error))

    def test_loadConfig(self):
        path = os.path.join(self.directory, "tools.yml")
        with open(path, "w") as f:
            f.write("tls-ca: /a\ntls-cert: /b\ntls-key: /c\n")
        self.assertEqual(cli.loadConfig(path), {
            "tls-ca": "/a", "tls-cert": "/b", "tls-key": "/c"})
        with open(path, "w") as f:
            f.write("tls-ca: 5\n")
        self.assertRaises(cli.ConfigError, cli.loadConfig, path)
