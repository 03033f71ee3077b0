# -*- test-case-name: tests.test_reactor -*-
"""
The reactor plugin: C{--reactor=cocaine} of twistd and twist installs
L{cocaine.reactor.NodeReactor}, the reactor the node and the proxy run on
when given no C{--reactor}.

Lazy: importing this module imports nothing of Cocaine.
"""

from twisted.application.reactors import Reactor

cocaine = Reactor(
    "cocaine", "cocaine.reactor",
    "Cocaine's node reactor: epoll without the legacy log context "
    "around each ready descriptor.")
