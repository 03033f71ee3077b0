# -*- test-case-name: tests.tool -*-
"""
C{python -m cocaine.tool ...}: the same as the C{cocaine-tool} script.
"""

import sys

from cocaine.tool.cli import main

if __name__ == "__main__":
    sys.exit(main())
