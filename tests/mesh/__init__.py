# -*- test-case-name: tests.mesh -*-
"""
Tests of L{cocaine.mesh}: unit tests with fakes, and interoperability with
real cote 1.2.0 inside a network namespace (L{tests.mesh.test_interop}).
"""
