# -*- test-case-name: tests.bench.test_cpushare -*-
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


def positives(text):
    """
    @return: the comma-separated positive integers of C{text}
        (C{"1,8,64"}).
    @raise argparse.ArgumentTypeError: naming the first field that holds
        none.
    """
    return [positive(field) for field in text.split(",")]
