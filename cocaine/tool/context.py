# -*- test-case-name: tests.tool -*-
"""
What every command of C{cocaine-tool} receives: a L{ToolContext} with the
node's address, the blocking clients of its services and the output.

Commands print through L{ToolContext.emit}: with C{--json} the value as
JSON (one document, or one line per item for streams), otherwise the rich
renderable they pass (a table, a tree), or the value itself.
"""

import json
import os
import sys

from rich.console import Console
from rich.text import Text

from cocaine.errors import CallTimeout, KeyNotFound


class ToolError(Exception):
    """
    A failure the tool found itself (bad input file, a name not in
    storage): printed as one line C{cocaine-tool: <what>: <message>}.

    @ivar what: what failed; L{None} for the command being run.
    """

    def __init__(self, message, what=None):
        Exception.__init__(self, message)
        self.message = message
        self.what = what


def plain(value):
    """
    A decoded value with every C{bytes} turned into text (UTF-8, undecodable
    bytes replaced), map keys included, and tuples into lists: what can be
    shown or dumped as JSON.
    """
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {_key(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _key(key):
    if isinstance(key, bytes):
        return key.decode("utf-8", "replace")
    if key is None or isinstance(key, (str, int, float)):
        return key
    return str(key)


def dumps(value, line=False):
    """
    JSON text of C{value} (made L{plain} first): indented, or on one line.
    """
    return json.dumps(plain(value), ensure_ascii=False,
                      indent=None if line else 2, default=str,
                      separators=(",", ":") if line else None)


def text(value):
    """
    A table cell for C{value}: never parsed as rich markup; L{None} is
    shown as C{-}.
    """
    if value is None:
        return Text("-")
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    elif isinstance(value, float):
        value = str(round(value, 2))
    elif not isinstance(value, str):
        value = str(value) if not isinstance(value, (dict, list)) else dumps(
            value, line=True)
    return Text(value)


def unreachableReason(error):
    """
    Why a node did not answer, in a few words: C{connection refused},
    C{no answer within 5s}, or the error's message without the client's
    C{cannot connect to locator at ...:} prefix.
    """
    from twisted.internet.defer import TimeoutError as DeferredTimeout
    if isinstance(error, DeferredTimeout):
        waited = error.args[0] if error.args else None
        if isinstance(waited, (int, float)):
            return "no answer within {:g}s".format(waited)
        return "no answer"
    message = " ".join(str(error).split())
    if isinstance(error, CallTimeout):
        return message
    lowered = message.lower()
    if "refused" in lowered:
        return "connection refused"
    if "timed out" in lowered or "timeout" in lowered:
        return "connection timed out"
    prefix = "cannot connect to locator at "
    if message.startswith(prefix) and ": " in message[len(prefix):]:
        message = message[len(prefix):].split(": ", 1)[1]
    return message.rstrip(".") or type(error).__name__


#: The width of tables when standard output is not a terminal (and
#: C{COLUMNS} does not say): wide enough that nothing is cut.
PIPE_WIDTH = 200


def _console():
    """
    A console on standard output; not cut at 80 columns when piped.
    """
    console = Console(file=sys.stdout)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console.width = PIPE_WIDTH
    return console


class ToolContext:
    """
    @ivar host: the locator's host.
    @ivar port: the locator's port.
    @ivar timeout: seconds to wait for each answer; 0 waits forever.
    @ivar json: print JSON instead of tables.
    @ivar console: a C{rich} console on standard output.
    @ivar command: the subcommand being run (C{"app start"}), for errors.
    @ivar token: the credentials sent with every call, or L{None}.
    @ivar tls: a L{cocaine.rpc.tls.ClientTLS} for a node with TLS, or
        L{None} (plain TCP).
    """

    def __init__(self, host="127.0.0.1", port=10053, timeout=10.0,
                 json=False, console=None, command=None, token=None,
                 tls=None):
        self.host = host
        self.tls = tls
        self.token = token
        self.port = port
        self.timeout = timeout
        self.json = json
        self.console = console if console is not None else _console()
        self.command = command
        self._services = {}

    @property
    def address(self):
        """
        C{HOST:PORT} of the locator.
        """
        return "{}:{}".format(self.host, self.port)

    @property
    def callTimeout(self):
        """
        The per-call timeout for the client: L{None} for no timeout.
        """
        return self.timeout or None

    def longTimeout(self, atLeast=60.0):
        """
        A timeout for calls that may legitimately take long (stopping an
        app drains its requests first): at least C{atLeast}, unless there
        is no timeout at all.
        """
        if not self.timeout:
            return None
        return max(self.timeout, atLeast)

    def service(self, name):
        """
        The blocking client of service C{name}, one per name.

        @rtype: L{cocaine.client.blocking.BlockingService}
        """
        service = self._services.get(name)
        if service is None:
            from cocaine.client.blocking import connect
            service = self._services[name] = connect(
                name, self.host, self.port, self.callTimeout,
                token=self.token, tls=self.tls or False)
        return service

    def close(self, timeout=None):
        """
        Close the clients this context opened, each within C{timeout}
        seconds; one whose node does not let go in time (it went away) is
        left to the interpreter's exit.
        """
        from twisted.internet.defer import TimeoutError as DeferredTimeout
        services, self._services = list(self._services.values()), {}
        for service in services:
            try:
                service.close(timeout=timeout)
            except DeferredTimeout:
                continue

    @property
    def storage(self):
        """
        The blocking client of the node's storage.
        """
        return self.service("storage")

    @property
    def node(self):
        """
        The blocking client of the node service.
        """
        return self.service("node")

    @property
    def locator(self):
        """
        The blocking client of the node's locator.
        """
        return self.service("locator")

    # -- storage helpers -----------------------------------------------------

    def readValue(self, collection, key, what=None):
        """
        Read and unpack a msgpack value of the apps layout (PROTOCOL.md
        section 7).

        @param what: how to name a missing key (C{"app"}); L{None} lets the
            storage's own error through.
        @raise ToolError: the key is missing and C{what} was given.
        """
        from cocaine.protocol.framing import unpackValue
        try:
            raw = self.storage.read(collection, key)
        except KeyNotFound:
            if what is None:
                raise
            raise ToolError("no {} {!r} in storage ({}/{})".format(
                what, key, collection, key))
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            return unpackValue(raw)
        except Exception as e:
            raise ToolError("{}/{} is not a msgpack value ({})".format(
                collection, key, type(e).__name__))

    def writeValue(self, collection, key, value, tags, timeout=None):
        """
        Pack C{value} with msgpack and write it with C{tags}.

        @param timeout: seconds for this write instead of C{--timeout}.
        """
        from cocaine.protocol.framing import packValue
        self.storage.write(collection, key, packValue(value), list(tags),
                           timeout=timeout)

    def find(self, collection, tags):
        """
        The keys of C{collection} carrying every tag, sorted.
        """
        return sorted(self.storage.find(collection, list(tags)))

    # -- output --------------------------------------------------------------

    def emit(self, value, table=None, line=False):
        """
        Print a command's result.

        @param value: what C{--json} prints (bytes become text).
        @param table: the rich renderable printed otherwise; without one,
            text is printed as it is and anything else as indented JSON.
        @param line: with C{--json}, print one compact line (one item of a
            stream) rather than one indented document.
        """
        if self.json:
            stream = self.console.file
            stream.write(dumps(value, line=line) + "\n")
            stream.flush()
        elif table is not None:
            self.console.print(table)
        elif value is None:
            return
        elif isinstance(value, (str, bytes)):
            self.console.print(plain(value), markup=False, highlight=False,
                               soft_wrap=True)
        else:
            self.console.print(dumps(value), markup=False, highlight=False,
                               soft_wrap=True)

    def say(self, message):
        """
        A line for people (not printed with C{--json}).
        """
        if not self.json:
            self.console.print(message, markup=False, highlight=False,
                               soft_wrap=True)

    def warn(self, message):
        """
        One warning line on standard error, JSON or not.
        """
        sys.stderr.write("cocaine-tool: warning: {}\n".format(message))
        sys.stderr.flush()
