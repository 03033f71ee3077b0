"""
In-process doubles for commands of the tool: a L{ToolContext} whose
services are fakes and whose console writes to memory.
"""

import argparse
import io

from rich.console import Console

from cocaine.tool.context import ToolContext


class FakeService:
    """
    A blocking service client whose methods are the given functions; the
    C{timeout} keyword of a real client is accepted and recorded.

    @ivar calls: C{[(method, args, timeout)]} in order.
    """

    def __init__(self, **methods):
        self.methods = methods
        self.calls = []
        self.closed = False

    def __getattr__(self, name):
        if name.startswith("_") or name not in self.methods:
            raise AttributeError(name)
        method = self.methods[name]

        def call(*args, timeout=None):
            self.calls.append((name, args, timeout))
            return method(*args)
        return call

    def close(self, timeout=None):
        self.closed = True


class FakeContext(ToolContext):
    """
    A L{ToolContext} over L{FakeService}s, printing to memory.

    @ivar out: what was printed on standard output, as text.
    @ivar warnings: the lines of L{warn}.
    """

    def __init__(self, services, json=False, timeout=10.0, host="127.0.0.1",
                 port=10053):
        self._buffer = io.StringIO()
        console = Console(file=self._buffer, width=200, color_system=None)
        ToolContext.__init__(self, host, port, timeout, json, console)
        self.fakes = services
        self.warnings = []

    def service(self, name):
        return self.fakes[name]

    def warn(self, message):
        self.warnings.append(message)

    @property
    def out(self):
        return self._buffer.getvalue()

    @property
    def cells(self):
        """
        L{out} with the lines of tables turned into spaces, to match rows
        with C{\\s+} between cells.
        """
        return "".join(" " if 0x2500 <= ord(c) <= 0x257F else c
                       for c in self.out)


def arguments(**values):
    """
    The parsed arguments of a command.
    """
    return argparse.Namespace(**values)
