"""
Printing results from scripts run by the real Cocaine framework's
interpreter: one JSON object per step, bytes as Latin-1 text. Imports
nothing of ours (the framework is also called C{cocaine}).
"""

import json


def plain(value):
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    return value


def report(step, **fields):
    fields["step"] = step
    print(json.dumps(plain(fields), sort_keys=True), flush=True)


def readAll(channel, timeout):
    """
    In a framework script: every chunk of C{channel} until close (the
    framework returns an EmptyResponse for close; a further get raises
    ChokeEvent). A tornado coroutine.
    """
    from tornado import gen

    from cocaine.exceptions import ChokeEvent

    @gen.coroutine
    def read():
        chunks = []
        while True:
            try:
                chunk = yield channel.rx.get(timeout=timeout)
            except ChokeEvent:
                break
            if not isinstance(chunk, bytes):
                break
            chunks.append(chunk)
        raise gen.Return(chunks)
    return read()


def readSteps(output):
    """
    The test side: C{{step: fields}} from what such a script printed.
    """
    steps = {}
    for line in output.splitlines():
        entry = json.loads(line)
        steps[entry.pop("step")] = entry
    return steps
