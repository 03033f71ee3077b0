"""
Tests for L{cocaine.jabber}.
"""
