"""Tests for cocaine.client."""
