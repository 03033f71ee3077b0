"""Tests for cocaine.storage."""
