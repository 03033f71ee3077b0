# -*- test-case-name: tests.bench.test_http -*-
"""
The echo app as WSGI, for uWSGI in L{bench.http}: the same answers as the
C{http} event of C{examples/apps/echo} through our gateway.

  - C{application}: a request with a body answers that body; one without
    answers a fixed small text (C{BODY});
  - C{hello}: C{b"hello"} to every request (L{bench.httpservers}).

Standard library only: uWSGI runs it with Debian's Python.
"""

BODY = b"hello from cocaine\n"
HELLO = b"hello"


def _answer(start_response, body):
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    return _answer(start_response, body or BODY)


def hello(environ, start_response):
    return _answer(start_response, HELLO)
