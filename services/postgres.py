# -*- test-case-name: tests.storage.test_postgres,tests.test_plugins -*-
"""
The C{postgres} storage backend plugin: args C{{"dsn": URI, "table":
"cocaine_storage", "pool": 4, "timeout": 5}}: the server (a libpq URI or
connection string), the table (made when missing), connections at most,
and seconds a call may take before it fails.
"""

import re

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IStoragePlugin

_KEYS = ("dsn", "pool", "table", "timeout")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,57}\Z")


@implementer(IPlugin, IStoragePlugin)
class _PostgresPlugin:
    name = "postgres"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError, checkInteger, checkKeys
        checkKeys(path, args, _KEYS)
        dsn = args.get("dsn")
        if not isinstance(dsn, str) or not dsn:
            raise ConfigError(path + ".dsn", "must be a PostgreSQL URI "
                              "(postgresql://user:pass@host:5432/db)")
        try:
            from psycopg import Error
            from psycopg.conninfo import conninfo_to_dict
        except ImportError:
            raise ConfigError(path, "the postgres storage needs psycopg 3 "
                              "(pip install 'psycopg[binary]')")
        try:
            conninfo_to_dict(dsn)
        except Error as e:
            # never echo the dsn: it may hold a password
            raise ConfigError(path + ".dsn", "not a PostgreSQL URI or "
                              "connection string: {}".format(
                                  str(e).splitlines()[0] if str(e)
                                  else type(e).__name__))
        table = args.get("table", "cocaine_storage")
        if not isinstance(table, str) or not _IDENTIFIER.match(table):
            raise ConfigError(path + ".table", "must be a table name of "
                              "letters, digits and _ (at most 58), got "
                              "{!r}".format(table))
        checkInteger(path + ".pool", args.get("pool", 4), 1, 64)
        timeout = args.get("timeout", 5)
        if type(timeout) not in (int, float) or not timeout > 0:
            raise ConfigError(path + ".timeout", "must be seconds > 0, got "
                              "{!r}".format(timeout))

    def makeBackend(self, context, name, args):
        from cocaine.storage.postgres import DEFAULT_TABLE, PostgresStorage
        return PostgresStorage(context.reactor, args["dsn"],
                               table=args.get("table", DEFAULT_TABLE),
                               size=args.get("pool", 4),
                               timeout=float(args.get("timeout", 5)))


postgres = _PostgresPlugin()
