"""
Tests for L{cocaine.notifications}.
"""
