# -*- test-case-name: tests.tool.test_call -*-
"""
C{cocaine-tool call}: call any method of any service and print what it
answers.

    cocaine-tool call storage.write c k '"value"' '["tag"]'
    cocaine-tool call storage.read c k
    cocaine-tool call echo.enqueue echo --stdin < file
"""

import json
import sys
import threading
import time

from cocaine.errors import ProtocolViolation
from cocaine.tool.context import ToolError, plain

#: The most bytes of standard input per request chunk with C{call --stdin}.
STDIN_CHUNK = 64 * 1024


def register(subparsers):
    """
    Add the C{call} command to the tool's commands.
    """
    parser = subparsers.add_parser(
        "call", help="call any method of any service",
        description="Call SERVICE.METHOD with ARGS and print what it "
        "answers: a value, or the chunks of a stream as they arrive (bytes "
        "raw, other values as JSON, one per line). Each ARG is parsed as "
        "JSON; a word that is not JSON is a string; @FILE is the file's "
        "bytes (@- reads standard input).",
        epilog="Examples: call storage.read apps echo; call locator.resolve "
        "storage; call echo.enqueue echo --stdin < file; call node.control "
        "echo --write 2")
    parser.add_argument("target", metavar="SERVICE.METHOD")
    parser.add_argument("arguments", nargs="*", metavar="ARG")
    parser.add_argument(
        "--stdin", action="store_true",
        help="stream standard input as request chunks (up to 64 KiB each, "
        "sent as they are read), then close the request")
    parser.add_argument(
        "-w", "--write", action="append", default=[], metavar="CHUNK",
        help="send CHUNK (parsed like ARG) as a request chunk; repeatable")
    parser.set_defaults(func=call)


def parseArgument(word):
    """
    One C{call} argument: C{@FILE} → the file's bytes (C{@-}: standard
    input), JSON → its value, anything else → the word as a string.
    """
    if word.startswith("@") and len(word) > 1:
        path = word[1:]
        try:
            if path == "-":
                return sys.stdin.buffer.read()
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise ToolError("cannot read {}: {}".format(
                path, e.strerror or e))
    try:
        return json.loads(word)
    except ValueError:
        return word


def call(ctx, args):
    service, dot, method = args.target.rpartition(".")
    if not dot or not service or not method:
        raise ToolError("expected SERVICE.METHOD, got {!r}".format(
            args.target), what="call")
    what = ctx.command = "call " + args.target
    arguments = [parseArgument(word) for word in args.arguments]
    chunks = [parseArgument(word) for word in args.write]
    result = getattr(ctx.service(service), method)(*arguments)
    from cocaine.client.blocking import BlockingChannel
    if not isinstance(result, BlockingChannel):
        if chunks or args.stdin:
            ctx.warn("{} answers at once and takes no request stream; "
                     "--stdin and --write were ignored".format(args.target))
        if ctx.json:
            ctx.emit(result)
        else:
            _show(ctx, result, stream=False)
            _endLine(ctx)
        return None
    return _stream(ctx, args, result, chunks, what)


def _stream(ctx, args, channel, chunks, what):
    """
    Send the request stream (C{--write} chunks, then standard input with
    C{--stdin}, then close) in a thread while printing what comes back.
    """
    failure = []
    sending = threading.Event()
    sending.set()

    def send():
        try:
            for chunk in chunks:
                channel.write(chunk)
            if args.stdin:
                # read1: what is there, up to a chunk, so that a terminal
                # or a slow pipe is sent as it comes
                stream = sys.stdin.buffer
                while True:
                    data = stream.read1(STDIN_CHUNK)
                    if not data:
                        break
                    channel.write(data)
            try:
                channel.close()
            except ProtocolViolation:
                if chunks or args.stdin:
                    raise
        except ProtocolViolation:
            failure.append(ToolError(
                "{} takes no request stream".format(args.target), what))
        except BaseException as e:
            failure.append(e)
        finally:
            sending.clear()

    if chunks or args.stdin:
        threading.Thread(target=send, name="cocaine-tool-stdin",
                         daemon=True).start()
    else:
        send()
    from cocaine.rpc.client import ChannelClosed
    from twisted.internet.defer import TimeoutError as DeferredTimeout
    step = min(1.0, ctx.timeout) if ctx.timeout else 1.0
    lastActivity = time.monotonic()
    while True:
        if failure:
            raise failure[0]
        try:
            value = channel.read(timeout=step)
        except ChannelClosed:
            break
        except DeferredTimeout:
            # Waiting is fine while the request is still being sent; after
            # that the answer has --timeout seconds to come.
            now = time.monotonic()
            if sending.is_set():
                lastActivity = now
            elif ctx.timeout and now - lastActivity >= ctx.timeout:
                raise ToolError("no answer within {:g}s".format(ctx.timeout),
                                what)
            continue
        lastActivity = time.monotonic()
        if ctx.json:
            ctx.emit(value, line=True)
        else:
            _show(ctx, value, stream=True)
    if failure:
        raise failure[0]
    _endLine(ctx)
    return None


def _endLine(ctx):
    """
    On a terminal, end raw output that did not end a line, so the prompt
    starts on its own line.
    """
    if ctx.json or not getattr(ctx, "_rawPending", False):
        return
    out = ctx.console.file
    if hasattr(out, "isatty") and out.isatty():
        out.write("\n")
        out.flush()


def _show(ctx, value, stream):
    """
    Print one value for people: bytes raw, text as a line, anything else
    as JSON.
    """
    out = ctx.console.file
    if isinstance(value, bytes):
        out.flush()
        buffer = getattr(out, "buffer", None)
        if buffer is not None:
            buffer.write(value)
            buffer.flush()
        else:
            out.write(value.decode("utf-8", "replace"))
            out.flush()
        if value:
            ctx._rawPending = not value.endswith(b"\n")
        return
    if value is None:
        return
    ctx._rawPending = False
    if isinstance(value, str):
        out.write(value + "\n")
    else:
        out.write(json.dumps(plain(value), ensure_ascii=False,
                             indent=None if stream else 2, default=str)
                  + "\n")
    out.flush()
