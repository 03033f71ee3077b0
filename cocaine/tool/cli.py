# -*- test-case-name: tests.tool -*-
"""
C{cocaine-tool}: the operator's command line.

    cocaine-tool [--host H] [--port P] [--timeout S] [--json]
                 [--config PATH] COMMAND ...

Every command speaks only the native protocol through the client SDK
(L{cocaine.client.blocking}), so it works against any node. Defaults for
C{--host}, C{--port}, C{--timeout}, C{--token} and C{--tls-ca},
C{--tls-cert}, C{--tls-key} come from C{~/.cocaine/tools.yml} (YAML:
C{host}, C{port}, C{timeout}, C{token}, C{tls-ca}, C{tls-cert},
C{tls-key}; the token also from C{COCAINE_TOKEN} and the TLS files from
C{COCAINE_TLS_CA} and friends, which the file does not override),
like the original Cocaine tools; the
global options may also follow the command (C{cocaine-tool app list --json}).

Commands come from the modules of L{COMMAND_MODULES}: each has
C{register(subparsers)}, which adds its parsers and sets C{func} (called as
C{func(ctx, args)} with a L{ToolContext}, returning the exit status or
L{None} for 0) with C{set_defaults}.

Errors end the tool with one line on standard error and status 1:
C{cocaine-tool: <what failed>: <message>}, or
C{cocaine-tool: no node at HOST:PORT (connection refused)}. Bad arguments
are usage errors (status 2), and so is a config file that cannot be used.
"""

import argparse
import importlib
import os
import sys

from twisted.internet.defer import TimeoutError as DeferredTimeout

from cocaine.errors import (
    PERMISSION_DENIED, UNAUTHORIZED, CocaineError, NotConnected,
    SecurityError)
from cocaine.tool.context import ToolContext, ToolError

PROG = "cocaine-tool"

#: The modules that register commands, in the order of the help text.
#: A module that does not exist (yet) is skipped.
COMMAND_MODULES = [
    "cocaine.tool.locator",
    "cocaine.tool.call",
    "cocaine.tool.apps",
    "cocaine.tool.info",
    "cocaine.tool.profiles",
    "cocaine.tool.runlists",
    "cocaine.tool.groups",
    "cocaine.tool.crashlogs",
    "cocaine.tool.keys",
    "cocaine.tool.top",
    "cocaine.tool.tokens",
    "cocaine.tool.access",
]

#: Where the config file is looked for by default.
DEFAULT_CONFIG = os.path.join("~", ".cocaine", "tools.yml")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 10053
DEFAULT_TIMEOUT = 10.0

#: What a refused call's code means, for its one line.
_REFUSALS = {
    UNAUTHORIZED: "unauthorized: no token, or one that is expired, forged "
    "or not signed by this node; see --token",
    PERMISSION_DENIED: "permission denied: the token's uid/cids are not "
    "allowed this",
}

#: Status of a usage error (argparse's).
EXIT_USAGE = 2


def _port(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "must be a port number 0-65535, got {!r}".format(text))
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(
            "must be a port number 0-65535, got {!r}".format(text))
    return value


def _seconds(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "must be a number of seconds, got {!r}".format(text))
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(
            "must be a number of seconds >= 0, got {!r}".format(text))
    return value


def _addGlobalOptions(parser, suppress):
    """
    The options every command takes. On subcommand parsers their defaults
    are suppressed, so a value given before the command is kept.
    """
    def default(value):
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("connection and output")
    group.add_argument(
        "--host", default=default(None),
        help="the node's locator host (default: from the config file, "
        "else {})".format(DEFAULT_HOST))
    group.add_argument(
        "--port", type=_port, default=default(None),
        help="the node's locator port (default: from the config file, "
        "else {})".format(DEFAULT_PORT))
    group.add_argument(
        "--timeout", type=_seconds, default=default(None), metavar="SECONDS",
        help="seconds to wait for each answer; 0 waits forever (default: "
        "from the config file, else {:g})".format(DEFAULT_TIMEOUT))
    group.add_argument(
        "--token", default=default(None), metavar="TOKEN",
        help="credentials sent with every call: a token from 'token "
        "issue', or uids for a promiscuous node (default: $COCAINE_TOKEN, "
        "else token in the config file)")
    group.add_argument(
        "--tls-ca", default=default(None), metavar="PATH",
        help="speak TLS to a node with network.tls, verifying its "
        "certificate against the CA certificates in PATH (default: "
        "$COCAINE_TLS_CA, else tls-ca in the config file)")
    group.add_argument(
        "--tls-cert", default=default(None), metavar="PATH",
        help="client certificate (PEM) for a node that requires one "
        "(default: $COCAINE_TLS_CERT, else tls-cert in the config file)")
    group.add_argument(
        "--tls-key", default=default(None), metavar="PATH",
        help="the client certificate's private key (default: "
        "$COCAINE_TLS_KEY, else tls-key in the config file, else in the "
        "certificate file)")
    group.add_argument(
        "--json", action="store_true", default=default(False),
        help="print JSON for machines instead of tables")
    group.add_argument(
        "--config", default=default(None), metavar="PATH",
        help="YAML file with host, port and timeout (default: {})".format(
            DEFAULT_CONFIG))


class _CommandParser(argparse.ArgumentParser):
    """
    The parser of a subcommand: takes the global options too, and records
    its command path (C{"app start"}) for error messages.
    """

    def __init__(self, *args, **kwargs):
        argparse.ArgumentParser.__init__(self, *args, **kwargs)
        _addGlobalOptions(self, suppress=True)
        words = (self.prog or "").split()
        if words and words[0] == PROG:
            words = words[1:]
        self.set_defaults(_command=" ".join(words))


def buildParser():
    """
    The argument parser with every command of L{COMMAND_MODULES}.
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Deploy, run and inspect apps on a Cocaine node over the "
        "native protocol.",
        epilog="Every command takes --json. Exit status: 0 done, 1 failed "
        "(one line on standard error), 2 bad arguments or config file.")
    _addGlobalOptions(parser, suppress=False)
    subparsers = parser.add_subparsers(
        title="commands", dest="_top", metavar="COMMAND",
        parser_class=_CommandParser)
    for name in COMMAND_MODULES:
        module = _loadModule(name)
        if module is not None:
            module.register(subparsers)
    return parser


def _loadModule(name):
    """
    Import a command module; L{None} when it does not exist. A module that
    exists but fails to import is reported on standard error and skipped,
    so one broken command does not take the others down.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name == name:
            return None
        _warnBroken(name, e)
    except Exception as e:
        _warnBroken(name, e)
    return None


def _warnBroken(name, error):
    sys.stderr.write("{}: warning: commands of {} not loaded: {}: {}\n".format(
        PROG, name, type(error).__name__, error))


class ConfigError(Exception):
    """
    The config file cannot be used.
    """


def loadConfig(path, explicit=False):
    """
    Read the tool's config file.

    @param explicit: the path was given with C{--config}; a missing file
        is then an error too.
    @return: a dict with some of C{host}, C{port}, C{timeout}, C{token}.
    @raise ConfigError: the file is unreadable, not YAML, not a map or has
        a value of the wrong type; the message says which.
    """
    shown = path
    path = os.path.expanduser(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        if explicit:
            raise ConfigError("config {}: no such file".format(shown))
        return {}
    except OSError as e:
        raise ConfigError("config {}: {}".format(shown, e.strerror or e))
    import yaml
    try:
        value = yaml.safe_load(data)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = " (line {})".format(mark.line + 1) if mark else ""
        raise ConfigError("config {}: not valid YAML{}: {}".format(
            shown, where, getattr(e, "problem", None) or e))
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError("config {}: must be a map of host, port and "
                          "timeout".format(shown))
    config = {}
    if value.get("host") is not None:
        if not isinstance(value["host"], str) or not value["host"]:
            raise ConfigError("config {}: host: must be a host name or "
                              "address".format(shown))
        config["host"] = value["host"]
    if value.get("port") is not None:
        port = value["port"]
        if isinstance(port, bool) or not isinstance(port, int) or not (
                0 <= port <= 65535):
            raise ConfigError("config {}: port: must be a port number "
                              "0-65535, got {!r}".format(shown, port))
        config["port"] = port
    if value.get("timeout") is not None:
        timeout = value["timeout"]
        if isinstance(timeout, bool) or not isinstance(
                timeout, (int, float)) or timeout < 0:
            raise ConfigError("config {}: timeout: must be a number of "
                              "seconds >= 0, got {!r}".format(shown, timeout))
        config["timeout"] = float(timeout)
    if value.get("token") is not None:
        if not isinstance(value["token"], (str, int)) or isinstance(
                value["token"], bool) or value["token"] == "":
            raise ConfigError("config {}: token: must be a token string"
                              .format(shown))
        config["token"] = str(value["token"])
    for key in _TLS_KEYS:
        if value.get(key) is not None:
            if not isinstance(value[key], str) or not value[key]:
                raise ConfigError("config {}: {}: must be a file path"
                                  .format(shown, key))
            config[key] = value[key]
    return config


#: The config file's TLS keys (and C{--tls-*} options, C{COCAINE_TLS_*}).
_TLS_KEYS = ("tls-ca", "tls-cert", "tls-key")


def _clientTLS(args, config, environ=None):
    """
    The L{ClientTLS} the options, the environment and the config file ask
    for (in that order, per setting), or L{None} for plain TCP.

    @raise ConfigError: a file cannot be read.
    """
    from cocaine.rpc.tls import ClientTLS
    environ = os.environ if environ is None else environ
    paths = []
    for key in _TLS_KEYS:
        paths.append(getattr(args, key.replace("-", "_"), None)
                     or environ.get("COCAINE_" + key.upper().replace(
                         "-", "_")) or config.get(key))
    if not any(paths):
        return None
    try:
        return ClientTLS(*paths,
                         serverName=environ.get("COCAINE_TLS_SERVER_NAME"))
    except (OSError, ValueError) as e:
        raise ConfigError("TLS: {}".format(
            getattr(e, "strerror", None) and "{}: {}".format(
                e.filename, e.strerror) or e))


def _oneLine(text):
    return " ".join(str(text).split())


def _fail(message):
    sys.stderr.write("{}: {}\n".format(PROG, _oneLine(message)))
    sys.stderr.flush()
    return 1


def _what(ctx, args, what=None):
    if what:
        return what
    words = [ctx.command or "command"]
    name = getattr(args, "name", None)
    if isinstance(name, str) and name:
        words.append(name)
    return " ".join(words)


def _noNode(ctx, error):
    """
    The reason in a L{NotConnected} when it is the locator itself that
    could not be reached, else L{None}.
    """
    message = error.message or ""
    prefix = "cannot connect to locator at "
    if not message.startswith(prefix):
        return None
    lowered = message.lower()
    if "refused" in lowered:
        return "connection refused"
    if "timeout" in lowered or "timed out" in lowered:
        return "connection timed out"
    rest = message[len(prefix):]
    reason = rest.split(": ", 1)[1] if ": " in rest else rest
    return reason.rstrip(".") or "cannot connect"


def main(argv=None):
    """
    Run the tool.

    @param argv: the arguments (without the program name); by default
        C{sys.argv[1:]}.
    @return: the exit status.
    """
    parser = buildParser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    func = getattr(args, "func", None)
    if func is None:
        # "cocaine-tool" or "cocaine-tool app": show what there is.
        command = getattr(args, "_command", "")
        target = parser
        if command:
            target = _subparser(parser, command.split()) or parser
        target.print_usage(sys.stderr)
        sys.stderr.write("{}: error: a command is required\n".format(
            target.prog))
        return EXIT_USAGE
    try:
        config = loadConfig(args.config or DEFAULT_CONFIG,
                            explicit=args.config is not None)
        tls = _clientTLS(args, config)
    except ConfigError as e:
        _fail(e)
        return EXIT_USAGE
    ctx = ToolContext(
        host=args.host or config.get("host", DEFAULT_HOST),
        port=args.port if args.port is not None else config.get(
            "port", DEFAULT_PORT),
        timeout=args.timeout if args.timeout is not None else config.get(
            "timeout", DEFAULT_TIMEOUT),
        json=args.json, command=getattr(args, "_command", None),
        token=args.token or os.environ.get("COCAINE_TOKEN") or config.get(
            "token"), tls=tls)
    try:
        status = func(ctx, args)
    except ToolError as e:
        return _fail("{}: {}".format(_what(ctx, args, e.what), e.message))
    except NotConnected as e:
        reason = _noNode(ctx, e)
        if reason is not None:
            return _fail("no node at {} ({})".format(ctx.address, reason))
        hint = ""
        if ctx.tls is None and "before the reply" in str(e):
            hint = " (if the node uses TLS: --tls-ca PATH)"
        return _fail("{}: {}{}".format(_what(ctx, args), e, hint))
    except SecurityError as e:
        return _fail("{}: refused: {} ({})".format(
            _what(ctx, args), e, _REFUSALS.get(e.code, "security error")))
    except CocaineError as e:
        return _fail("{}: {}".format(_what(ctx, args), e))
    except ConnectionRefusedError:
        return _fail("no node at {} (connection refused)".format(
            ctx.address))
    except DeferredTimeout:
        return _fail("{}: no answer within {:g}s".format(
            _what(ctx, args), ctx.timeout))
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return 130
    except OSError as e:
        if isinstance(e, BrokenPipeError):
            return _brokenPipe()
        return _fail("{}: {}".format(_what(ctx, args), e.strerror or e))
    except Exception as e:
        if os.environ.get("COCAINE_TOOL_DEBUG"):
            raise
        return _fail("{}: unexpected error: {}: {} (COCAINE_TOOL_DEBUG=1 "
                     "shows the traceback)".format(
                         _what(ctx, args), type(e).__name__, e))
    return 0 if status is None else int(status)


def _brokenPipe():
    # stdout went away (| head): nothing more to say, and nothing left to
    # flush at exit.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 1


def _subparser(parser, words):
    for word in words:
        found = None
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                found = action.choices.get(word)
        if found is None:
            return None
        parser = found
    return parser


if __name__ == "__main__":
    sys.exit(main())
