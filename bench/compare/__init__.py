"""
Side by side with the field: our echo app through the node against cote,
zerorpc, Nameko, a bare Twisted msgpack echo (the floor) and
C{redis-benchmark} PING (the machine's floor), in one run.

    python -m bench.compare [--quick] [--runs R] [--no-docs]

See L{bench.compare.__main__} for what it measures and
C{docs/performance.md} for the figures.
"""
