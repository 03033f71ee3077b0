# -*- test-case-name: tests.storage.test_postgres -*-
"""
The C{postgres} storage backend: every value in one PostgreSQL table, so
nodes configured with the same server share apps, manifests, profiles and
routing groups.

One row per key::

    CREATE TABLE <table> (
        collection text NOT NULL,
        key        text NOT NULL,
        value      bytea NOT NULL,
        tags       text[] NOT NULL DEFAULT '{}',
        PRIMARY KEY (collection, key));
    CREATE INDEX <table>_tags ON <table> USING GIN (tags);

both made on start when the table is missing (or at the first call, when
the server was down at start). A write is one C{INSERT ... ON CONFLICT DO
UPDATE} in autocommit, so it is durable once acknowledged and replaces
value and tags together; C{find} is C{tags @> $tags} (every given tag), as cocaine-plugins'
postgres index does. Names follow the C{files} backend's rules and errors
(L{cocaine.storage.files.checkName}), so the backends are interchangeable.

Statements run through a runner: by default pipelined on libpq's
non-blocking connections in the reactor's thread
(L{cocaine.storage.pgpipeline}); when the server cannot be reached a call
fails with L{BackendUnavailable} naming it, within the configured
timeout, and later calls reconnect by themselves.
"""

from psycopg import sql
from twisted.application.service import Service
from twisted.internet.defer import Deferred
from twisted.logger import Logger
from zope.interface import implementer

from cocaine.errors import BackendUnavailable, InvalidName, KeyNotFound
from cocaine.interfaces import IStorageBackend
from cocaine.storage.files import checkName
from cocaine.storage.pgpipeline import PipelinedRunner

DEFAULT_TABLE = "cocaine_storage"

log = Logger()


def schema(table):
    """
    @return: the statements that make C{table} and its tag index when
        missing.
    """
    name = sql.Identifier(table)
    return [
        sql.SQL("CREATE TABLE IF NOT EXISTS {} ("
                "collection text NOT NULL, key text NOT NULL, "
                "value bytea NOT NULL, "
                "tags text[] NOT NULL DEFAULT '{{}}', "
                "PRIMARY KEY (collection, key))").format(name),
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING GIN (tags)")
        .format(sql.Identifier(table + "_tags"), name),
    ]


def _checkTags(tags):
    tags = list(dict.fromkeys(tags or ()))
    for tag in tags:
        if not isinstance(tag, str) or not tag or "\0" in tag:
            raise InvalidName("storage: tag {!r} is not allowed".format(tag))
    return tags


def _notFound(collection, key):
    return KeyNotFound("storage: key {!r} not found in collection {!r}"
                       .format(key, collection))


@implementer(IStorageBackend)
class PostgresStorage(Service):
    """
    Values in table C{table} of a PostgreSQL database.

    @ivar runner: what runs the statements: C{execute(sql, params)} returns
        a Deferred of the rows.
    @ivar shared: C{True}: nodes on the same server and table see the
        same values (L{cocaine.interfaces.IStorageBackend}).
    """

    shared = True

    def __init__(self, reactor, dsn=None, table=DEFAULT_TABLE, size=4,
                 timeout=5.0, runner=None):
        """
        @param dsn: the server (a libpq URI or connection string); unused
            when C{runner} is given.
        @param size: connections at most.
        @param timeout: seconds a call may take before it fails with
            L{BackendUnavailable}.
        @param runner: runs the statements (by default a
            L{PipelinedRunner} on C{dsn}).
        """
        self.setName("postgres")
        if runner is None:
            runner = PipelinedRunner(reactor, dsn, size=size,
                                     timeout=timeout)
        self.runner = runner
        self.table = table
        t = sql.Identifier(table)
        self._read = sql.SQL("SELECT value FROM {} WHERE collection = %s "
                             "AND key = %s").format(t)
        self._write = sql.SQL(
            "INSERT INTO {} (collection, key, value, tags) "
            "VALUES (%s, %s, %s, %s::text[]) "
            "ON CONFLICT (collection, key) DO UPDATE "
            "SET value = EXCLUDED.value, tags = EXCLUDED.tags").format(t)
        self._remove = sql.SQL("DELETE FROM {} WHERE collection = %s "
                               "AND key = %s RETURNING 1").format(t)
        self._all = sql.SQL("SELECT key FROM {} WHERE collection = %s") \
            .format(t)
        self._tagged = sql.SQL("SELECT key FROM {} WHERE collection = %s "
                               "AND tags @> %s::text[]").format(t)
        self._schemaMade = False

    def startService(self):
        """
        Start the runner and make the table when missing; a server that is
        down now is only logged (the first call tries again).
        """
        Service.startService(self)
        start = getattr(self.runner, "start", None)
        if start is not None:
            start()
        return Deferred.fromCoroutine(self._startSchema())

    async def _startSchema(self):
        try:
            await self.ensureSchema()
        except BackendUnavailable as e:
            log.warn("{error}; the table is made at the first call",
                     error=str(e))

    def stopService(self):
        """
        Stop the runner; what it has in flight answers first.

        @return: what the runner's C{stop} returns (a Deferred, or
            L{None}).
        """
        Service.stopService(self)
        stop = getattr(self.runner, "stop", None)
        if stop is not None:
            return stop()

    async def ensureSchema(self):
        """
        Make the table and its index unless done already.
        """
        if self._schemaMade:
            return
        # a role without CREATE may use a table an administrator made
        [(present,)] = await self.runner.execute(
            "SELECT to_regclass(%s) IS NOT NULL",
            ('"{}"'.format(self.table.replace('"', '""')),))
        if present:
            self._schemaMade = True
            return
        for statement in schema(self.table):
            try:
                await self.runner.execute(statement, ())
            except BackendUnavailable:
                raise
            except Exception:
                # two nodes making it at once: one of them loses the race
                # on the catalog; the table is there after all
                await self.runner.execute(statement, ())
        self._schemaMade = True

    async def _run(self, statement, params):
        if not self._schemaMade:
            await self.ensureSchema()
        return await self.runner.execute(statement, params)

    def read(self, collection, key):
        checkName("collection", collection)
        checkName("key", key, collection)
        return Deferred.fromCoroutine(self._doRead(collection, key))

    async def _doRead(self, collection, key):
        rows = await self._run(self._read, (collection, key))
        if not rows:
            raise _notFound(collection, key)
        return bytes(rows[0][0])

    def write(self, collection, key, blob, tags=()):
        checkName("collection", collection)
        checkName("key", key, collection)
        tags = _checkTags(tags)
        return Deferred.fromCoroutine(self._doWrite(
            (collection, key, bytes(blob), tags)))

    async def _doWrite(self, params):
        await self._run(self._write, params)

    def remove(self, collection, key):
        checkName("collection", collection)
        checkName("key", key, collection)
        return Deferred.fromCoroutine(self._doRemove(collection, key))

    async def _doRemove(self, collection, key):
        rows = await self._run(self._remove, (collection, key))
        if not rows:
            raise _notFound(collection, key)

    def find(self, collection, tags):
        checkName("collection", collection)
        tags = list(dict.fromkeys(tags or ()))
        if any(not isinstance(t, str) or "\0" in t for t in tags):
            # no stored tag holds NUL (PostgreSQL text cannot)
            return Deferred.fromCoroutine(_nothing())
        if tags:
            query, params = self._tagged, (collection, tags)
        else:
            query, params = self._all, (collection,)
        return Deferred.fromCoroutine(self._doFind(query, params))

    async def _doFind(self, query, params):
        rows = await self._run(query, params)
        # code point order, as the other backends (not the server's
        # collation)
        return sorted(row[0] for row in rows)


async def _nothing():
    return []
