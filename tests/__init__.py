"""
The test suite: unit tests mirror C{cocaine/}; C{tests.integration} runs
real processes and sockets on loopback. Run everything with
C{python -m tests} (or C{make test}).
"""
