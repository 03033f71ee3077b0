# -*- test-case-name: tests.mesh.test_sockend -*-
"""
The sockend's command line: C{python -m cocaine.mesh.sockend --help}
(L{cocaine.mesh.sockend} runs L{main}).

It installs Twisted's asyncio reactor, starts a
L{cocaine.mesh.sockend.Sockend} with the flags' settings, prints one JSON
line when it listens and one whenever what a namespace exposes changes,
and logs to standard error.
"""

import argparse
import json
import sys

from twisted.internet import defer

from cocaine.mesh.browsers import installReactor
from cocaine.mesh.discovery import (
    addDiscoveryArguments, discoveryOptionsFrom)
from cocaine.mesh.requester import DEFAULT_TIMEOUT

__all__ = ["parseArguments", "main"]


def parseArguments(argv):
    """
    @return: the parsed command line (an L{argparse.Namespace}).
    """
    parser = argparse.ArgumentParser(
        prog="python -m cocaine.mesh.sockend",
        description="Expose the mesh's Responders and Publishers to "
        "browsers over socket.io.")
    parser.add_argument(
        "--host", default="127.0.0.1",
        help="HTTP interface (default 127.0.0.1: this host only)")
    parser.add_argument("--port", type=int, default=5555,
                        help="HTTP port (default 5555)")
    parser.add_argument(
        "--namespace", action="append", default=None, dest="namespaces",
        metavar="NAMESPACE",
        help="expose only this cote namespace ('' for the default one); "
        "repeat for more (default: every namespace)")
    parser.add_argument("--name", default="sockend")
    parser.add_argument("--key", default=None)
    parser.add_argument("--environment", default=None)
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT,
        help="seconds a browser's request may wait (default {:g})".format(
            DEFAULT_TIMEOUT))
    parser.add_argument(
        "--rooms", action="store_true",
        help="let browsers join and leave rooms with the events "
        "join/leave")
    parser.add_argument(
        "--static", default=None, metavar="DIR",
        help="serve this directory at / (index.html for /)")
    parser.add_argument(
        "--client-script", default=None, metavar="FILE",
        dest="clientScript",
        help="serve this socket.io client at /socket.io/socket.io.js")
    parser.add_argument(
        "--cors-origin", action="append", default=None, dest="corsOrigins",
        metavar="ORIGIN",
        help="allow pages of this origin to connect; repeat for more "
        "(default: same origin only)")
    addDiscoveryArguments(parser, "--discovery-port")
    return parser.parse_args(argv)


def main(argv=None, out=None):
    """
    The command line: C{python -m cocaine.mesh.sockend --help}. Prints one
    JSON line when listening (C{{"event": "listening", "host", "port"}})
    and one whenever what a namespace exposes changes (C{{"event":
    "exposed", "namespace", "requests", "broadcasts"}}); logs go to
    standard error. Runs until interrupted.
    """
    args = parseArguments(sys.argv[1:] if argv is None else argv)
    out = out or sys.stdout
    installReactor()
    from twisted.internet import task
    from twisted.logger import (
        FilteringLogObserver,
        LogLevel,
        LogLevelFilterPredicate,
        globalLogBeginner,
        textFileLogObserver,
    )

    from cocaine.mesh.sockend import Sockend

    # our own messages at info, the reactor's chatter only from warn
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.warn)
    predicate.setLogLevelForNamespace("cocaine.mesh.sockend", LogLevel.info)
    globalLogBeginner.beginLoggingTo([FilteringLogObserver(
        textFileLogObserver(sys.stderr),
        [predicate])], redirectStandardIO=False)
    try:
        options = discoveryOptionsFrom(args)
    except ValueError as e:
        sys.exit("{}: {}".format("cocaine.mesh.sockend", e))

    def write(**obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    async def run(reactor):
        sockend = Sockend(
            args.name, key=args.key, environment=args.environment,
            namespaces=args.namespaces, host=args.host, port=args.port,
            timeout=args.timeout, rooms=args.rooms, static=args.static,
            clientScript=args.clientScript, corsOrigins=args.corsOrigins,
            discovery=options, reactor=reactor)
        sockend.observe(lambda namespace, requests, broadcasts: write(
            event="exposed", namespace=namespace, requests=requests,
            broadcasts=broadcasts))
        sockend.startService()
        reactor.addSystemEventTrigger("before", "shutdown",
                                      sockend.stopService)
        await sockend.socketServer.ready
        write(event="listening", host=args.host, port=sockend.port)
        await defer.Deferred()

    task.react(lambda reactor: defer.Deferred.fromCoroutine(run(reactor)))


if __name__ == "__main__":
    main()
