"""
Use the cache service of a running node: put, get, a TTL, del.

    python examples/cache_client.py [--port 10053] [--service cache]

The node needs a cache service in its config, node-local:

    "services": {"cache": {"type": "cache", "args": {"max-size": 100000}}}

or shared by every node on one Redis:

    "services": {"cache": {"type": "cache", "args": {
        "backend": "redis", "url": "redis://127.0.0.1:6379/0"}}}
"""

import argparse
import time

from cocaine.client.blocking import connect


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=10053)
    parser.add_argument("--service", default="cache")
    args = parser.parse_args()

    cache = connect(args.service, args.host, args.port)
    # 0.12's methods: get(key) -> (exists, value), put(key, value)
    print("get missing:", cache.get(b"example:user"))
    cache.put(b"example:user", "Алиса".encode())
    exists, value = cache.get(b"example:user")
    print("get:", exists, value.decode())

    # ours: a TTL in seconds as put's third argument
    cache.put(b"example:session", b"token", 0.5)
    print("with ttl:", cache.get(b"example:session"))
    time.sleep(0.6)
    print("after ttl:", cache.get(b"example:session"))

    # ours: del (a Python keyword, hence getattr)
    print("del:", getattr(cache, "del")(b"example:user"))
    print("del again:", getattr(cache, "del")(b"example:user"))
    cache.close()


if __name__ == "__main__":
    main()
