"""
Cocaine: your personal app engine, on Twisted.
"""

__version__ = "0.1.0"
