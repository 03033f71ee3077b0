# -*- test-case-name: tests.tool.test_call -*-
"""
C{cocaine-tool call}: call any method of any service and print what it
answers.

    cocaine-tool call storage.write c k '"value"' '["tag"]'
    cocaine-tool call storage.read c k
    cocaine-tool call echo.enqueue echo --stdin < file

Text output always ends with a line end, binary output is written exactly
(L{Output} has the rule), and C{--raw} writes exactly what came.
"""

import codecs
import json
import re
import sys
import threading
import time

from cocaine.errors import ProtocolViolation
from cocaine.tool.context import ToolError, plain
from cocaine.tool.storage import readInput

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
        "raw, text as lines, other values as JSON, one per line). Output "
        "that does not end a line gets a line end at the end when it is "
        "text (UTF-8 without control characters) or goes to a terminal; "
        "binary output into a file or a pipe is never changed, and --raw "
        "writes exactly the bytes that came. Each ARG is parsed as JSON; "
        "a word that is not JSON is a string; @FILE is the file's bytes "
        "(@- reads standard input).",
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
    parser.add_argument(
        "--raw", action="store_true",
        help="write the answer's bytes and text exactly as they came, "
        "without the line end added at the end of text output")
    parser.set_defaults(func=call)


def parseArgument(word):
    """
    One C{call} argument: C{@FILE} → the file's bytes (C{@-}: standard
    input), JSON → its value, anything else → the word as a string.
    """
    if word.startswith("@") and len(word) > 1:
        return readInput(word[1:], "argument file")
    try:
        return json.loads(word)
    except ValueError:
        return word


def call(ctx, args):
    """
    C{call SERVICE.METHOD ARGS...}: call it and print what it answers
    (L{Output}), or each chunk of its stream as it arrives.
    """
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
            output = Output(ctx.console.file, args.raw)
            output.show(result)
            output.finish()
        return None
    output = Output(ctx.console.file, args.raw) if not ctx.json else None
    try:
        return _stream(ctx, args, result, chunks, what, output)
    finally:
        if output is not None:
            output.finish()


def _stream(ctx, args, channel, chunks, what, output):
    """
    Send the request stream (C{--write} chunks, then standard input with
    C{--stdin}, then close) in a thread while printing what comes back.

    @param output: the L{Output} of what comes back; L{None} with
        C{--json} (one JSON line per chunk).
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
        if output is None:
            ctx.emit(value, line=True)
        else:
            output.show(value, stream=True)
    if failure:
        raise failure[0]
    return None


#: Characters that make output binary rather than text: the C0 controls
#: but tab, LF and CR, and DEL.
_CONTROL = re.compile("[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")


class Output:
    """
    What C{call} prints for people, and the rule of its last line end.

    Bytes are written as they come; text values as lines; anything else as
    JSON. When the call ends, a line end is added if the output does not
    end with one and either it is text (UTF-8 without control characters
    but tab, LF and CR; a msgpack value or a tarball never is) or standard
    output is a terminal, so the prompt starts on its own line. Binary
    output into a file or a pipe is never changed, and with C{raw} nothing
    is ever added: bytes and text values are written exactly as they came.

    @ivar stream: the text stream written to (its C{buffer}, when it has
        one, takes the bytes).
    @ivar raw: write exactly what came.
    """

    def __init__(self, stream, raw=False):
        self.stream = stream
        self.raw = raw
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._text = True
        self._open = False

    def _bytes(self, data):
        if not data:
            return
        self.stream.flush()
        buffer = getattr(self.stream, "buffer", None)
        if buffer is not None:
            buffer.write(data)
            buffer.flush()
        else:
            self.stream.write(data.decode("utf-8", "replace"))
            self.stream.flush()
        self._open = not data.endswith(b"\n")
        if self._text and not self.raw:
            try:
                decoded = self._decoder.decode(data)
            except UnicodeDecodeError:
                self._text = False
            else:
                self._text = not _CONTROL.search(decoded)

    def show(self, value, stream=False):
        """
        Print one value: bytes raw, text as a line (exactly, with C{raw}),
        anything else as JSON (on one line for a C{stream}'s chunk).
        """
        if isinstance(value, bytes):
            self._bytes(value)
            return
        if value is None:
            return
        if isinstance(value, str):
            if self.raw:
                self._bytes(value.encode("utf-8", "surrogateescape"))
                return
            line = value
        else:
            line = json.dumps(plain(value), ensure_ascii=False,
                              indent=None if stream else 2, default=str)
        self.stream.write(line + "\n")
        self.stream.flush()
        self._open = False

    def finish(self):
        """
        The call ended: end the last line if the rule says so.
        """
        if self.raw or not self._open:
            return
        if self._text:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self._text = False
        if self._text or _isTerminal(self.stream):
            self.stream.write("\n")
            self.stream.flush()
        self._open = False


def _isTerminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False
