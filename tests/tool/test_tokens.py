# -*- test-case-name: tests.tool.test_tokens -*-
"""
Tests for L{cocaine.tool.tokens}: C{cocaine-tool token issue} and C{token
cid}, in process: their arguments through the tool's parser, tokens the
node's verifier accepts, and the one line of a refusal.
"""

import io
import os
import sys

from twisted.trial.unittest import SynchronousTestCase

from cocaine.auth.guard import appCid
from cocaine.auth.identity import Identity
from cocaine.auth.token import TokenError, keyId, verify
from cocaine.tool import cli, tokens
from cocaine.tool.context import ToolError
from tests.tool.fakes import FakeContext

SECRET = b"s" * 32


class _TokenCase(SynchronousTestCase):

    def setUp(self):
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.secretFile = self.writeSecret(SECRET)
        self.stderr = io.StringIO()
        self.patch(sys, "stderr", self.stderr)

    def writeSecret(self, data, name="secret", mode=0o600):
        path = os.path.join(self.directory, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path

    def parse(self, *argv):
        return cli.buildParser().parse_args(list(argv))

    def usageError(self, *argv):
        """
        @return: the last line of the usage error C{argv} is.
        """
        exit = self.assertRaises(SystemExit, self.parse, *argv)
        self.assertEqual(exit.code, 2)
        return self.stderr.getvalue().splitlines()[-1]

    def issue(self, *argv, json=False, now=1000.5):
        """
        Run C{token issue argv} on a L{FakeContext}.

        @return: the context.
        """
        args = self.parse("token", "issue", "--secret-file",
                          self.secretFile, *argv)
        self.assertIs(args.func, tokens.tokenIssue)
        ctx = FakeContext({}, json=json)
        tokens.tokenIssue(ctx, args, now=lambda: now)
        return ctx


class IssueTests(_TokenCase):

    def test_issue(self):
        """
        The token printed is signed with the secret for the uids and cids
        given, and lasts a day from now by default.
        """
        ctx = self.issue("--uid", "5", "--cid", "7", "--cid", "8")
        token = ctx.out.strip()
        self.assertEqual(ctx.out, token + "\n")
        identity, expiry = verify({keyId(SECRET): SECRET}, token, 1000)
        self.assertEqual(identity, Identity(uids=(5,), cids=(7, 8)))
        self.assertEqual(expiry, 1000 + tokens.DEFAULT_TTL)
        self.assertEqual(tokens.DEFAULT_TTL, 86400)

    def test_ttl(self):
        ctx = self.issue("--uid", "0", "--ttl", "60")
        _, expiry = verify({keyId(SECRET): SECRET}, ctx.out.strip(), 1000)
        self.assertEqual(expiry, 1060)

    def test_cidsOnly(self):
        """
        A token may carry cids and no uid.
        """
        ctx = self.issue("--cid", str(2 ** 64 - 1))
        identity, _ = verify({keyId(SECRET): SECRET}, ctx.out.strip(), 1000)
        self.assertEqual(identity, Identity(cids=(2 ** 64 - 1,)))

    def test_json(self):
        """
        With C{--json}: the token with its ids and expiry.
        """
        import json
        ctx = self.issue("--uid", "5", "--uid", "6", "--ttl", "10",
                         json=True)
        shown = json.loads(ctx.out)
        self.assertEqual({k: shown[k] for k in ("uids", "cids", "expiry")},
                         {"uids": [5, 6], "cids": [], "expiry": 1010})
        identity, _ = verify({keyId(SECRET): SECRET}, shown["token"], 1000)
        self.assertEqual(identity.uids, (5, 6))

    def test_anotherSecret(self):
        """
        A token is only good with the secret it was signed with.
        """
        ctx = self.issue("--uid", "5")
        other = b"o" * 32
        self.assertRaises(TokenError, verify, {keyId(other): other},
                          ctx.out.strip(), 1000)

    def test_noIds(self):
        """
        Without a uid or a cid there is nothing to sign.
        """
        error = self.assertRaises(ToolError, self.issue)
        self.assertEqual(error.message, "give at least one --uid or --cid")

    def test_badSecretFile(self):
        """
        A secret file that others may read, that is too short or missing
        is refused, naming it and why.
        """
        for path, fragment in (
                (self.writeSecret(SECRET, "open", 0o644),
                 "must be readable by its owner only"),
                (self.writeSecret(b"short", "short"), "at least 16 bytes"),
                (os.path.join(self.directory, "missing"), "cannot read")):
            self.secretFile = path
            error = self.assertRaises(ToolError, self.issue, "--uid", "1")
            self.assertIn(path, error.message)
            self.assertIn(fragment, error.message)

    def test_badArguments(self):
        """
        Ids must be integers 0..2^64-1 and the TTL a positive number of
        seconds: usage errors naming the value; the secret file is
        required.
        """
        for option, value, fragment in (
                ("--uid", "x", "must be an integer 0..2^64-1, got 'x'"),
                ("--uid", "-1", "got '-1'"),
                ("--cid", str(2 ** 64), "got '18446744073709551616'"),
                ("--ttl", "0", "must be a positive number of seconds, "
                               "got '0'"),
                ("--ttl", "soon", "got 'soon'")):
            line = self.usageError("token", "issue", "--secret-file",
                                   self.secretFile, option, value)
            self.assertIn(option, line)
            self.assertIn(fragment, line)
        line = self.usageError("token", "issue", "--uid", "1")
        self.assertIn("--secret-file", line)


class CidTests(_TokenCase):

    def cid(self, *argv, json=False):
        args = self.parse("token", "cid", *argv)
        self.assertIs(args.func, tokens.tokenCid)
        ctx = FakeContext({}, json=json)
        tokens.tokenCid(ctx, args)
        return ctx

    def test_cid(self):
        """
        The cid the node gives an app's workers: the top bit set, stable.
        """
        ctx = self.cid("echo")
        self.assertEqual(ctx.out, "{}\n".format(appCid("echo")))
        self.assertTrue(int(ctx.out) >> 63)
        self.assertNotEqual(self.cid("other").out, ctx.out)

    def test_json(self):
        import json
        self.assertEqual(json.loads(self.cid("echo", json=True).out),
                         {"app": "echo", "cid": appCid("echo")})


class MainTests(_TokenCase):
    """
    The commands run through L{cli.main}, as C{cocaine-tool} runs them;
    neither needs a node.
    """

    def main(self, *argv):
        config = os.path.join(self.directory, "tools.yml")
        with open(config, "w") as f:
            f.write("{}\n")
        stdout = io.StringIO()
        self.patch(sys, "stdout", stdout)
        status = cli.main(["--config", config] + list(argv))
        return status, stdout.getvalue(), self.stderr.getvalue()

    def test_issue(self):
        status, out, err = self.main("token", "issue", "--secret-file",
                                     self.secretFile, "--uid", "0")
        self.assertEqual((status, err), (0, ""))
        identity, _ = verify({keyId(SECRET): SECRET}, out.strip(),
                             0)
        self.assertEqual(identity, Identity(uids=(0,)))

    def test_refused(self):
        """
        A refusal is one line naming the command, status 1.
        """
        status, out, err = self.main("token", "issue", "--secret-file",
                                     self.secretFile)
        self.assertEqual((status, out), (1, ""))
        self.assertEqual(err, "cocaine-tool: token issue: give at least one "
                         "--uid or --cid\n")

    def test_tooManyIds(self):
        """
        More ids than a token carries is refused in one line naming the
        limit, not as an unexpected error.
        """
        argv = ["token", "issue", "--secret-file", self.secretFile]
        for uid in range(65):
            argv += ["--uid", str(uid)]
        status, out, err = self.main(*argv)
        self.assertEqual((status, out), (1, ""))
        self.assertNotIn("unexpected error", err)
        self.assertIn("at most 64", err)
        self.assertEqual(len(err.splitlines()), 1)
