"""Tests for cocaine.engine."""
