"""
Tests for L{cocaine.errors}: the exception hierarchy and its one mapping to
the wire (PROTOCOL.md section 4).
"""

import errno

from hypothesis import given, settings, strategies as st
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from cocaine import errors
from cocaine.errors import (
    CallTimeout, CocaineError, InvalidArgument, InvalidName, KeyNotFound,
    NotConnected, PermissionDenied, RevokedChannel, RoutingStorageError,
    ServiceNotAvailable, SlotNotFound, UncaughtError,
    fromWire, toWire)

#: The deterministic Hypothesis profile of this project.
DETERMINISTIC = settings(deadline=None, derandomize=True, database=None)

#: Every class L{fromWire} knows, with its wire pair.
KNOWN = [
    (InvalidArgument, (7, 2)),
    (SlotNotFound, (7, 5)),
    (RevokedChannel, (7, 4)),
    (NotConnected, (7, 3)),
    (UncaughtError, (7, 7)),
    (ServiceNotAvailable, (10, 1)),
    (RoutingStorageError, (10, 2)),
    (KeyNotFound, (1, errno.ENOENT)),
    (PermissionDenied, (1, errno.EACCES)),
    (InvalidName, (1, errno.EINVAL)),
    (CallTimeout, (1, errno.ETIMEDOUT)),
]


class _WithValue(Exception):
    """
    An ordinary exception that happens to have a C{value} attribute, like
    C{StopIteration}.
    """

    def __init__(self):
        Exception.__init__(self, "with value")
        self.value = 42


class CategoryTests(SynchronousTestCase):
    """
    The category and code numbers are the ones of PROTOCOL.md section 4.
    """

    def test_categories(self):
        """
        Categories are numbered as on the wire.
        """
        self.assertEqual(
            (errors.CATEGORY_SYSTEM, errors.CATEGORY_TRANSPORT,
             errors.CATEGORY_DISPATCH, errors.CATEGORY_SECURITY,
             errors.CATEGORY_LOCATOR, errors.CATEGORY_NODE,
             errors.CATEGORY_FRAMEWORK, errors.CATEGORY_USER),
            (0x01, 0x06, 0x07, 0x09, 0x0A, 0x51FF, 42, 43))

    def test_dispatchCodes(self):
        """
        Dispatch codes 1 to 7 are duplicate_slot to uncaught_error.
        """
        self.assertEqual(
            (errors.DUPLICATE_SLOT, errors.INVALID_ARGUMENT,
             errors.NOT_CONNECTED, errors.REVOKED_CHANNEL,
             errors.SLOT_NOT_FOUND, errors.UNBOUND_DISPATCH,
             errors.UNCAUGHT_ERROR),
            (1, 2, 3, 4, 5, 6, 7))

    def test_classPairs(self):
        """
        Each known class carries its wire pair.
        """
        for cls, pair in KNOWN:
            self.assertEqual((cls.category, cls.code), pair, cls)

    def test_keyNotFoundIsSystemENOENT(self):
        """
        A missing storage key is the std system category with ENOENT.
        """
        self.assertEqual((KeyNotFound.category, KeyNotFound.code),
                         (1, errno.ENOENT))

    def test_explicitPairOverridesInstanceOnly(self):
        """
        A category and code given to the constructor override the class's
        for that instance only.
        """
        error = CocaineError("x", category=43, code=9)
        self.assertEqual((error.category, error.code), (43, 9))
        self.assertEqual((CocaineError.category, CocaineError.code), (7, 7))

    def test_strIsMessage(self):
        """
        C{str} is the message, or the pair when there is none.
        """
        self.assertEqual(str(KeyNotFound("no key 'k'")), "no key 'k'")
        self.assertEqual(str(KeyNotFound()), "[1, {}]".format(errno.ENOENT))

    def test_repr(self):
        """
        The repr names the class, message, category and code.
        """
        self.assertEqual(repr(SlotNotFound("m")),
                         "SlotNotFound('m', category=7, code=5)")


class ToWireTests(SynchronousTestCase):
    """
    L{toWire} maps exceptions to C{[[category, code], message]}.
    """

    def test_cocaineError(self):
        """
        A L{CocaineError} keeps its pair and message.
        """
        self.assertEqual(toWire(KeyNotFound("no key 'k'")),
                         [[1, errno.ENOENT], "no key 'k'"])

    def test_failureOfCocaineError(self):
        """
        A Failure is unwrapped to its exception.
        """
        self.assertEqual(toWire(Failure(ServiceNotAvailable("gone"))),
                         [[10, 1], "gone"])

    def test_unknownException(self):
        """
        Anything else becomes an uncaught dispatch error naming only the
        exception type: neither its message nor a traceback leaves.
        """
        self.assertEqual(toWire(TypeError("secret /etc/passwd")),
                         [[7, 7], "uncaught error: TypeError"])

    def test_failureOfUnknownException(self):
        """
        A Failure with a traceback leaks nothing either.
        """
        try:
            1 / 0
        except ZeroDivisionError:
            failure = Failure()
        wire = toWire(failure)
        self.assertEqual(wire, [[7, 7], "uncaught error: ZeroDivisionError"])
        self.assertNotIn("Traceback", repr(wire))

    def test_exceptionWithValueAttribute(self):
        """
        An exception that has a C{value} attribute of its own is still named
        by its own type (it is not mistaken for a Failure).
        """
        self.assertEqual(toWire(_WithValue()),
                         [[7, 7], "uncaught error: _WithValue"])
        self.assertEqual(toWire(StopIteration(5)),
                         [[7, 7], "uncaught error: StopIteration"])


class FromWireTests(SynchronousTestCase):
    """
    L{fromWire} builds the most specific known exception.
    """

    def test_knownPairs(self):
        """
        Every registered pair comes back as its class.
        """
        for cls, (category, code) in KNOWN:
            error = fromWire([[category, code], "text"])
            self.assertIs(type(error), cls)
            self.assertEqual((error.category, error.code, error.message),
                             (category, code, "text"))

    def test_roundTrip(self):
        """
        C{fromWire(toWire(e))} has the class, pair and message of C{e}.
        """
        for cls, _ in KNOWN:
            back = fromWire(toWire(cls("message of " + cls.__name__)))
            self.assertIs(type(back), cls)
            self.assertEqual(back.message, "message of " + cls.__name__)

    def test_uncaughtRoundTrip(self):
        """
        An unknown exception comes back as L{UncaughtError}.
        """
        back = fromWire(toWire(ValueError("x")))
        self.assertIsInstance(back, UncaughtError)
        self.assertEqual(back.message, "uncaught error: ValueError")

    def test_bytesMessage(self):
        """
        A raw (bytes) message is decoded, invalid UTF-8 replaced.
        """
        self.assertEqual(fromWire([[1, 2], b"no key"]).message, "no key")
        self.assertEqual(fromWire([[1, 2], b"\xff"]).message, "\ufffd")

    def test_messageOptional(self):
        """
        The message may be omitted on input.
        """
        error = fromWire([[10, 1]])
        self.assertIsInstance(error, ServiceNotAvailable)
        self.assertEqual(error.message, "")

    def test_nonTextMessage(self):
        """
        A message that is not text is turned into text.
        """
        self.assertEqual(fromWire([[43, 1], 17]).message, "17")

    def test_unknownPair(self):
        """
        An unknown pair gives the base class with that pair.
        """
        error = fromWire([[43, 99], "app said no"])
        self.assertIs(type(error), CocaineError)
        self.assertEqual((error.category, error.code, error.message),
                         (43, 99, "app said no"))

    def test_malformed(self):
        """
        Arguments that are not C{[[category, code], ...]} become a
        L{InvalidArgument}, never an exception raised at the caller.
        """
        for args in ([], [7], [[7]], [[7, 2, 3]], [["x", 2]], [None],
                     None):
            self.assertIsInstance(fromWire(args), InvalidArgument, args)


class WirePropertyTests(SynchronousTestCase):
    """
    Properties of the mapping.
    """

    @DETERMINISTIC
    @given(category=st.integers(0, 2 ** 16), code=st.integers(0, 2 ** 31),
           message=st.text())
    def test_wireRoundTrip(self, category, code, message):
        """
        Any error message survives C{toWire(fromWire(args))} unchanged.
        """
        args = [[category, code], message]
        self.assertEqual(toWire(fromWire(args)), args)


class BackendUnavailableWireTests(SynchronousTestCase):

    def test_roundTrip(self):
        """
        A backend that is down reaches a client as L{BackendUnavailable}
        (system category, C{ECONNREFUSED}), not as a bare error.
        """
        from cocaine.errors import BackendUnavailable
        back = fromWire(toWire(BackendUnavailable("redis://h:1/0 down")))
        self.assertIs(type(back), BackendUnavailable)
        self.assertEqual((back.category, back.code, back.message),
                         (1, errno.ECONNREFUSED, "redis://h:1/0 down"))


class ChannelClosedTests(SynchronousTestCase):
    """
    L{errors.ChannelClosed} is the one "nothing more to read" of both
    client SDKs.
    """

    def test_bothSDKsRaiseIt(self):
        """
        Every name the SDKs export it under is the class of
        L{cocaine.errors}, so one C{except} catches either SDK's.
        """
        from cocaine import client, worker
        from cocaine.client import blocking
        from cocaine.rpc import client as rpcClient, receivers
        from cocaine.worker import channel, service
        for module in (client, blocking, rpcClient, receivers, worker,
                       service, channel):
            self.assertIs(module.ChannelClosed, errors.ChannelClosed,
                          module.__name__)

    def test_local(self):
        """
        It is not a wire error: sent, it is an uncaught one, as before it
        had a home here.
        """
        self.assertFalse(issubclass(errors.ChannelClosed,
                                    errors.CocaineError))
        self.assertEqual(toWire(errors.ChannelClosed("abandoned")),
                         [[7, 7], "uncaught error: ChannelClosed"])
