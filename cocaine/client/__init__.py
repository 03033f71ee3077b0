# -*- test-case-name: tests.client.test_service -*-
"""
The client SDK: L{Locator} and L{Service} (Twisted-native, in
L{cocaine.client.service}) and a blocking facade for scripts
(L{cocaine.client.blocking}).
"""

from cocaine.client.service import DEFAULT_LOCATOR, Locator, Service
from cocaine.rpc.client import Channel, ChannelClosed
from cocaine.rpc.tls import ClientTLS

__all__ = ["Locator", "Service", "Channel", "ChannelClosed", "ClientTLS",
           "DEFAULT_LOCATOR"]
