"""Tests for cocaine.isolate."""
