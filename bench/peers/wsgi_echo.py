# -*- test-case-name: tests.bench.test_http -*-
"""
The echo app as WSGI, for uWSGI in L{bench.http}: the same answers as the
C{http} event of C{examples/apps/echo} through our gateway.

  - C{application}: a request with a body answers that body with its
    C{Content-Type}; one without answers "hello from cocaine" with its
    method and path;
  - C{hello}: C{b"hello"} to every request (L{bench.httpservers}).

Standard library only: uWSGI runs it with Debian's Python.
"""

HELLO = b"hello"


def _answer(start_response, body, kind="text/plain; charset=utf-8"):
    start_response("200 OK", [("Content-Type", kind),
                              ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    if body:
        return _answer(start_response, body, environ.get(
            "CONTENT_TYPE") or "application/octet-stream")
    return _answer(start_response, "hello from cocaine\n{} {}\n".format(
        environ["REQUEST_METHOD"], environ.get("PATH_INFO") or "/").encode(
            "utf-8"))


def hello(environ, start_response):
    return _answer(start_response, HELLO)


#: The page L{bench.services} fetches: 1 KiB.
PAGE = b"x" * 1024


def page(environ, start_response):
    return _answer(start_response, PAGE, "application/octet-stream")
