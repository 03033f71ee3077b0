# -*- test-case-name: tests.test_reactor -*-
"""
The reactor plugin: C{--reactor=cocaine} of twistd and twist installs
L{cocaine.reactor.NodeReactor}, the reactor the node and the proxy run on
when given no C{--reactor}. Its module, L{cocaine.nodereactor}, does not
import where there is no C{epoll}: C{--help-reactors} then lists it as
not available, with the reason.

Lazy: importing this module imports nothing of Cocaine.
"""

from twisted.application.reactors import Reactor

cocaine = Reactor(
    "cocaine", "cocaine.nodereactor",
    "Cocaine's node reactor: epoll without the legacy log context "
    "around each ready descriptor.")
