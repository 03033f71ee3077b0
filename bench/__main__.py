"""
Run every benchmark: C{python -m bench [--quick]}.
"""

import sys

from bench import rpc


def main(argv):
    rpc.main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
