"""labkit.apiserver.grpc_wire against a peer that writes HTTP/2 frames by hand.

etcd itself is the judge of the common path (tests/integration/apiserver/test_etcd_client.py
and every suite on a real etcd). What a real etcd rarely or never sends is played here by the
test, on a real socket pair: header blocks split into CONTINUATION frames, padding, messages
split across frames, resets, GOAWAY, a server that opens its flow-control window a little at a
time, trailers without a status.
"""

from __future__ import annotations

import asyncio
import socket
import struct

import hpack
import pytest

from labkit.apiserver import grpc_wire as wire
from labkit.apiserver.grpc_wire import (CONTINUATION, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PADDED, PING,
                                        RST_STREAM, SETTINGS, WINDOW_UPDATE, Connection, GrpcError, frame, message)


class Peer:
    """The server side of a socket pair: reads the client's frames, writes frames of the test's choosing."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.encoder = hpack.Encoder()

    async def read_frame(self) -> tuple[int, int, int, bytes]:
        head = await asyncio.wait_for(self.reader.readexactly(9), 5)
        length = int.from_bytes(head[:3], "big")
        payload = await self.reader.readexactly(length) if length else b""
        return head[3], head[4], int.from_bytes(head[5:9], "big") & 0x7FFFFFFF, payload

    async def read_until(self, kind: int) -> tuple[int, int, int, bytes]:
        while True:
            got = await self.read_frame()
            if got[0] == kind:
                return got

    def headers(self, fields: list[tuple[str, str]]) -> bytes:
        return self.encoder.encode(fields)

    def send(self, *frames: bytes) -> None:
        self.writer.write(b"".join(frames))


@pytest.fixture
async def link():
    """``await link()``: (client Connection, server Peer) on a socket pair, the peer's settings sent.
    Every pair made is closed afterwards."""
    made: list[tuple[Connection, Peer]] = []

    async def connect() -> tuple[Connection, Peer]:
        client_sock, server_sock = socket.socketpair()
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(lambda: Connection("etcd.test:2379", "http"), sock=client_sock)
        peer = Peer(*await asyncio.open_connection(sock=server_sock))
        made.append((connection, peer))
        assert await peer.reader.readexactly(len(wire.PREFACE)) == wire.PREFACE
        kind, flags, _, _ = await peer.read_frame()
        assert (kind, flags) == (SETTINGS, 0)
        peer.send(frame(SETTINGS, 0, 0))  # the server's (empty) settings: defaults
        return connection, peer

    yield connect
    for connection, peer in made:
        connection.close()
        peer.writer.close()


OK_TRAILERS = [("grpc-status", "0"), ("grpc-message", "")]


def answer(peer: Peer, stream_id: int, payload: bytes) -> list[bytes]:
    return [frame(HEADERS, END_HEADERS, stream_id, peer.headers([(":status", "200"),
                                                                ("content-type", "application/grpc")])),
            frame(DATA, 0, stream_id, message(payload)),
            frame(HEADERS, END_HEADERS | END_STREAM, stream_id, peer.headers(OK_TRAILERS))]


# What the server writes after the client's request, and what the call must end with: the answer's
# messages, or the GrpcError's code (and whether the request is known never to have been served).
def split_headers(peer, sid):
    block = peer.headers([(":status", "200"), ("content-type", "application/grpc")])
    return [frame(HEADERS, 0, sid, block[:2]), frame(CONTINUATION, 0, sid, block[2:3]),
            frame(CONTINUATION, END_HEADERS, sid, block[3:]),
            frame(DATA, 0, sid, message(b"one")),
            frame(HEADERS, END_HEADERS | END_STREAM, sid, peer.headers(OK_TRAILERS))]


def padded(peer, sid):
    block = peer.headers([(":status", "200"), ("content-type", "application/grpc")])
    data = message(b"padded")
    return [frame(HEADERS, END_HEADERS | PADDED, sid, bytes([3]) + block + b"\0\0\0"),
            frame(DATA, PADDED, sid, bytes([5]) + data + b"\0" * 5),
            frame(HEADERS, END_HEADERS | END_STREAM, sid, peer.headers(OK_TRAILERS))]


def split_messages(peer, sid):
    both = message(b"first") + message(b"second")
    return [frame(HEADERS, END_HEADERS, sid, peer.headers([(":status", "200")])),
            frame(DATA, 0, sid, both[:3]), frame(DATA, 0, sid, both[3:14]), frame(DATA, 0, sid, both[14:]),
            frame(HEADERS, END_HEADERS | END_STREAM, sid, peer.headers(OK_TRAILERS))]


CASES = [
    ("answer", lambda peer, sid: answer(peer, sid, b"hello"), [b"hello"]),
    ("empty answer message", lambda peer, sid: answer(peer, sid, b""), [b""]),
    ("header block in CONTINUATION frames", split_headers, [b"one"]),
    ("padded HEADERS and DATA", padded, [b"padded"]),
    ("messages split across DATA frames", split_messages, [b"first", b"second"]),
    ("trailers-only error, message percent-encoded",
     lambda peer, sid: [frame(HEADERS, END_HEADERS | END_STREAM, sid, peer.headers(
         [(":status", "200"), ("grpc-status", "11"),
          ("grpc-message", "etcdserver: mvcc: required revision has been compacted%21")]))],
     (11, False, "etcdserver: mvcc: required revision has been compacted!")),
    ("reset by the server", lambda peer, sid: [frame(RST_STREAM, 0, sid, (2).to_bytes(4, "big"))],
     (wire.INTERNAL, False, "reset the stream (HTTP/2 error 2)")),
    ("refused: never served", lambda peer, sid: [frame(RST_STREAM, 0, sid, (7).to_bytes(4, "big"))],
     (wire.UNAVAILABLE, True, "HTTP/2 error 7")),
    ("GOAWAY before serving it",
     lambda peer, sid: [frame(GOAWAY, 0, 0, (sid - 2).to_bytes(4, "big") + (0).to_bytes(4, "big") + b"shutdown")],
     (wire.UNAVAILABLE, True, "GOAWAY 0: shutdown")),
    ("ended without trailers",
     lambda peer, sid: [frame(HEADERS, END_HEADERS, sid, peer.headers([(":status", "200")])),
                        frame(DATA, END_STREAM, sid, message(b"x"))],
     (wire.INTERNAL, False, "without a grpc-status")),
    ("not a gRPC answer", lambda peer, sid: [frame(HEADERS, END_HEADERS | END_STREAM, sid,
                                                   peer.headers([(":status", "503")]))],
     (wire.UNAVAILABLE, False, "HTTP status 503")),
    ("trailers without grpc-status",
     lambda peer, sid: [frame(HEADERS, END_HEADERS, sid, peer.headers([(":status", "200")])),
                        frame(HEADERS, END_HEADERS | END_STREAM, sid, peer.headers([("x-other", "1")]))],
     (2, False, "")),
    ("answer cut inside a message",
     lambda peer, sid: [frame(HEADERS, END_HEADERS, sid, peer.headers([(":status", "200")])),
                        frame(DATA, 0, sid, message(b"whole")[:4]),
                        frame(HEADERS, END_HEADERS | END_STREAM, sid, peer.headers(OK_TRAILERS))],
     (wire.INTERNAL, False, "ended inside a message")),
]


@pytest.mark.parametrize("name,server,expected", CASES, ids=[c[0] for c in CASES])
async def test_a_call_ends_as_the_server_says(name, server, expected, link):
    connection, peer = await link()
    # a first call, answered normally, so that later header blocks may refer to HPACK's table
    first = connection.start("/etcdserverpb.KV/Range", b"req", end=True)
    _, _, sid, _ = await peer.read_until(HEADERS)
    peer.send(*answer(peer, sid, b"warm"))
    await first.finished()

    stream = connection.start("/etcdserverpb.KV/Range", b"request", end=True)
    _, flags, sid, block = await peer.read_until(HEADERS)
    sent = hpack.Decoder().decode(block)
    assert (":path", "/etcdserverpb.KV/Range") in sent and ("content-type", "application/grpc") in sent
    assert ("te", "trailers") in sent and (":authority", "etcd.test:2379") in sent
    kind, flags, data_sid, payload = await peer.read_frame()
    assert (kind, flags & END_STREAM, data_sid, payload) == (DATA, END_STREAM, sid, message(b"request"))
    peer.send(*server(peer, sid))
    if isinstance(expected, list):
        await stream.finished()
        assert list(stream.messages) == expected
    else:
        code, unsent, text = expected
        with pytest.raises(GrpcError) as caught:
            await asyncio.wait_for(stream.finished(), 5)
        assert (caught.value.code, caught.value.unsent) == (code, unsent)
        assert text in caught.value.message
    assert sid not in connection.streams  # nothing left behind


async def test_sending_waits_for_the_servers_flow_control_window(link):
    connection, peer = await link()
    peer.send(frame(SETTINGS, 0, 0, struct.pack(">HI", wire.SETTINGS_INITIAL_WINDOW_SIZE, 10)))
    assert (await peer.read_until(SETTINGS))[1] == wire.ACK
    payload = bytes(range(100))
    stream = connection.start("/etcdserverpb.KV/Put", payload, end=True)
    _, _, sid, _ = await peer.read_until(HEADERS)
    received = b""
    kind, flags, _, data = await peer.read_frame()
    assert (kind, len(data), flags & END_STREAM) == (DATA, 10, 0)  # the stream's window, no more
    received += data
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(peer.read_frame(), 0.2)  # nothing until the window opens
    peer.send(frame(WINDOW_UPDATE, 0, sid, (1000).to_bytes(4, "big")))
    while len(received) < len(message(payload)):
        kind, flags, _, data = await peer.read_frame()
        assert kind == DATA
        received += data
    assert received == message(payload) and flags & END_STREAM
    peer.send(*answer(peer, sid, b"stored"))
    await stream.finished()
    assert list(stream.messages) == [b"stored"]


async def test_pings_are_answered_and_a_lost_connection_fails_open_calls(link):
    connection, peer = await link()
    peer.send(frame(PING, 0, 0, b"12345678"))
    kind, flags, _, payload = await peer.read_until(PING)
    assert (flags, payload) == (wire.ACK, b"12345678")
    stream = connection.start("/etcdserverpb.Watch/Watch")
    await peer.read_until(HEADERS)
    peer.writer.close()  # the server goes away mid-call
    with pytest.raises(GrpcError) as caught:
        await asyncio.wait_for(stream.receive(), 5)
    assert caught.value.code == wire.UNAVAILABLE and "connection lost" in caught.value.message
    with pytest.raises(GrpcError) as again:
        connection.start("/etcdserverpb.KV/Range", b"x")
    assert again.value.unsent


async def test_an_unanswered_keepalive_ping_drops_the_connection(link, monkeypatch):
    monkeypatch.setattr(wire, "KEEPALIVE_SECONDS", 0.2)  # read when the connection is made
    monkeypatch.setattr(wire, "KEEPALIVE_TIMEOUT", 0.2)
    connection, peer = await link()
    stream = connection.start("/etcdserverpb.Watch/Watch")  # a watch: a stream open for long
    await peer.read_until(HEADERS)
    await peer.read_until(PING)  # the server reads it and says nothing: a frozen member
    with pytest.raises(GrpcError) as caught:
        await asyncio.wait_for(stream.receive(), 5)
    assert "no answer to a keepalive ping" in caught.value.message


@pytest.mark.parametrize("peer_answers_the_ping", [True, False])
async def test_a_call_past_its_deadline_pings_and_only_silence_drops_the_connection(link, monkeypatch,
                                                                                     peer_answers_the_ping):
    monkeypatch.setattr(wire, "PROBE_TIMEOUT", 0.2)
    connection, peer = await link()
    slow = connection.start("/etcdserverpb.KV/Range", b"slow", end=True)
    await peer.read_until(HEADERS)
    watch = connection.start("/etcdserverpb.Watch/Watch")  # another call on the same connection
    slow.deadline_passed(0.1)  # what Channel.unary's timer does
    with pytest.raises(GrpcError) as late:
        await slow.finished()
    assert late.value.code == wire.DEADLINE_EXCEEDED
    _, flags, _, payload = await peer.read_until(PING)  # sent at once, not at the next keepalive
    assert flags == 0
    if peer_answers_the_ping:  # only slow: the member is there, the connection stays
        peer.send(frame(PING, wire.ACK, 0, payload))
        await asyncio.sleep(0.5)
        assert connection.open and watch.id in connection.streams
    else:  # frozen: the connection goes, and its calls fail, so that the next go elsewhere
        with pytest.raises(GrpcError) as caught:
            await asyncio.wait_for(watch.receive(), 5)
        assert caught.value.code == wire.UNAVAILABLE
        assert "no answer to a ping within 0.2 s, after a call got none in 0.1 s" in caught.value.message
        assert not connection.open


def test_hpack_integers_follow_rfc_7541():
    # RFC 7541, C.1: 10 in a 5-bit prefix is one byte; 1337 is 31, 154, 10
    assert wire._hpack_integer(10, 5) == bytes([10])
    assert wire._hpack_integer(1337, 5) == bytes([31, 154, 10])
    assert wire._hpack_integer(31, 4) == bytes([15, 16])
    block = wire.request_headers("/etcdserverpb.KV/Txn", "10.0.0.11:2379", "https")
    assert hpack.Decoder().decode(block) == [
        (":method", "POST"), (":scheme", "https"), (":path", "/etcdserverpb.KV/Txn"),
        (":authority", "10.0.0.11:2379"), ("content-type", "application/grpc"), ("te", "trailers")]


async def test_a_connection_whose_stream_ids_are_used_up_takes_no_new_calls(link):
    connection, peer = await link()
    connection.next_id = wire.MAX_STREAM_ID  # the last id a client may use
    stream = connection.start("/etcdserverpb.KV/Range", b"last", end=True)
    assert not connection.open
    with pytest.raises(GrpcError) as caught:
        connection.start("/etcdserverpb.KV/Range", b"one more", end=True)
    assert caught.value.unsent and "stream ids used up" in caught.value.message
    _, _, sid, _ = await peer.read_until(HEADERS)
    assert sid == wire.MAX_STREAM_ID
    peer.send(*answer(peer, sid, b"served"))
    await stream.finished()  # the call already made is answered; then the connection closes
    assert list(stream.messages) == [b"served"]
    await asyncio.wait_for(peer.reader.read(), 5)  # what is left of the request, then the end
    assert peer.reader.at_eof()
