# -*- test-case-name: tests.test_reactor -*-
"""
The module C{--reactor=cocaine} names (the reactor plugin,
C{twisted/plugins/cocaine_reactor.py}): importing it fails where there is
no C{epoll}, so C{twistd --help-reactors} lists the node reactor among
those not available there, with the reason, and C{--reactor=cocaine}
ends with that reason in one line.
"""

from cocaine.reactor import NodeReactor, NoEpoll, install

if NodeReactor is None:
    raise NoEpoll("reactor cocaine (cocaine.reactor.NodeReactor) needs "
                  "epoll, which this system does not have")

__all__ = ["install"]
