"""Tests for cocaine.protocol."""
