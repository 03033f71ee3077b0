"""
Unit tests of L{cocaine.auth}.
"""
