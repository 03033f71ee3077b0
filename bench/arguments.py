"""
Command-line argument types shared by the benchmarks.
"""

import argparse


def positive(text):
    """
    @return: the positive integer C{text} holds.
    @raise argparse.ArgumentTypeError: naming it when it holds none.
    """
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(
            "{!r} is not a positive whole number".format(text))
    return number
