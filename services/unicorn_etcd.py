# -*- test-case-name: tests.unicorn.test_plugins -*-
"""
The C{etcd} unicorn backend plugin (C{unicorns.X.type}):

    {"type": "etcd", "args": {"endpoints": ["http://127.0.0.1:2379"],
                              "prefix": "", "lease-ttl": 10,
                              "timeout": 5}}

C{endpoints} are etcd client URLs (its v3 JSON gateway), tried in turn;
C{prefix} (C{""} or C{/...}) is put before every node's path; ephemeral
nodes and locks outlive a dead node by C{lease-ttl} seconds at most; a
call fails with C{connection_loss} after C{timeout} seconds.
"""

import json

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IUnicornPlugin

_KEYS = ("endpoints", "prefix", "lease-ttl", "timeout")


@implementer(IPlugin, IUnicornPlugin)
class _EtcdUnicornPlugin:
    name = "etcd"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError, checkKeys
        checkKeys(path, args, _KEYS)
        endpoints = args.get("endpoints", ["http://127.0.0.1:2379"])
        if not isinstance(endpoints, list) or not endpoints:
            raise ConfigError(path + ".endpoints", "must be a non-empty "
                              "array of URLs, got {}".format(
                                  json.dumps(endpoints)))
        for i, url in enumerate(endpoints):
            if not isinstance(url, str) or not url.startswith(
                    ("http://", "https://")):
                raise ConfigError("{}.endpoints[{}]".format(path, i),
                                  "must be an http:// or https:// URL, "
                                  "got {}".format(json.dumps(url)))
        prefix = args.get("prefix", "")
        if not isinstance(prefix, str) or (prefix and
                                           not prefix.startswith("/")):
            raise ConfigError(path + ".prefix", "must be \"\" or start "
                              "with /, got {}".format(json.dumps(prefix)))
        for key, low, high in (("lease-ttl", 1, 3600), ("timeout", 0.1, 600)):
            value = args.get(key, low)
            if type(value) not in (int, float) or not low <= value <= high:
                raise ConfigError("{}.{}".format(path, key), "must be a "
                                  "number of seconds from {} to {}, got {}"
                                  .format(low, high, json.dumps(value)))
        if type(args.get("lease-ttl", 1)) is not int:
            raise ConfigError(path + ".lease-ttl", "must be whole seconds, "
                              "got {}".format(json.dumps(args["lease-ttl"])))

    def makeBackend(self, context, name, args):
        from cocaine.unicorn.etcd import EtcdUnicorn
        return EtcdUnicorn(
            context.reactor, args.get("endpoints", ["http://127.0.0.1:2379"]),
            prefix=args.get("prefix", ""),
            leaseTTL=args.get("lease-ttl", 10),
            timeout=args.get("timeout", 5.0))


etcdUnicorn = _EtcdUnicornPlugin()
