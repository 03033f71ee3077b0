# -*- test-case-name: tests.test_diagrams -*-
"""
C{docs/machines.md}, rendered from the code: every lifecycle machine of the
node as a Mermaid state diagram and its transition table.

    python -m cocaine.diagrams           # write docs/machines.md
    python -m cocaine.diagrams --check   # exit 1 if it is out of date

A test runs the check, so the document is always the code's.
"""

import argparse
import importlib
import os
import sys

from cocaine.statemachine import mermaid, table

#: C{(title, module, machine name, what it is)}, in the order of the tree.
MACHINES = [
    ("App", "cocaine.node.app", "AppMachine",
     "One running app in the node's tree: its ordered start (monitor, "
     "engine, listener, drain, drivers) and reverse stop. Starting an app "
     "of the same name waits until a stopping one is `stopped`."),
    ("Engine", "cocaine.engine.engine", "EngineMachine",
     "An app's engine: accepts sessions while `running`, refuses them "
     "when `broken` (a worker terminated abnormally) or draining; stops "
     "its workers and closes their socket in `stopping`; can start "
     "again once `stopped`."),
    ("Worker", "cocaine.engine.worker", "WorkerMachine",
     "One worker process: the protocol's timers (startup, heartbeat, "
     "idle) while it comes up and serves, then an escalating exit: "
     "terminate, SIGTERM after the grace, SIGKILL after half of it."),
    ("Session", "cocaine.engine.session", "SessionMachine",
     "One request to an app, from the client's `enqueue` until both "
     "streams ended. Chunks do not pass through the machine: its "
     "transitions choose where they go."),
    ("Cluster peer link", "cocaine.cluster.link", "PeerLinkMachine",
     "Our side of the peering with one remote node: its locator's "
     "`connect` stream (`subscribed` until the first chunk, the node's "
     "whole table, then `linked`), reconnecting with a backoff from "
     "0.1 s doubling to the announce interval, with jitter (brought "
     "forward when discovery hears the node, at most once per delay), "
     "and forgotten after 3 intervals without an announce."),
    ("Cluster registration", "cocaine.cluster.registration",
     "RegistrationMachine",
     "A node's registration in unicorn (discovery through unicorn): a "
     "lease of its own, the node `/cocaine/discovery/<uuid>` holding the "
     "locator's endpoints on it, kept alive every third of the TTL; "
     "registered again on a new lease when the lease is found gone, "
     "retried from 0.1 s doubling to 1 s, with jitter, when the engine "
     "cannot be reached; stopping revokes the lease."),
    ("Mesh link", "cocaine.mesh.link", "LinkMachine",
     "A connection from one of our mesh clients to one cote-style server: "
     "connecting (and, with TLS, handshaking), up, or waiting to retry "
     "with a backoff from 0.1 s doubling to 5 s, with jitter; closing "
     "waits for the socket to go."),
    ("Mesh requester", "cocaine.mesh.requester", "RequesterMachine",
     "A mesh requester: requests queue while it is stopped or has no "
     "responder linked, and go to a linked responder while `serving`; "
     "stopping fails what is queued or in flight."),
    ("Redis pool slot", "cocaine.redis.slot", "RedisSlotMachine",
     "One place of a Redis pool: it connects, sends the password and "
     "database (`handshaking`), serves while `up`; a lost connection, a "
     "failed attempt or a refused handshake (dropped while `closing`) "
     "waits a delay growing with the failures in a row, then connects "
     "again; stopping closes the connection first."),
    ("PostgreSQL connection", "cocaine.storage.pgconnection",
     "PgConnectionMachine",
     "One connection of the `postgres` storage backend: statements wait "
     "while libpq connects (failed when it cannot, within the timeout), "
     "then go pipelined while `open`; when the server closes it, what it "
     "had in flight is sent once more on another connection; when a "
     "statement waited longer than the timeout (a `tick`), everything in "
     "flight fails and it is dropped; closing lets what is in flight "
     "answer first."),
    ("Jabber connection", "cocaine.jabber.connection", "ConnectionMachine",
     "A `jabber` service's XMPP account: connecting, negotiating the "
     "stream (STARTTLS, SASL, binding), online, or waiting to retry with "
     "a backoff from 0.5 s doubling to 30 s, with jitter; calls fail at "
     "once unless `online`; closing waits for the socket to go."),
]

HEADER = """\
# State machines

Each lifecycle in the node is one typed Automat machine
(`automat.TypeMachineBuilder`) that holds all of its state; its transition
table is the spec. This page is generated from the code by
`python -m cocaine.diagrams`, and a test fails when it is out of date.
Loops that only report the state's name (`stateName`) are left out.
"""


def machines():
    """
    @return: C{(title, dotted name, description, machine)} for every
        machine of L{MACHINES}.
    """
    found = []
    for title, module, name, description in MACHINES:
        machine = getattr(importlib.import_module(module), name)
        found.append((title, "{}.{}".format(module, name), description,
                      machine))
    return found


def render():
    """
    @return: the text of C{docs/machines.md}.
    """
    parts = [HEADER]
    for title, dotted, description, machine in machines():
        parts.append("## {}\n\n`{}`: {}\n\n```mermaid\n{}\n```\n\n{}\n"
                     .format(title, dotted, description, mermaid(machine),
                             table(machine)))
    return "\n".join(parts)


def documentPath():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.path.dirname(here), "docs", "machines.md")


def main(argv):
    parser = argparse.ArgumentParser(
        prog="python -m cocaine.diagrams",
        description="Write docs/machines.md from the code.")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if docs/machines.md is out of date")
    args = parser.parse_args(argv)
    text = render()
    path = documentPath()
    if args.check:
        try:
            with open(path) as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            sys.stderr.write("{} is out of date: run python -m "
                             "cocaine.diagrams\n".format(path))
            return 1
        return 0
    with open(path, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
