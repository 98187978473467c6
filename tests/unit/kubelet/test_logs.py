"""Reading CRI log files with kubectl's log options (tail, since, timestamps, limitBytes, follow)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from labkit.kubelet.logs import LogOptions, LogOptionsError, cri_line, parse_line, parse_time, select, serve_log

T0 = datetime(2026, 12, 1, 10, 0, 0, tzinfo=timezone.utc)


def write_log(path, entries):
    path.write_bytes(b"".join(cri_line(T0 + timedelta(seconds=s), stream, text, partial) for s, stream, text, partial
                              in entries))


async def read(path, options, still_running=lambda: False) -> bytes:
    out = bytearray()

    async def write(chunk: bytes) -> None:
        out.extend(chunk)

    await serve_log(path, options, write, still_running)
    return bytes(out)


def test_parse_line_and_time():
    entry = parse_line(b"2026-12-01T10:00:00.123456789Z stderr P half a line\n")
    assert (entry.stream, entry.partial, entry.content) == ("stderr", True, b"half a line")
    assert entry.time == datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)
    assert parse_line(b"2026-12-01T10:00:00Z stdout F ").content == b""
    with pytest.raises(ValueError, match="not a CRI log line"):
        parse_line(b"plain text")
    with pytest.raises(LogOptionsError, match="no time zone"):
        parse_time("2026-12-01T10:00:00")


def test_cri_line_round_trips():
    line = cri_line(T0, "stdout", b"hello world")
    assert line == b"2026-12-01T10:00:00.000000000Z stdout F hello world\n"
    assert parse_line(line).content == b"hello world"


def test_options_from_query():
    now = T0
    options = LogOptions.from_query({"follow": "true", "tailLines": "3", "sinceSeconds": "60", "limitBytes": "10",
                                     "timestamps": "1"}, now=now)
    assert options == LogOptions(follow=True, timestamps=True, tail_lines=3, since_time=T0 - timedelta(seconds=60),
                                 limit_bytes=10)
    for query, message in (({"tailLines": "-1"}, "greater than or equal to 0"),
                           ({"limitBytes": "0"}, "greater than or equal to 1"),
                           ({"tailLines": "x"}, "not an integer"),
                           ({"follow": "maybe"}, "not a boolean"),
                           ({"sinceSeconds": "5", "sinceTime": "2026-12-01T10:00:00Z"}, "at most one"),
                           ({"sinceTime": "yesterday"}, "RFC 3339")):
        with pytest.raises(LogOptionsError, match=message):
            LogOptions.from_query(query, now=now)


async def test_whole_log_tail_and_partial_lines(tmp_path):
    log = tmp_path / "0.log"
    write_log(log, [(0, "stdout", b"one", False), (1, "stdout", b"tw", True), (1, "stdout", b"o", False),
                    (2, "stderr", b"three", False)])
    assert await read(log, LogOptions()) == b"one\ntwo\nthree\n"
    assert await read(log, LogOptions(tail_lines=2)) == b"two\nthree\n"  # a partial entry belongs to its line
    assert await read(log, LogOptions(tail_lines=0)) == b""
    assert await read(log, LogOptions(tail_lines=10)) == b"one\ntwo\nthree\n"


async def test_timestamps_once_per_line(tmp_path):
    log = tmp_path / "0.log"
    write_log(log, [(0, "stdout", b"tw", True), (1, "stdout", b"o", False)])
    assert await read(log, LogOptions(timestamps=True)) == b"2026-12-01T10:00:00.000000000Z two\n"


async def test_since_and_limit_bytes(tmp_path):
    log = tmp_path / "0.log"
    write_log(log, [(0, "stdout", b"old", False), (10, "stdout", b"new", False), (20, "stdout", b"newer", False)])
    assert await read(log, LogOptions(since_time=T0 + timedelta(seconds=5))) == b"new\nnewer\n"
    assert await read(log, LogOptions(limit_bytes=6)) == b"old\nne"


async def test_lines_that_are_not_cri_entries_are_skipped(tmp_path):
    log = tmp_path / "0.log"
    log.write_bytes(b"garbage\n" + cri_line(T0, "stdout", b"kept"))
    assert await read(log, LogOptions()) == b"kept\n"


async def test_follow_sends_what_is_appended_until_the_container_stops(tmp_path):
    log = tmp_path / "0.log"
    write_log(log, [(0, "stdout", b"first", False)])
    running = True
    received = []

    async def write(chunk: bytes) -> None:
        received.append(chunk)

    follower = asyncio.create_task(serve_log(log, LogOptions(follow=True), write, lambda: running))
    while not received:
        await asyncio.sleep(0.01)
    line = cri_line(T0, "stdout", b"second")
    with open(log, "ab") as f:  # a line written in two pieces is sent once it is whole
        f.write(line[:20])
        f.flush()
        await asyncio.sleep(0.3)
        assert b"".join(received) == b"first\n"
        f.write(line[20:])
    while b"".join(received) == b"first\n":
        await asyncio.sleep(0.01)
    running = False
    await asyncio.wait_for(follower, 10)
    assert b"".join(received) == b"first\nsecond\n"


async def test_follow_stops_at_the_byte_limit(tmp_path):
    log = tmp_path / "0.log"
    write_log(log, [(0, "stdout", b"0123456789", False)])
    chunks = []

    async def write(chunk: bytes) -> None:
        chunks.append(chunk)

    await asyncio.wait_for(serve_log(log, LogOptions(follow=True, limit_bytes=4), write, lambda: True), 10)
    assert chunks == [b"0123"]


def test_select_applies_since_before_tail():
    entries = [parse_line(cri_line(T0 + timedelta(seconds=s), "stdout", b"%d" % s)) for s in range(5)]
    kept = select(entries, LogOptions(since_time=T0 + timedelta(seconds=3), tail_lines=5))
    assert [e.content for e in kept] == [b"3", b"4"]
