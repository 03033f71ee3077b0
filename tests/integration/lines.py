"""
A helper process the tests speak to one JSON request a line: it answers
each with C{{"ok": value}} or C{{"error": kind, "message": text}}.
"""

import json
import subprocess

from tests.integration.node import environment


class LineDriver:
    """
    The test's side of such a process.
    """

    def __init__(self, command, env=None):
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env=environment() if env is None else env)

    def send(self, **request):
        """
        Send one request without waiting (L{receive} its answer later).
        """
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()

    def receive(self):
        """
        Wait for the next answer.

        @raise RuntimeError: the process answered an error.
        """
        answer = json.loads(self.process.stdout.readline())
        if "error" in answer:
            raise RuntimeError("{error}: {message}".format(**answer))
        return answer["ok"]

    def ask(self, **request):
        """
        Send one request and wait for its answer.

        @raise RuntimeError: the process answered an error.
        """
        self.send(**request)
        return self.receive()

    def stop(self):
        """
        Close its input (it ends), killing it after 10 s.
        """
        process = self.process
        process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()
