"""Tests for cocaine.log."""
