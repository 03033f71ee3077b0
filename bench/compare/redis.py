# -*- test-case-name: tests.integration.test_bench -*-
"""
The machine's floor: C{redis-benchmark} PING against a Redis server
started on loopback with no persistence, both from Debian.
"""

import csv
import io
import shutil
import subprocess
import tempfile

from bench.compare.processes import Unavailable, aptInstall, pin, stop
from tests.integration.node import freePort


class Redis:
    """
    A private redis-server on 127.0.0.1.
    """

    def __init__(self):
        aptInstall(["redis-server", "redis-tools"],
                   ["redis-server", "redis-benchmark"])
        self.directory = tempfile.mkdtemp(prefix="cocaine-bench-redis-")
        self.port = freePort()
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port),
             "--save", "", "--appendonly", "no", "--dir", self.directory,
             "--protected-mode", "yes", "--daemonize", "no"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._waitListening()
        return self

    def _waitListening(self):
        import socket
        import time
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise Unavailable("redis-server did not listen on 127.0.0.1:{}"
                          .format(self.port))

    def pids(self):
        return [self.process.pid]

    def ping(self, requests, clients, cpu):
        """
        Run C{redis-benchmark -t ping} (the multi-bulk PING) with
        C{clients} connections, each one request at a time.

        @return: the echo contract's map (rate, p50, p99 from its report).
        """
        argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(self.port),
                "-t", "ping", "-n", str(requests), "-c", str(clients),
                "-P", "1", "--csv"]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        pin([process.pid], cpu)
        out, err = process.communicate(timeout=600)
        if process.returncode:
            raise Unavailable("redis-benchmark failed: " + err.strip())
        rows = {row["test"]: row for row in csv.DictReader(io.StringIO(out))}
        row = rows.get("PING_MBULK") or next(iter(rows.values()))
        rate = float(row["rps"])
        return {"requests": requests, "errors": 0,
                "elapsed": requests / rate, "rate": rate,
                "p50_us": float(row["p50_latency_ms"]) * 1000,
                "p99_us": float(row["p99_latency_ms"]) * 1000,
                "first_error": None}

    def stop(self):
        if self.process is not None:
            stop(self.process)
            self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)
