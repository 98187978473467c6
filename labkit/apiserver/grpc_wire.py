"""gRPC over HTTP/2 on asyncio: the wire under labkit's etcd client.

etcd speaks gRPC, and a gRPC call is one HTTP/2 stream (RFC 9113) on a
long-lived connection, many streams at once:

    request   HEADERS  :method POST, :path /etcdserverpb.KV/Txn, content-type application/grpc, te trailers
              DATA     each message: 1 byte "compressed?" (0), 4 bytes length, the protobuf bytes
    response  HEADERS  :status 200
              DATA     the answer's messages, framed the same way
              HEADERS  the trailers: grpc-status (0 = OK) and grpc-message, ending the stream

A unary call (Range, Txn) sends one message and reads one; etcd's Watch keeps
its stream open both ways. Around the calls, HTTP/2 asks a client for a few
duties: answer the server's SETTINGS and PINGs, respect its flow-control
windows when sending (WINDOW_UPDATE opens them), give it windows to send in,
and decode its header blocks (HPACK, RFC 7541, done by the ``hpack``
package: Huffman codes and a table shared across blocks).

Why labkit has this instead of grpcio's asyncio client: the apiserver makes an
etcd call for almost every request, on one event loop, and grpcio's call cost
0.15-0.17 ms of CPU there (a C-core completion queue and a poller thread that
hands each result back to the loop through the GIL); this costs 0.03-0.05 ms
(bench/apiserver/README.md). It speaks what an etcd client needs and no more:
no compression, no server push, no load balancing beyond trying the next
endpoint (:class:`Channel`).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import struct
from urllib.parse import unquote

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types and flags (RFC 9113, section 6).
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7, 0x8, 0x9
END_STREAM = ACK = 0x1
END_HEADERS, PADDED, PRIORITY = 0x4, 0x8, 0x20
SETTINGS_ENABLE_PUSH, SETTINGS_MAX_CONCURRENT_STREAMS = 0x2, 0x3
SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE = 0x4, 0x5
CANCEL = 0x8  # RST_STREAM's error code when the client gives up on a call

DEFAULT_WINDOW = 65535
MAX_WINDOW = 2**31 - 1
MAX_STREAM_ID = 2**31 - 1
DEFAULT_MAX_FRAME = 16384
FRAME_HEADER = struct.Struct(">BHBBI")  # length (24 bits, as 8+16), type, flags, stream id

# gRPC status codes (grpc's doc/statuscodes.md), by number.
CODE_NAMES = ("OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
              "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
              "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED")
CANCELLED, DEADLINE_EXCEEDED, NOT_FOUND, RESOURCE_EXHAUSTED, OUT_OF_RANGE, INTERNAL, UNAVAILABLE = 1, 4, 5, 8, 11, 13, 14

KEEPALIVE_SECONDS = 30.0  # with streams open, ping this often ...
KEEPALIVE_TIMEOUT = 10.0  # ... and drop the connection when the answer takes longer (a member's host is gone)
PROBE_TIMEOUT = 3.0  # a call past its deadline pings at once, and waits this long for the answer


class GrpcError(Exception):
    """A call that did not end with grpc-status 0: the status code and etcd's message."""

    def __init__(self, code: int, message: str, *, unsent: bool = False):
        self.code, self.message = code, message
        self.unsent = unsent  # the server never saw the call: trying it elsewhere is safe
        super().__init__(f"{self.code_name}: {message}")

    @property
    def code_name(self) -> str:
        return CODE_NAMES[self.code] if 0 <= self.code < len(CODE_NAMES) else f"code {self.code}"


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    n = len(payload)
    return FRAME_HEADER.pack(n >> 16, n & 0xFFFF, kind, flags, stream_id) + payload


def _hpack_integer(value: int, prefix_bits: int) -> bytes:
    """An HPACK integer (RFC 7541, 5.1) in a first byte's low ``prefix_bits`` bits, continued if it does not fit."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([value])
    out, value = bytearray([limit]), value - limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def _hpack_string(value: bytes) -> bytes:
    return _hpack_integer(len(value), 7) + value  # not Huffman-coded: the high bit stays 0


def request_headers(path: str, authority: str, scheme: str) -> bytes:
    """The header block of a call to ``path``: the same bytes for every call, so made once per method.

    Static-table entries (RFC 7541, appendix A) where they exist, otherwise literals "without
    indexing", so that nothing here depends on what the server's decoder remembers.
    """
    method_post, scheme_field = 0x83, (0x86 if scheme == "http" else 0x87)  # indexed: ":method POST", ":scheme"
    return (bytes([method_post, scheme_field])
            + _hpack_integer(4, 4) + _hpack_string(path.encode())  # name ":path" (static 4), literal value
            + _hpack_integer(1, 4) + _hpack_string(authority.encode())  # ":authority" (static 1)
            + _hpack_integer(31, 4) + _hpack_string(b"application/grpc")  # "content-type" (static 31)
            + b"\x00" + _hpack_string(b"te") + _hpack_string(b"trailers"))  # both literal


def message(payload: bytes) -> bytes:
    """gRPC's framing of one message: uncompressed, 4-byte big-endian length."""
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


class Stream:
    """One call on a connection: messages out with :meth:`send`, in with :meth:`receive`; then the status."""

    def __init__(self, connection: "Connection", stream_id: int, path: str):
        self.connection = connection
        self.id = stream_id
        self.path = path
        self.send_window = connection.peer_initial_window
        self.received = 0  # DATA bytes since this stream's last WINDOW_UPDATE
        self.messages: collections.deque[bytes] = collections.deque()
        self.error: GrpcError | None = None
        self.ended = False  # the server closed its side (trailers, reset, or the connection died)
        self.headers_seen = False
        self.status_seen = False
        self._buffer = bytearray()  # DATA not yet split into messages
        self._waiter: asyncio.Future | None = None
        self._send_lock: asyncio.Lock | None = None  # made by the first send(): unary calls need none

    @property
    def _sending(self) -> asyncio.Lock:
        if self._send_lock is None:
            self._send_lock = asyncio.Lock()
        return self._send_lock

    # -- what the connection delivers --------------------------------------------------------

    def _data(self, payload: bytes) -> None:
        buf = self._buffer
        buf += payload
        while len(buf) >= 5:
            size = int.from_bytes(buf[1:5], "big")
            if len(buf) < 5 + size:
                break
            if buf[0]:
                self._fail(GrpcError(INTERNAL, f"{self.path}: compressed message, none was asked for"))
                return
            self.messages.append(bytes(buf[5:5 + size]))
            del buf[:5 + size]
        self._wake()

    def _headers(self, fields: list[tuple[bytes, bytes]], end: bool) -> None:
        first = not self.headers_seen
        self.headers_seen = True
        values = dict(fields)
        status = values.get(b":status")
        if first and status is not None and status != b"200":
            self._fail(GrpcError(UNAVAILABLE if status in (b"502", b"503", b"504") else INTERNAL,
                                 f"{self.path}: HTTP status {status.decode()} instead of a gRPC answer"))
            return
        if end or b"grpc-status" in values:  # the trailers (or a trailers-only answer)
            self.status_seen = True
            code = int(values.get(b"grpc-status", b"2"))  # missing status: UNKNOWN, as grpc's clients say
            if code:
                self.error = GrpcError(code, unquote(values.get(b"grpc-message", b"").decode("utf-8", "replace")))
            elif self._buffer:
                self.error = GrpcError(INTERNAL, f"{self.path}: the answer ended inside a message")
            self.ended = True
            self._wake()

    def _fail(self, error: GrpcError) -> None:
        if not self.ended:
            self.error, self.ended = error, True
            self._wake()
            self.connection._wake_senders()  # a send waiting for a window gives up

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- what the caller does ----------------------------------------------------------------

    async def send(self, payload: bytes, end: bool = False) -> None:
        """Send one message (``end``: and close our side)."""
        async with self._sending:  # the frames of one message are never interleaved with another's
            await self.connection.send_data(self, message(payload), end)

    async def receive(self) -> bytes | None:
        """The next message, or None once the server ended the stream with status OK; raises GrpcError."""
        while not self.messages:
            if self.ended:
                if self.error is not None:
                    raise self.error
                return None
            self._waiter = self.connection.loop.create_future()
            await self._waiter
        return self.messages.popleft()

    async def finished(self) -> None:
        """Wait for the server's end of the stream (the trailers); raises its GrpcError."""
        while not self.ended:
            self._waiter = self.connection.loop.create_future()
            await self._waiter
        if self.error is not None:
            raise self.error

    def deadline_passed(self, timeout: float) -> None:
        self._fail(GrpcError(DEADLINE_EXCEEDED, f"{self.path}: no answer in {timeout:g} s"))
        # A slow answer, or a member that froze (its host paused, a partition): a PING tells,
        # as a live server's HTTP/2 layer answers it at once, however busy its requests are.
        self.connection.ping(PROBE_TIMEOUT, f"no answer to a ping within {PROBE_TIMEOUT:g} s, "
                                            f"after a call got none in {timeout:g} s")

    def cancel(self) -> None:
        """Give up on the call: RST_STREAM(CANCEL), as a gRPC client does when its caller goes away."""
        if self.connection.streams.pop(self.id, None) is not None:
            self.connection.write(frame(RST_STREAM, 0, self.id, CANCEL.to_bytes(4, "big")))
        self._fail(GrpcError(CANCELLED, f"{self.path}: cancelled by the client"))


class Connection(asyncio.Protocol):
    """One HTTP/2 connection to a gRPC server, carrying any number of streams."""

    def __init__(self, authority: str, scheme: str):
        self.authority, self.scheme = authority, scheme
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, Stream] = {}
        self.next_id = 1  # client streams are odd
        self.open = False  # connected, and neither lost nor told to go away
        self.peer_initial_window = DEFAULT_WINDOW  # the server's window for each new stream
        self.send_window = DEFAULT_WINDOW  # the server's window for the whole connection
        self.max_frame = DEFAULT_MAX_FRAME
        # SETTINGS_MAX_CONCURRENT_STREAMS is noted, not enforced: etcd allows 2^32-1 (--max-concurrent-streams)
        self.max_streams = MAX_WINDOW
        self.received = 0  # DATA bytes since the connection's last WINDOW_UPDATE
        self._buffer = bytearray()
        self._decoder = hpack.Decoder()
        self._indexed_only: dict[bytes, list] = {}  # see _decode_headers
        self._header_block: tuple[int, int, bytearray] | None = None  # HEADERS waiting for its CONTINUATIONs
        self._window_waiters: list[asyncio.Future] = []
        self._headers_by_path: dict[str, bytes] = {}
        self._unsent: list[bytes] | None = None  # frames written in this turn of the loop (see write)
        self._ping_timer: asyncio.TimerHandle | None = None
        self._ping_deadline: asyncio.TimerHandle | None = None
        self.lost_reason = "not connected"

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.open = True
        # Windows as large as HTTP/2 allows: etcd may send a whole list (tens of MiB) without waiting.
        settings = struct.pack(">HIHI", SETTINGS_ENABLE_PUSH, 0, SETTINGS_INITIAL_WINDOW_SIZE, MAX_WINDOW)
        transport.write(PREFACE + frame(SETTINGS, 0, 0, settings)
                        + frame(WINDOW_UPDATE, 0, 0, (MAX_WINDOW - DEFAULT_WINDOW).to_bytes(4, "big")))
        self._ping_timer = self.loop.call_later(KEEPALIVE_SECONDS, self._keepalive)

    def connection_lost(self, exc: Exception | None) -> None:
        self._close(f"connection lost{f': {exc}' if exc else ''}")

    def data_received(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        pos, size = 0, len(buf)
        try:
            while size - pos >= 9:
                length = int.from_bytes(buf[pos:pos + 3], "big")
                if size - pos < 9 + length:
                    break
                kind, flags = buf[pos + 3], buf[pos + 4]
                stream_id = int.from_bytes(buf[pos + 5:pos + 9], "big") & 0x7FFFFFFF
                payload = bytes(buf[pos + 9:pos + 9 + length])
                pos += 9 + length
                self._frame(kind, flags, stream_id, payload)
        except (hpack.HPACKError, ValueError, IndexError) as exc:  # the server broke the protocol
            self._close(f"protocol error: {exc}")
            if self.transport is not None:
                self.transport.abort()
            return
        del buf[:pos]

    # -- frames in ----------------------------------------------------------------------------

    def _frame(self, kind: int, flags: int, stream_id: int, payload: bytes) -> None:
        if self._header_block is not None and kind != CONTINUATION:
            raise ValueError("a header block was interrupted by another frame")
        if kind == DATA:
            self._on_data(flags, stream_id, payload)
        elif kind == HEADERS:
            if flags & PADDED:
                payload = payload[1:len(payload) - payload[0]]
            if flags & PRIORITY:
                payload = payload[5:]
            if flags & END_HEADERS:
                self._on_headers(stream_id, payload, bool(flags & END_STREAM))
            else:
                self._header_block = (stream_id, flags, bytearray(payload))
        elif kind == CONTINUATION:
            if self._header_block is None or self._header_block[0] != stream_id:
                raise ValueError("CONTINUATION without its HEADERS")
            self._header_block[2].extend(payload)
            if flags & END_HEADERS:
                stream_id, first_flags, block = self._header_block
                self._header_block = None
                self._on_headers(stream_id, bytes(block), bool(first_flags & END_STREAM))
        elif kind == RST_STREAM:
            stream = self.streams.pop(stream_id, None)
            if stream is not None:
                code = int.from_bytes(payload[:4], "big")
                # REFUSED_STREAM (7): the server did not start it; anything else: it stopped it
                stream._fail(GrpcError(UNAVAILABLE if code == 7 else INTERNAL,
                                       f"{stream.path}: the server reset the stream (HTTP/2 error {code})",
                                       unsent=code == 7))
                self._wake_senders()
        elif kind == SETTINGS:
            if not flags & ACK:
                self._on_settings(payload)
                self.write(frame(SETTINGS, ACK, 0))
        elif kind == PING:
            if flags & ACK:
                if self._ping_deadline is not None:
                    self._ping_deadline.cancel()
                    self._ping_deadline = None
            else:
                self.write(frame(PING, ACK, 0, payload))
        elif kind == GOAWAY:
            self._on_goaway(payload)
        elif kind == WINDOW_UPDATE:
            increment = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            if stream_id == 0:
                self.send_window += increment
            elif stream_id in self.streams:
                self.streams[stream_id].send_window += increment
            self._wake_senders()
        # PRIORITY, PUSH_PROMISE (we disabled push) and unknown frame types are ignored, as RFC 9113 says

    def _on_data(self, flags: int, stream_id: int, payload: bytes) -> None:
        if flags & PADDED:
            payload = payload[1:len(payload) - payload[0]]
        self.received += len(payload)
        if self.received > MAX_WINDOW // 2:  # give the connection's window back before it runs out
            self.write(frame(WINDOW_UPDATE, 0, 0, self.received.to_bytes(4, "big")))
            self.received = 0
        stream = self.streams.get(stream_id)
        if stream is None:
            return  # a stream we cancelled: its late data is dropped
        stream.received += len(payload)
        if stream.received > MAX_WINDOW // 2:  # a watch lives long enough to receive gigabytes
            self.write(frame(WINDOW_UPDATE, 0, stream_id, stream.received.to_bytes(4, "big")))
            stream.received = 0
        stream._data(payload)
        if flags & END_STREAM:
            self._end(stream, [], True)

    def _on_headers(self, stream_id: int, block: bytes, end: bool) -> None:
        fields = self._decode_headers(block)  # always decoded: the server's table changes with each block
        stream = self.streams.get(stream_id)
        if stream is not None:
            self._end(stream, fields, end)

    def _end(self, stream: Stream, fields: list, end: bool) -> None:
        if fields:
            stream._headers(fields, end)
        if end and not stream.status_seen:
            stream._fail(GrpcError(INTERNAL, f"{stream.path}: the stream ended without a grpc-status"))
        if stream.ended:
            self.streams.pop(stream.id, None)
            self._wake_senders()
            if not self.open and not self.streams and self.transport is not None:
                self._flush()
                self.transport.close()  # after a GOAWAY, the last call it still served is done

    def _decode_headers(self, block: bytes) -> list[tuple[bytes, bytes]]:
        # After the first answers, etcd's headers and trailers come as a few one-byte references to
        # its table ("indexed fields": high bit set). Such a block changes no table, so what it
        # decodes to stays true until a block that does change it arrives: then forget them all.
        if all(byte & 0x80 for byte in block):
            known = self._indexed_only.get(block)
            if known is None:
                known = self._indexed_only[block] = self._decoder.decode(block, raw=True)
            return known
        self._indexed_only.clear()
        return self._decoder.decode(block, raw=True)

    def _on_settings(self, payload: bytes) -> None:
        for offset in range(0, len(payload) - 5, 6):
            key, value = struct.unpack_from(">HI", payload, offset)
            if key == SETTINGS_INITIAL_WINDOW_SIZE:
                delta, self.peer_initial_window = value - self.peer_initial_window, value
                for stream in self.streams.values():
                    stream.send_window += delta  # RFC 9113 6.9.2: open streams follow the change
            elif key == SETTINGS_MAX_FRAME_SIZE:
                self.max_frame = value
            elif key == SETTINGS_MAX_CONCURRENT_STREAMS:
                self.max_streams = value
        self._wake_senders()

    def _on_goaway(self, payload: bytes) -> None:
        last_id = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
        code = int.from_bytes(payload[4:8], "big")
        detail = payload[8:].decode("utf-8", "replace")
        self.open = False  # no new streams here; the ones it still serves finish
        self.lost_reason = f"the server is going away (HTTP/2 GOAWAY {code}{f': {detail}' if detail else ''})"
        for stream_id in [i for i in self.streams if i > last_id]:
            self.streams.pop(stream_id)._fail(GrpcError(UNAVAILABLE, self.lost_reason, unsent=True))
        if not self.streams and self.transport is not None:
            self._flush()
            self.transport.close()

    # -- frames out ---------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue frames; they leave together once the loop has run what is ready now.

        Under load, many requests reach their etcd call in the same turn of the loop: one
        send() for all their frames instead of one each (a system call cost more than the
        framing of a call).
        """
        if self._unsent is None:
            self._unsent = [data]
            self.loop.call_soon(self._flush)
        else:
            self._unsent.append(data)

    def _flush(self) -> None:
        unsent, self._unsent = self._unsent, None
        if unsent and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(unsent))

    def start(self, path: str, first: bytes | None = None, end: bool = False) -> Stream:
        """Open a stream to ``path``; with ``first``, send that message (and with ``end``, close our side)."""
        if not self.open:
            raise GrpcError(UNAVAILABLE, self.lost_reason, unsent=True)
        stream = Stream(self, self.next_id, path)
        self.next_id += 2
        if self.next_id > MAX_STREAM_ID:  # a billion calls: this connection's ids are used up
            self.open = False  # it finishes its calls; the channel opens a new one for the next
            self.lost_reason = "stream ids used up"
        self.streams[stream.id] = stream
        headers = self._headers_by_path.get(path)
        if headers is None:
            headers = self._headers_by_path[path] = request_headers(path, self.authority, self.scheme)
        # write() gathers the frames of this turn of the loop: the headers and the message leave in one send()
        self.write(frame(HEADERS, END_HEADERS, stream.id, headers))
        if first is not None:
            rest = self._write_data(stream, memoryview(message(first)), end)
            if rest:  # more than the windows allow now
                self.loop.create_task(self._send_later(stream, rest, end))
        return stream

    async def _send_later(self, stream: Stream, rest: memoryview, end: bool) -> None:
        try:
            async with stream._sending:
                await self.send_data(stream, rest, end)
        except GrpcError:
            pass  # the stream has its error; its caller sees it

    def _write_data(self, stream: Stream, data: memoryview, end: bool) -> memoryview:
        """DATA frames of as much of ``data`` as the frame size and both flow-control windows allow; the rest."""
        while data:
            size = min(len(data), self.max_frame, stream.send_window, self.send_window)
            if size <= 0:
                break
            last = size == len(data)
            self.write(frame(DATA, END_STREAM if (last and end) else 0, stream.id, bytes(data[:size])))
            stream.send_window -= size
            self.send_window -= size
            data = data[size:]
        return data

    async def send_data(self, stream: Stream, data: bytes | memoryview, end: bool) -> None:
        """DATA frames of ``data`` (a whole message, never empty) on ``stream``, waiting for windows as needed."""
        rest = memoryview(data)
        while True:
            if stream.ended or stream.id not in self.streams:
                if stream.error is not None:
                    raise stream.error
                return  # the server answered before reading all of it (e.g. "request is too large")
            rest = self._write_data(stream, rest, end)
            if not rest:
                return
            waiter = self.loop.create_future()
            self._window_waiters.append(waiter)
            await waiter

    def _wake_senders(self) -> None:
        waiters, self._window_waiters = self._window_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # -- liveness -------------------------------------------------------------------------------

    def _keepalive(self) -> None:
        """With streams open (a watch waits for days), make sure the server is still there."""
        if self.streams:
            self.ping(KEEPALIVE_TIMEOUT, f"no answer to a keepalive ping within {KEEPALIVE_TIMEOUT:.0f} s")
        self._ping_timer = self.loop.call_later(KEEPALIVE_SECONDS, self._keepalive)

    def ping(self, timeout: float, reason: str) -> None:
        """Send a PING (unless one is out already); drop the connection, for ``reason``, when no answer
        comes within ``timeout``: its calls then fail, and the next ones go to the next endpoint."""
        if self._ping_deadline is None and self.open and self.transport is not None:
            self.write(frame(PING, 0, 0, b"labkit\x00\x00"))
            self._ping_deadline = self.loop.call_later(timeout, self._ping_unanswered, reason)

    def _ping_unanswered(self, reason: str) -> None:
        self._ping_deadline = None
        self._close(reason)
        if self.transport is not None:
            self.transport.abort()

    def _close(self, reason: str) -> None:
        self.open = False
        self.lost_reason = reason
        for timer in (self._ping_timer, self._ping_deadline):
            if timer is not None:
                timer.cancel()
        self._ping_timer = self._ping_deadline = None
        streams, self.streams = self.streams, {}
        for stream in streams.values():
            stream._fail(GrpcError(UNAVAILABLE, reason))
        self._wake_senders()

    def close(self) -> None:
        self._close("closed by the client")
        if self.transport is not None:
            self._flush()
            self.transport.close()


class Channel:
    """Connections to a list of endpoints: one in use at a time; when it fails, the next one.

    etcd's members all serve every call (a follower forwards writes to the leader), so any
    answering endpoint will do. A call that was lost with its connection is not repeated here:
    a write may or may not have happened, and only the caller knows whether trying again is safe.
    """

    def __init__(self, endpoints: list[tuple[str, int]], ssl_context: ssl.SSLContext | None = None,
                 connect_timeout: float = 5.0):
        self.endpoints = endpoints
        self.ssl_context = ssl_context
        self.connect_timeout = connect_timeout
        self._current = 0
        self._connection: Connection | None = None
        self._connecting: asyncio.Future | None = None

    async def connection(self) -> Connection:
        connection = self._connection
        if connection is not None and connection.open:
            if connection.loop is asyncio.get_running_loop():
                return connection
            try:  # made in another event loop (a test's earlier one): of no use in this one
                connection.close()
            except RuntimeError:
                pass  # that loop is closed already, and its sockets with it
        if self._connecting is None:  # one attempt at a time; every caller waits for it
            self._connecting = asyncio.ensure_future(self._connect(skip_current=connection is not None))
            self._connecting.add_done_callback(self._connected)
        return await asyncio.shield(self._connecting)

    def _connected(self, attempt: asyncio.Future) -> None:
        self._connecting = None
        if not attempt.cancelled() and attempt.exception() is None:
            self._connection = attempt.result()

    async def _connect(self, skip_current: bool) -> Connection:
        loop = asyncio.get_running_loop()
        failures = []
        start = self._current + 1 if skip_current and len(self.endpoints) > 1 else self._current
        for i in range(len(self.endpoints)):
            index = (start + i) % len(self.endpoints)
            host, port = self.endpoints[index]
            authority = f"{host}:{port}"
            try:
                _, connection = await asyncio.wait_for(loop.create_connection(
                    lambda: Connection(authority, "https" if self.ssl_context else "http"), host, port,
                    ssl=self.ssl_context, server_hostname=host if self.ssl_context else None), self.connect_timeout)
            except (OSError, asyncio.TimeoutError) as exc:  # ssl.SSLError is an OSError
                failures.append(f"{authority}: {exc or type(exc).__name__}")
                continue
            self._current = index
            return connection
        raise GrpcError(UNAVAILABLE, "no endpoint answered (" + "; ".join(failures) + ")", unsent=True)

    async def unary(self, path: str, request: bytes, timeout: float) -> bytes:
        """One request message, one answer message; GrpcError for any other end.

        A call the server never received (no connection, or refused by a GOAWAY) goes to the
        next endpoint once.
        """
        for attempt in (1, 2):
            connection = await self.connection()
            try:
                stream = connection.start(path, request, end=True)
            except GrpcError:
                if attempt == 2:
                    raise
                continue
            timer = connection.loop.call_later(timeout, stream.deadline_passed, timeout)
            try:
                await stream.finished()
            except GrpcError as exc:
                if exc.code == DEADLINE_EXCEEDED or exc.code == CANCELLED:
                    stream.cancel()
                if exc.unsent and attempt == 1:
                    continue
                raise
            except asyncio.CancelledError:
                stream.cancel()  # our caller went away: tell the server to stop too
                raise
            finally:
                timer.cancel()
            if len(stream.messages) != 1:
                raise GrpcError(INTERNAL, f"{path}: {len(stream.messages)} answers to a unary call")
            return stream.messages[0]
        raise AssertionError("unreachable")

    async def stream(self, path: str) -> Stream:
        """A stream both ways (etcd's Watch): the caller sends and receives, then cancels it."""
        return (await self.connection()).start(path)

    def close(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
        if self._connection is not None:
            self._connection.close()
            self._connection = None
