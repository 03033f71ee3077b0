"""
Call a node's echo and uniresis services (Cocaine 0.12's health checks)
with the blocking client.

    python examples/health_client.py [--port 10053] [--echo echo]

The node's config needs the two services, e.g.
    "services": {..., "echo-service": {"type": "echo"},
                 "uniresis": {"type": "uniresis"}}
and then --echo echo-service (the example echo app of `make run` is
published as "echo" already: two things cannot share one name).
"""

import argparse

from cocaine.client.blocking import connect


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=10053)
    parser.add_argument("--echo", default="echo",
                        help="the name the echo service is published as")
    args = parser.parse_args()

    echo = connect(args.echo, args.host, args.port)
    print("ping:", echo.ping("are you there?"))

    uniresis = connect("uniresis", args.host, args.port)
    print("node", uniresis.uuid(), "has", uniresis.cpu_count(), "CPUs and",
          uniresis.memory_count() // 2 ** 20, "MiB of memory")


if __name__ == "__main__":
    main()
