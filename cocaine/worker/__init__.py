# -*- test-case-name: tests.worker -*-
"""
The worker SDK: write Cocaine apps in Python.

    #!/usr/bin/env python3
    from cocaine.worker import Worker

    async def echo(request, response):
        async for chunk in request:       # or: chunk = await request.read()
            response.write(chunk)
        response.close()                  # or response.error(code, message)

    Worker().run({"echo": echo})

The runtime starts the script with C{--app --endpoint --locator --protocol
--uuid}; L{Worker} reads them from the command line.

Services of the node (storage, logging, any other) are called with
L{Service}, resolved through the locator the runtime names:

    storage = Service("storage")
    value = await storage.read("collection", key)

Built on L{asyncio} with nothing but L{msgpack} besides the standard
library; it never imports Twisted (an idle worker stays near 20 MB).
"""

from cocaine.worker.decorators import HTTPRequest, HTTPResponse, http
from cocaine.worker.stream import (
    Request, RequestError, Response, ResponseClosed)
from cocaine.worker.service import Channel, ChannelClosed, Locator, Service
from cocaine.worker.worker import Worker

__all__ = ["Worker", "Request", "Response", "RequestError",
           "ResponseClosed", "http", "HTTPRequest", "HTTPResponse",
           "Service", "Locator", "Channel", "ChannelClosed"]
