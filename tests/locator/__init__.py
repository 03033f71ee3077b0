"""Tests for cocaine.locator."""
