# -*- test-case-name: tests.security.test_auth -*-
"""
C{cocaine-tool access ...}: who may read and write a storage collection
(its ACL, C{docs/security.md}), through the node's C{unicat} service.

    cocaine-tool access show COLLECTION
    cocaine-tool access grant COLLECTION [--uid N ...] [--cid N ...]
                              [--flags r|w|rw]
    cocaine-tool access revoke COLLECTION [--uid N ...] [--cid N ...]
                               [--flags r|w|rw]
"""

from cocaine.auth.acl import COLLECTION_ACLS, unpackCollectionACL
from cocaine.errors import KeyNotFound
from cocaine.tool.context import ToolError
from cocaine.tool.storage import commandGroup
from cocaine.tool.tokens import _id

_FLAGS = {"r": 1, "w": 2, "rw": 3, "wr": 3}
_NAMES = {0: "-", 1: "r", 2: "w", 3: "rw"}


def _flags(text):
    import argparse
    value = _FLAGS.get(text.lower())
    if value is None:
        raise argparse.ArgumentTypeError(
            "must be r, w or rw, got {!r}".format(text))
    return value


def register(subparsers):
    """
    Add the C{access} commands.
    """
    commands = commandGroup(
        subparsers, "access", "who may read and write storage collections",
        "Storage collection ACLs (R = read/find, W = write/remove), "
        "changed through the node's unicat service.")
    p = commands.add_parser("show", help="a collection's ACL")
    p.add_argument("collection", metavar="COLLECTION")
    p.set_defaults(func=accessShow)
    for name, func, help in (
            ("grant", accessGrant, "give uids/cids rights on a collection"),
            ("revoke", accessRevoke, "take rights away")):
        p = commands.add_parser(name, help=help)
        p.add_argument("collection", metavar="COLLECTION")
        p.add_argument("--uid", type=_id, action="append", default=[],
                       metavar="N", help="a user id (repeatable)")
        p.add_argument("--cid", type=_id, action="append", default=[],
                       metavar="N", help="a client id (repeatable)")
        p.add_argument("--flags", type=_flags, default=3, metavar="r|w|rw",
                       help="the rights (default: rw)")
        p.set_defaults(func=func)


def accessShow(ctx, args):
    """
    C{access show COLLECTION}.
    """
    try:
        blob = ctx.storage.read(COLLECTION_ACLS, args.collection)
    except KeyNotFound:
        cids, uids = {}, {}
    else:
        try:
            cids, uids = unpackCollectionACL(blob)
        except ValueError as e:
            raise ToolError("the ACL of {!r}: {}".format(args.collection, e))
    rows = [("uid", i, _NAMES.get(f, str(f))) for i, f in sorted(
        uids.items())] + [("cid", i, _NAMES.get(f, str(f))) for i, f in
                          sorted(cids.items())]
    if ctx.json:
        ctx.emit({"collection": args.collection,
                  "uids": {str(i): f for i, f in uids.items()},
                  "cids": {str(i): f for i, f in cids.items()}})
        return
    if not rows:
        ctx.say("{}: no ACL (open to any authenticated caller until the "
                "first write makes the writer its owner)".format(
                    args.collection))
        return
    for kind, i, flags in rows:
        ctx.console.file.write("{} {} {}\n".format(kind, i, flags))


def _change(ctx, args, method):
    if not args.uid and not args.cid:
        raise ToolError("give at least one --uid or --cid")
    getattr(ctx.service("unicat"), method)(
        [["storage", None, args.collection]], args.cid, args.uid,
        args.flags)
    ctx.say("{}: {} {} for {}".format(
        args.collection, "granted" if method == "grant" else "revoked",
        _NAMES[args.flags], ", ".join(
            ["uid {}".format(u) for u in args.uid]
            + ["cid {}".format(c) for c in args.cid])))


def accessGrant(ctx, args):
    """
    C{access grant COLLECTION ...}.
    """
    _change(ctx, args, "grant")


def accessRevoke(ctx, args):
    """
    C{access revoke COLLECTION ...}.
    """
    _change(ctx, args, "revoke")
