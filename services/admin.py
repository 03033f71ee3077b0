# -*- test-case-name: tests.admin,tests.test_plugins -*-
"""
The C{admin} service plugin: the operator's web dashboard on
C{network.bind}. Args: C{{"port": 10081}} (0: any free port; not
10080, which browsers refuse), C{"hosts": [NAME, ...]} (names the
C{Host} header may give besides the bind address), C{"metrics-public":
true} (C{/metrics} without a token when auth is on). It reads the node
service when there is one.
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin


@implementer(IPlugin, IServicePlugin)
class _AdminPlugin:
    name = "admin"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError, describe
        unknown = sorted(set(args) - {"port", "hosts", "metrics-public"})
        if unknown:
            raise ConfigError("{}.{}".format(path, unknown[0]),
                              "unknown key (allowed: port, hosts, "
                              "metrics-public)")
        hosts = args.get("hosts", [])
        if not isinstance(hosts, list) or not all(
                isinstance(h, str) and h for h in hosts):
            raise ConfigError(path + ".hosts", "must be a list of host "
                              "names, got {}".format(describe(hosts)))
        public = args.get("metrics-public", False)
        if type(public) is not bool:
            raise ConfigError(path + ".metrics-public",
                              "must be true or false, got {}".format(
                                  describe(public)))
        port = args.get("port", 0)
        if type(port) is not int or not 0 <= port <= 65535:
            raise ConfigError(path + ".port",
                              "must be a TCP port (0-65535, 0: any free), "
                              "got {}".format(describe(port)))

    def makeService(self, context, name, args):
        from cocaine.admin.service import DEFAULT_PORT, AdminService
        return AdminService(context, port=args.get("port", DEFAULT_PORT),
                            hosts=args.get("hosts", ()),
                            metricsPublic=args.get("metrics-public", False))


admin = _AdminPlugin()
