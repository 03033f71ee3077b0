"""
The HTTP benchmark's parts that run without servers: the WSGI echo peer,
the side-by-side table, the floor's verdict, and the arguments refused.
"""

import io
import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from bench import http as B
from bench.peers import wsgi_echo


def call(app, method, body=b""):
    """
    Call a WSGI app the way a server does.

    @return: C{(status, headers, body)}.
    """
    started = []
    environ = {"REQUEST_METHOD": method, "PATH_INFO": "/",
               "wsgi.input": io.BytesIO(body),
               "CONTENT_LENGTH": str(len(body)) if body else ""}
    parts = app(environ, lambda status, headers: started.append(
        (status, headers)))
    return started[0][0], dict(started[0][1]), b"".join(parts)


class WsgiEchoTests(SynchronousTestCase):
    """
    The uWSGI side answers what the gateway's echo app answers.
    """

    def test_postEchoes(self):
        body = bytes(range(256)) * 4
        status, headers, answer = call(wsgi_echo.application, "POST", body)
        self.assertEqual((status, answer), ("200 OK", body))
        self.assertEqual(headers["Content-Length"], "1024")

    def test_getFixed(self):
        status, headers, answer = call(wsgi_echo.application, "GET")
        self.assertEqual((status, answer),
                         ("200 OK", b"hello from cocaine\nGET /\n"))
        self.assertEqual(headers["Content-Length"], str(len(answer)))

    def test_hello(self):
        self.assertEqual(call(wsgi_echo.hello, "GET")[2], b"hello")


def figures(rate, p99=1000.0):
    return {"rate": rate, "p50_us": 500.0, "p99_us": p99, "errors": 0,
            "cpu_s_per_10k": 1.0}


def found(ours, uwsgi):
    return {"results": {
        "ours": {"GET c64": figures(ours), "POST c64": figures(ours)},
        "uwsgi": {"GET c64": figures(uwsgi), "POST c64": figures(uwsgi)}}}


class ReportTests(SynchronousTestCase):
    """
    The table and the floor's verdict.
    """

    def setUp(self):
        self.args = B.parser().parse_args([])
        self.args.connections = [64]

    def test_table(self):
        lines = B.table(self.args, found(6000.0, 8000.0))
        self.assertTrue(lines[0].startswith("| workload | ours req/s | "
                                            "uWSGI req/s | ours/uWSGI |"))
        self.assertEqual(lines[2].split(" | ")[:4],
                         ["| GET, 64 conn", "6,000", "8,000", "0.75"])
        self.assertTrue(lines[3].startswith("| POST 1 KiB, 64 conn |"))

    def test_floor(self):
        self.assertIn("met, aim not met",
                      B.floorLine(self.args, found(6000.0, 8000.0)))
        self.assertIn("met, aim met",
                      B.floorLine(self.args, found(9000.0, 8000.0)))
        self.assertIn("MISSED", B.floorLine(self.args, found(3000.0, 8000.0)))

    def test_floorNotMeasured(self):
        result = found(6000.0, 8000.0)
        del result["results"]["ours"]
        self.assertIn("not measured", B.floorLine(self.args, result))

    def test_missingFigures(self):
        """
        A workload that failed shows dashes, not an exception.
        """
        result = found(6000.0, 8000.0)
        result["results"]["ours"]["GET c64"] = {"failed": "wrk exited 1"}
        self.assertIn("| GET, 64 conn | - | 8,000 | - |",
                      B.table(self.args, result)[2])


class ArgumentsTests(SynchronousTestCase):
    """
    Bad arguments are refused before anything starts.
    """

    def test_refused(self):
        for argv in (["--only", "nginx"], ["--seconds", "0"],
                     ["--connections", "0"], ["--workers", "0"]):
            done = subprocess.run(
                [sys.executable, "-m", "bench.http"] + argv,
                capture_output=True, text=True, timeout=60,
                cwd=B.ROOT, env=dict(os.environ, PYTHONPATH=B.ROOT))
            self.assertEqual(done.returncode, 2, (argv, done.stderr))
            self.assertIn("bad arguments", done.stderr)
