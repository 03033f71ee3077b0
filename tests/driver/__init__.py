"""Tests for cocaine.driver."""
