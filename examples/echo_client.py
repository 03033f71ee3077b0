"""
Call the example echo app of a running node (make run).

    python examples/echo_client.py [--port 10053] [words...]

Streams each word as a request chunk to the app's "echo" event and prints
the chunks the worker streams back, then asks "ping" and prints the app's
info (pool, workers, requests).
"""

import argparse
import json

from cocaine.client.blocking import connect


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=10053)
    parser.add_argument("--app", default="echo")
    parser.add_argument("words", nargs="*", default=["hello", "cocaine"])
    args = parser.parse_args()

    app = connect(args.app, args.host, args.port)
    channel = app.enqueue("echo")
    for word in args.words:
        channel.write(word.encode())
    channel.close()
    print("echo:", [chunk.decode() for chunk in channel])

    channel = app.enqueue("ping")
    channel.close()
    print("ping:", [chunk.decode() for chunk in channel])

    info = app.info()
    print("info:", json.dumps({key: info[key] for key in (
        "state", "pool", "queue", "requests")}))
    for worker in info["workers"]:
        print("worker: pid {pid} {state} load {load} rss {rss}".format(
            **worker))


if __name__ == "__main__":
    main()
