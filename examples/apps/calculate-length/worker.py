#!/usr/bin/env python3
# -*- test-case-name: tests.integration.test_calculate_length -*-
"""
The calculate-length app: a worker that calls a service of the node, the
motivating example of Cocaine's README, written with our SDK.

Events:
  - C{calculateLength}: reads one chunk, a key; answers the length of the
    value stored under it in collection C{collection} of the node's
    C{storage} service (as decimal digits). A missing key fails the
    handler with L{cocaine.errors.KeyNotFound}, which the client sees as
    C{[[42, 100], "KeyNotFound: ..."]};
  - C{lengthOrReason}: the same, but it catches the storage's error and
    answers it as the app's own error, C{[[43, code], "storage said
    [category, code] Class: message"]}.

Deploy it and call it (a node with the C{storage} and C{node} services,
C{make run} say):

    cocaine-tool app upload examples/apps/calculate-length
    cocaine-tool app start calculate-length
    cocaine-tool call storage.write collection k '"12345"'
    printf k | cocaine-tool call calculate-length.enqueue calculateLength \
        --stdin                                   # prints 5

The service resolves through the locator the node passes the worker
(C{--locator}) and sends the app's token when the node has auth on.
"""

import os
import sys

try:
    from cocaine.worker import Service, Worker
except ImportError:
    # Run from a checkout: the repository root is three levels up.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))))
    from cocaine.worker import Service, Worker

from cocaine.errors import CocaineError  # noqa: E402

storage = Service("storage")


async def calculateLength(request, response):
    key = await request.read()
    value = await storage.read("collection", key)
    response.write(len(value)); response.close()  # noqa: E702


async def lengthOrReason(request, response):
    key = await request.read()
    try:
        value = await storage.read("collection", key)
    except CocaineError as error:
        response.error(error.code, "storage said [{}, {}] {}: {}".format(
            error.category, error.code, type(error).__name__,
            error.message))
        return
    response.write(len(value))
    response.close()


if __name__ == "__main__":
    Worker().run({
        "calculateLength": calculateLength,
        "lengthOrReason": lengthOrReason,
    })
