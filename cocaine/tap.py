# -*- test-case-name: tests.test_tap -*-
"""
C{twistd cocaine} and C{twist cocaine}: options and the service tree.

This is the only module that touches the global reactor. It parses and
checks the configuration and builds the tree; nothing listens until twistd
starts the application. A configuration that cannot be used prints one line
and ends the process with status 2 before anything binds.
"""

import sys

from twisted.python import usage


class Options(usage.Options):
    synopsis = "[-c FILE]"
    longdesc = ("Run a Cocaine node: the locator on port 10053 and the "
                "configured services. Without --config the embedded "
                "defaults are used (see docs/configuration.md).")
    optParameters = [
        ["config", "c", None,
         "The JSON configuration file (default: the embedded defaults)."],
    ]

    def postOptions(self):
        """
        Install the node's reactor unless one is installed already: twist
        installs its default as soon as the options are read, before
        L{makeService} (where twistd's node gets ours) runs.
        """
        from cocaine.reactor import installDefault
        installDefault()


def makeService(options):
    """
    Build the node from C{options["config"]} or the embedded defaults.
    """
    from cocaine.config import DEFAULTS, ConfigError, load, parse
    from cocaine.reactor import installDefault, logReactor
    from cocaine.runtime import buildRuntime
    # ours unless twistd or twist was given --reactor (cocaine.reactor)
    reactor = installDefault()
    logReactor(reactor)

    try:
        path = options["config"]
        config = load(path) if path else parse(DEFAULTS)
        root = buildRuntime(reactor, config)
    except ConfigError as e:
        sys.stderr.write("cocaine: config error: {}\n".format(e))
        sys.stderr.flush()
        raise SystemExit(2)
    # the daemon: start-up's objects leave the garbage collector's way
    root.settleHeap = True
    return root
