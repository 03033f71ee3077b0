"""
Tests for the client side of authentication: L{cocaine.rpc.client} sends
the C{authorization} header with every call's first message, and
L{cocaine.client.service} picks the credentials.
"""

import io

import msgpack
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from cocaine.client.service import (
    Locator, Service, authorizationHeader, defaultToken)
from cocaine.protocol.headers import HeaderTable
from cocaine.protocol.services import APP, STORAGE
from cocaine.rpc.client import ClientProtocol
from cocaine.worker.worker import appAuthorization


def sent(transport):
    return list(msgpack.Unpacker(io.BytesIO(transport.value()), raw=False))


class HeaderTests(SynchronousTestCase):

    def connect(self, authorization=None):
        protocol = ClientProtocol("storage", STORAGE,
                                  authorization=authorization)
        transport = StringTransport()
        protocol.makeConnection(transport)
        return protocol, transport

    def test_everyOpeningMessage(self):
        """
        Primitive calls and streams carry the header, which the server's
        table decodes to C{authorization}.
        """
        protocol, transport = self.connect(b"token abc.def")
        protocol.call(STORAGE.idOf("read"), ["c", "k"])
        protocol.call(STORAGE.idOf("read"), ["c", "k2"])
        messages = sent(transport)
        self.assertEqual(len(messages), 2)
        table = HeaderTable()
        for message in messages:
            self.assertEqual(table.decode(message[3]),
                             [(b"authorization", b"token abc.def")])
        app = ClientProtocol("echo", APP, authorization=b"5")
        transport = StringTransport()
        app.makeConnection(transport)
        channel = app.open(APP.idOf("enqueue"), ["ping"],
                           headers=[("trace_id", b"\0" * 8)])
        channel.write(b"x")
        first, chunk = sent(transport)
        self.assertEqual(HeaderTable().decode(first[3]), [
            (b"trace_id", b"\0" * 8), (b"authorization", b"5")])
        # later chunks on the channel do not repeat it
        self.assertEqual(len(chunk), 3)

    def test_noneWithoutCredentials(self):
        protocol, transport = self.connect()
        protocol.call(STORAGE.idOf("read"), ["c", "k"])
        [message] = sent(transport)
        self.assertEqual(len(message), 3)


class CredentialsTests(SynchronousTestCase):

    def test_authorizationHeader(self):
        self.assertEqual(authorizationHeader("abc.def"), b"token abc.def")
        self.assertEqual(authorizationHeader(" abc.def\n"), b"token abc.def")
        self.assertEqual(authorizationHeader("5,6"), b"5,6")
        self.assertEqual(authorizationHeader("TVM x.y"), b"TVM x.y")

    def test_defaultToken(self):
        self.assertIsNone(defaultToken({}))
        self.assertEqual(defaultToken({"COCAINE_TOKEN": "a.b"}), "a.b")
        app = {"COCAINE_APP_TOKEN_TYPE": "token",
               "COCAINE_APP_TOKEN_BODY": "x.y"}
        self.assertEqual(defaultToken(app), "token x.y")
        self.assertEqual(defaultToken(dict(app, COCAINE_TOKEN="a.b")),
                         "a.b")
        self.assertEqual(appAuthorization(app), "token x.y")
        self.assertIsNone(appAuthorization({}))

    def test_serviceTakesTheLocators(self):
        locator = Locator(object(), token="a.b")
        self.assertEqual(locator.authorization, b"token a.b")
        self.assertEqual(Service("s", locator).authorization, b"token a.b")
        self.assertEqual(Service("s", locator, token="7").authorization,
                         b"7")
        self.patch(__import__("os"), "environ", {})
        self.assertIsNone(Locator(object()).authorization)
