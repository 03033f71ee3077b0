# -*- test-case-name: tests.mesh.test_exports -*-
"""
The public names of L{cocaine.mesh} stay importable from the package.
"""

from twisted.trial.unittest import SynchronousTestCase

import cocaine.mesh
from cocaine.mesh import (
    amp, bridge, browsers, client, component, deadlines, discovery, errors,
    exposure, hello, link, monitor, publisher, requester, responder, server,
    sockend, sockendcli, subscriber, tls, writes)

MODULES = (amp, bridge, browsers, client, component, deadlines, discovery,
           errors, exposure, hello, link, monitor, publisher, requester,
           responder, server, sockend, sockendcli, subscriber, tls, writes)


class ExportsTests(SynchronousTestCase):
    def test_all(self):
        for name in cocaine.mesh.__all__:
            self.assertTrue(hasattr(cocaine.mesh, name), name)
        for module in MODULES:
            for name in module.__all__:
                self.assertTrue(hasattr(module, name), (module.__name__, name))

    def test_errors(self):
        """
        Mesh errors belong to the one hierarchy of L{cocaine.errors}.
        """
        from cocaine import errors
        self.assertTrue(issubclass(cocaine.mesh.MeshError,
                                   errors.CocaineError))
        self.assertTrue(issubclass(cocaine.mesh.FramingError,
                                   errors.FramingError))
        self.assertTrue(issubclass(cocaine.mesh.MalformedHello,
                                   errors.CocaineError))
