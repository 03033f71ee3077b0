"""
Tests for L{cocaine.worker}, the Python worker SDK, and for the example
workers in other languages (C{examples/apps/}), run as real processes
against a fake runtime (L{tests.worker.runtime}).
"""
