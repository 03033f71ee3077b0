"""
Call our node's C{metrics} service with the real Cocaine 0.12 Python
framework (cocaine 0.12.14.5), run by the framework's own interpreter:

    framework_metrics.py PORT

Prints one JSON object per line, C{{"step": ..., ...}}. Never imports
anything of ours.
"""

import sys

# first: it makes tornado 4 importable
from framework_calls import attempt, locator, run
from tornado import gen
from cocaine.services import Service

PORT = int(sys.argv[1])


@gen.coroutine
def main():
    metrics = Service("metrics", locator=locator(PORT))
    yield attempt("plain", metrics, "fetch")
    yield attempt("json", metrics, "fetch", "json")
    yield attempt("query", metrics, "fetch", "plain", {
        "contains": [{"name": []}, {"const": ["requests"]}]})
    yield attempt("bad type", metrics, "fetch", "xml")


if __name__ == "__main__":
    run(main)
