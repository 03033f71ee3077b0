# -*- test-case-name: tests.integration.test_bench -*-
"""
Peers for the side-by-side benchmark: other RPC frameworks, installed into
a scratch home outside the repository, and the broker one of them needs.

  - L{bench.peers.python_peers}: venvs with zerorpc, Nameko and matplotlib;
  - L{bench.peers.rabbitmq}: a private RabbitMQ broker on 127.0.0.1;
  - C{zerorpc_peer.py}, C{nameko_peer.py}: server and client scripts, run
    with the interpreter of the peer's venv;
  - L{bench.peers.selftest}: a short run of all of it, by hand.
"""

import os


def benchHome():
    """
    The scratch directory that peers are installed into.

    @return: C{$COCAINE_BENCH_HOME}, or C{~/.cache/cocaine-bench}.
    @rtype: L{str}
    """
    home = os.environ.get("COCAINE_BENCH_HOME")
    if not home:
        home = os.path.join(os.path.expanduser("~"), ".cache", "cocaine-bench")
    return os.path.abspath(home)


HERE = os.path.dirname(os.path.abspath(__file__))
ZERORPC_PEER = os.path.join(HERE, "zerorpc_peer.py")
NAMEKO_PEER = os.path.join(HERE, "nameko_peer.py")
