"""
The zerorpc peer's server (L{bench.peers.zerorpc_peer}) takes a port the
kernel picks as it binds, and says which: no port is picked and let go
first, for another process to take meanwhile. Run with the zerorpc venv's
python, where C{python -m bench.peers.python_peers} installed it.
"""

import os
import select
import subprocess

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from bench.peers import benchHome
from bench.peers.python_peers import venvPython

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
PEER = os.path.join(ROOT, "bench", "peers", "zerorpc_peer.py")

#: Run before the peer: every TCP port a Python socket of the peer's is
#: given and lets go is taken at once by a listener, as another process
#: might take it.
_TAKEN = """
import runpy, socket, sys
taken = []
close = socket.socket.close

def takenOnClose(self):
    port = None
    if self.family == socket.AF_INET and self.type == socket.SOCK_STREAM:
        try:
            port = self.getsockname()[1]
        except OSError:
            pass
    close(self)
    if port:
        thief = socket.socket()
        thief.bind(("127.0.0.1", port))
        thief.listen()
        taken.append(thief)
socket.socket.close = takenOnClose
sys.argv = [sys.argv[1], "server"]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


class ServerPortTests(SynchronousTestCase):

    def setUp(self):
        self.python = venvPython(benchHome(), "zerorpc")
        if not os.access(self.python, os.X_OK):
            raise SkipTest("no zerorpc venv at {} (python -m "
                           "bench.peers.python_peers makes it)".format(
                               self.python))

    def test_portPickedAsItBinds(self):
        """
        The server says C{ready tcp://127.0.0.1:PORT} with the port it
        bound, however quickly others take the ports that are let go.
        """
        process = subprocess.Popen(
            [self.python, "-c", _TAKEN, PEER], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.addCleanup(process.wait, 30)
        self.addCleanup(process.kill)
        ready, _, _ = select.select([process.stdout], [], [], 60)
        line = process.stdout.readline() if ready else ""
        if not line:
            process.kill()
            self.fail("no ready line; stderr: " + process.stderr.read()[-2000:])
        self.assertRegex(line, r"^ready tcp://127\.0\.0\.1:[1-9]\d*\n$")
