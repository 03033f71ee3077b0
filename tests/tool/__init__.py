"""
Tests of C{cocaine-tool}, run as a subprocess against real nodes.
"""
