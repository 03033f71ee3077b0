"""
Talk to a running node from a plain script with the blocking client.

    python examples/storage_client.py [--port 10053]

Writes a value with tags, reads it back, finds it by tag, logs a line
through the node's logging service and removes the value again.
"""

import argparse

from cocaine.client.blocking import connect
from cocaine.errors import KeyNotFound


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=10053)
    args = parser.parse_args()

    locator = connect("locator", args.host, args.port)
    endpoints, version, graph = locator.resolve("storage")
    print("storage is at", endpoints, "protocol version", version,
          "methods", [graph[i][0] for i in sorted(graph)])

    storage = connect("storage", args.host, args.port)
    storage.write("examples", "greeting", b"hello, cocaine", ["demo"])
    print("read:", storage.read("examples", "greeting"))
    print("find demo:", storage.find("examples", ["demo"]))

    logging = connect("logging", args.host, args.port)
    logging.emit(1, "storage_client", "the example ran",
                 [["key", "greeting"]])
    print("logging verbosity:", logging.verbosity())

    storage.remove("examples", "greeting")
    try:
        storage.read("examples", "greeting")
    except KeyNotFound as e:
        print("after remove:", e)


if __name__ == "__main__":
    main()
