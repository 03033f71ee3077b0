"""
Tests for L{cocaine.engine.environment}: what of the node's environment a
worker gets.
"""

import os
import sys

from twisted.trial.unittest import SynchronousTestCase

from cocaine.engine.environment import workerEnvironment


class WorkerEnvironmentTests(SynchronousTestCase):

    def test_onlyWhatWorkersNeed(self):
        """
        The locale, C{PYTHONPATH} and the worker SDK's settings pass; a
        secret in the node's environment (or the tool's token) does not.
        """
        env = workerEnvironment({
            "PATH": "/bin", "LANG": "C.UTF-8", "LC_ALL": "C",
            "PYTHONPATH": "/opt/sdk", "COCAINE_HEARTBEAT_INTERVAL": "2",
            "DB_PASSWORD": "hunter2", "COCAINE_TOKEN": "t",
            "COCAINE_CONFIG": "/etc/cocaine.json", "HOME": "/root"})
        self.assertEqual(sorted(env), [
            "COCAINE_HEARTBEAT_INTERVAL", "LANG", "LC_ALL", "PATH",
            "PYTHONPATH"])
        self.assertEqual(env["LANG"], "C.UTF-8")

    def test_workerLoop(self):
        """
        The worker SDK's choice of event loop passes.
        """
        env = workerEnvironment({"COCAINE_WORKER_LOOP": "asyncio"})
        self.assertEqual(env["COCAINE_WORKER_LOOP"], "asyncio")

    def test_workerEager(self):
        """
        The worker SDK's choice of eager handlers passes.
        """
        env = workerEnvironment({"COCAINE_WORKER_EAGER": "1"})
        self.assertEqual(env["COCAINE_WORKER_EAGER"], "1")

    def test_pythonSource(self):
        """
        The switch that runs compiled modules from their Python source
        passes, so workers run as the node does.
        """
        env = workerEnvironment({"COCAINE_PURE_PYTHON": "1"})
        self.assertEqual(env["COCAINE_PURE_PYTHON"], "1")

    def test_gcFreeze(self):
        """
        Whether start-up is frozen out of garbage collection passes, so
        workers do as the node does.
        """
        env = workerEnvironment({"COCAINE_GC_FREEZE": "0"})
        self.assertEqual(env["COCAINE_GC_FREEZE"], "0")

    def test_tlsCA(self):
        """
        The CA and server name clients check a TLS node against pass; the
        node's own client certificate and key do not.
        """
        env = workerEnvironment({
            "COCAINE_TLS_CA": "/etc/ca.pem", "COCAINE_TLS_SERVER_NAME": "n",
            "COCAINE_TLS_CERT": "/etc/node.pem",
            "COCAINE_TLS_KEY": "/etc/node.key"})
        self.assertEqual(sorted(k for k in env if k.startswith("COCAINE")),
                         ["COCAINE_TLS_CA", "COCAINE_TLS_SERVER_NAME"])

    def test_interpreterFirstOnPath(self):
        here = os.path.dirname(sys.executable)
        env = workerEnvironment({"PATH": "/bin" + os.pathsep + here})
        self.assertEqual(env["PATH"], here + os.pathsep + "/bin")
        self.assertEqual(workerEnvironment({})["PATH"], here)
