"""Tests for cocaine.rpc."""
