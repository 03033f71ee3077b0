# -*- test-case-name: tests.tool.test_tokens -*-
"""
C{cocaine-tool token ...}: signed tokens for a node whose authentication
is C{token} (C{docs/security.md}).

    cocaine-tool token issue --secret-file PATH --uid N [--cid N ...]
                             [--ttl SECONDS]
    cocaine-tool token cid APP

C{issue} signs locally with the node's secret file (it needs no node) and
prints the token; give it to C{--token} or C{COCAINE_TOKEN}.
"""

import time

from cocaine.auth.guard import appCid
from cocaine.auth.token import issue, readSecret
from cocaine.tool.context import ToolError
from cocaine.tool.storage import commandGroup

#: How long an issued token lasts unless C{--ttl} says otherwise.
DEFAULT_TTL = 24 * 3600

_UINT64 = (1 << 64) - 1


def _id(text):
    import argparse
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= _UINT64:
        raise argparse.ArgumentTypeError(
            "must be an integer 0..2^64-1, got {!r}".format(text))
    return value


def _ttl(text):
    import argparse
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(
            "must be a positive number of seconds, got {!r}".format(text))
    return value


def register(subparsers):
    """
    Add the C{token} commands.
    """
    commands = commandGroup(
        subparsers, "token", "sign tokens for a node with token "
        "authentication",
        "Tokens prove a caller's uid and cids to a node whose "
        "authentications.core is of type token. uid 0 is the admin.")
    p = commands.add_parser(
        "issue", help="print a token signed with the node's secret file")
    p.add_argument("--secret-file", required=True, metavar="PATH",
                   help="the node's secret file (mode 600)")
    p.add_argument("--uid", type=_id, action="append", default=[],
                   metavar="N", help="the user id (0 is the admin)")
    p.add_argument("--cid", type=_id, action="append", default=[],
                   metavar="N", help="a client id (repeatable)")
    p.add_argument("--ttl", type=_ttl, default=DEFAULT_TTL,
                   metavar="SECONDS", help="lifetime (default: {}, a "
                   "day)".format(DEFAULT_TTL))
    p.set_defaults(func=tokenIssue)
    p = commands.add_parser(
        "cid", help="the cid the node gives an app's workers")
    p.add_argument("name", metavar="APP")
    p.set_defaults(func=tokenCid)


def tokenIssue(ctx, args, now=time.time):
    """
    C{token issue}: sign and print a token.
    """
    if not args.uid and not args.cid:
        raise ToolError("give at least one --uid or --cid")
    try:
        secret = readSecret(args.secret_file)
    except ValueError as e:
        raise ToolError(str(e))
    expiry = int(now()) + args.ttl
    try:
        token = issue(secret, uids=args.uid, cids=args.cid, expiry=expiry)
    except ValueError as e:
        # more ids than a token carries (MAX_IDS)
        raise ToolError(str(e))
    if ctx.json:
        ctx.emit({"token": token, "uids": args.uid, "cids": args.cid,
                  "expiry": expiry})
    else:
        ctx.console.file.write(token + "\n")


def tokenCid(ctx, args):
    """
    C{token cid APP}: the cid of an app's workers (for ACLs).
    """
    cid = appCid(args.name)
    if ctx.json:
        ctx.emit({"app": args.name, "cid": cid})
    else:
        ctx.console.file.write("{}\n".format(cid))
