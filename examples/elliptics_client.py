"""
Use the elliptics service (Cocaine 0.12's protocol, on Redis) of a running
node: storage methods, cache_write with a TTL, cache_read, bulk_read,
read_latest, find.

    python examples/elliptics_client.py [--port 10053]

The node needs a Redis and the service in its config:

    "services": {"elliptics": {"type": "elliptics", "args": {
        "url": "redis://127.0.0.1:6379/0"}}}
"""

import argparse

from cocaine.client.blocking import connect
from cocaine.errors import KeyNotFound


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=10053)
    parser.add_argument("--service", default="elliptics")
    args = parser.parse_args()

    elliptics = connect(args.service, args.host, args.port)
    elliptics.write("example", "profile", b'{"name": "Alice"}', ["user"])
    print("read:", elliptics.read("example", "profile"))
    print("read_latest:", elliptics.read_latest("example", "profile"))
    print("find user:", elliptics.find("example", ["user"]))

    elliptics.cache_write("example", "session", b"token", 60)  # 60 s
    print("cache_read:", elliptics.cache_read("example", "session"))
    print("bulk_read:", elliptics.bulk_read(
        "example", ["profile", "session", "missing"]))

    elliptics.remove("example", "profile")
    try:
        elliptics.read("example", "profile")
    except KeyNotFound as e:
        print("after remove:", e)
    elliptics.close()


if __name__ == "__main__":
    main()
