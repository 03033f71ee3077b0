"""
Tests for L{cocaine.protocol.unicorn}: 0.12's ids, names and graphs.
"""

from twisted.trial.unittest import SynchronousTestCase

from cocaine.protocol.unicorn import UNICORN, UNICORN_VERSION

_PRIMITIVE = {0: ["value", {}], 1: ["error", {}]}
_STREAMING = {0: ["write", None], 1: ["error", {}], 2: ["close", {}]}
_FINAL = {0: ["close", {}]}


class ProtocolTests(SynchronousTestCase):

    def test_graph(self):
        """
        The graph is cocaine-plugins v0.12's: nine methods in its order,
        each dispatching to C{close}; watches and lock stream.
        """
        self.assertEqual(UNICORN_VERSION, 1)
        self.assertEqual(UNICORN.graph(), {
            0: ["subscribe", _FINAL, _STREAMING],
            1: ["children_subscribe", _FINAL, _STREAMING],
            2: ["put", _FINAL, _PRIMITIVE],
            3: ["get", _FINAL, _PRIMITIVE],
            4: ["create", _FINAL, _PRIMITIVE],
            5: ["del", _FINAL, _PRIMITIVE],
            6: ["remove", _FINAL, _PRIMITIVE],
            7: ["increment", _FINAL, _PRIMITIVE],
            8: ["lock", _FINAL, _STREAMING],
        })

    def test_delIsRemove(self):
        """
        C{del} and its alias C{remove} reach the same handler.
        """
        self.assertEqual(UNICORN[5].method, "remove")
        self.assertEqual(UNICORN[6].method, "remove")
