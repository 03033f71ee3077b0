# -*- test-case-name: tests.engine.test_plainunix -*-
"""
Workers' UNIX connections read with C{recv} and written with C{send}.

Twisted's UNIX transport passes file descriptors: every read is a
C{recvmsg} with a control buffer, its result unpacked in Python and its
ancillary data looked through, and every write goes through the wrapper
that sends queued descriptors first. A worker never sends or receives
descriptors, so its connection takes TCP's plain C{recv} and C{send}
(the same methods, on the same kind of socket object).
"""

from twisted.internet import tcp, unix


class PlainUNIXServer(unix.Server):
    """
    A UNIX server transport without descriptor passing.
    """

    doRead = tcp.Connection.doRead
    writeSomeData = tcp.Connection.writeSomeData


def usePlainTransport(port):
    """
    Make the connections C{port} accepts from now on plain ones, when it is
    Twisted's UNIX port (a test's fake port is left as it is).

    @return: C{port}
    """
    if isinstance(port, unix.Port):
        port.transport = PlainUNIXServer
    return port
