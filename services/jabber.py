# -*- test-case-name: tests.jabber.test_settings,tests.test_plugins -*-
"""
The C{jabber} service plugin: an XMPP client account, args C{{"jid":
"alice@example.org", "password": "...", "host": ..., "port": 5222, "tls":
"required", "ca": PATH, "buffer": 1000}} (see L{cocaine.jabber.settings}).
"""

from twisted.plugin import IPlugin
from zope.interface import implementer

from cocaine.interfaces import IServicePlugin


@implementer(IPlugin, IServicePlugin)
class _JabberPlugin:
    name = "jabber"

    def validate(self, path, args, config):
        from cocaine.config import ConfigError
        from cocaine.jabber.settings import SettingsError, parse
        try:
            parse(args)
        except SettingsError as e:
            raise ConfigError("{}.{}".format(path, e.key) if e.key else path,
                              e.reason)

    def makeService(self, context, name, args):
        from cocaine.jabber.service import JabberService
        from cocaine.jabber.settings import parse
        return JabberService(context.reactor, name, parse(args))


jabber = _JabberPlugin()
