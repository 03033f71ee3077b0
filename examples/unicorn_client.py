"""
Use a node's unicorn service (Cocaine 0.12's configuration service) from
a plain script with the blocking client.

    python examples/unicorn_client.py [--port 10053]

The node needs a unicorn backend and the service, e.g. in its config:

    "unicorns": {"core": {"type": "etcd", "args": {
        "endpoints": ["http://127.0.0.1:2379"], "prefix": ""}}},
    "services": {..., "unicorn": {"type": "unicorn",
                                  "args": {"backend": "core"}}}

(or {"type": "memory"} for a tree in the node's memory). Every unicorn
call opens a channel: read its answer, then close it; closing a watch or
a lock ends it. See docs/unicorn.md.
"""

import argparse

from cocaine.client.blocking import connect
from cocaine.errors import NodeExists


def once(channel):
    """
    The answer of a one-shot call; the channel is closed after it.
    """
    try:
        return channel.read(timeout=10)
    finally:
        channel.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=10053)
    parser.add_argument("--root", default="/examples",
                        help="the folder the example works under")
    args = parser.parse_args()
    unicorn = connect("unicorn", args.host, args.port)
    path = args.root + "/config"

    print("get:", once(unicorn.get(path)))
    try:
        print("create:", once(unicorn.create(path, {"workers": 2})))
    except NodeExists as e:
        print("create:", e)
    value, version = once(unicorn.get(path))
    print("get:", [value, version])
    print("put:", once(unicorn.put(path, {"workers": 4}, version)))
    print("put with a stale version:",
          once(unicorn.put(path, {"workers": 8}, version)))

    watch = unicorn.subscribe(path)
    print("subscribe, now:", watch.read(timeout=10))
    value, version = once(unicorn.get(path))
    once(unicorn.put(path, {"workers": 5}, version))
    print("subscribe, changed:", watch.read(timeout=10))
    watch.close()

    print("increment:", once(unicorn.increment(args.root + "/counter", 1)))

    children = unicorn.children_subscribe(args.root)
    print("children:", children.read(timeout=10))
    children.close()

    holder = unicorn.lock(args.root + "/lock")
    print("lock held:", holder.read(timeout=10))
    waiter = unicorn.lock(args.root + "/lock")
    holder.close()
    print("lock passed on:", waiter.read(timeout=10))
    waiter.close()

    value, version = once(unicorn.get(args.root + "/counter"))
    print("remove:", once(unicorn.remove(args.root + "/counter", version)))
    value, version = once(unicorn.get(path))
    print("del:", once(getattr(unicorn, "del")(path, version)))
    unicorn.close()


if __name__ == "__main__":
    main()
