"""Container logs: the CRI log file format, and the options of ``kubectl logs``.

A CRI runtime (containerd) writes each container's output to a file, one
entry per line:

    2026-12-01T10:00:00.123456789Z stdout F hello world
    <RFC 3339 time, nanoseconds>   <stream> <tag> <content>

Tag ``F`` ends a line; ``P`` is a partial line that the next entries of the
same stream continue (the runtime splits long lines). The kubelet, not the
runtime, reads this file for ``GET /containerLogs/{ns}/{pod}/{container}``
and applies the PodLogOptions the apiserver passes on as query parameters:
``tailLines`` (last N lines), ``sinceSeconds``/``sinceTime`` (entries from
then on), ``timestamps`` (each line prefixed with its time), ``limitBytes``
(stop after N bytes) and ``follow`` (keep sending what is written until the
container stops or the client goes away).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Awaitable, Callable, Iterable

FOLLOW_POLL_SECONDS = 0.1  # how often ``follow`` looks for new entries (upstream watches the file with inotify)


class LogOptionsError(ValueError):
    """A query parameter of the log request that is not valid (the kubelet answers 400)."""


@dataclass(frozen=True)
class LogEntry:
    timestamp: str  # as written: RFC 3339 with nanoseconds
    time: datetime
    stream: str  # stdout | stderr
    partial: bool  # tag P: the line continues in the next entry
    content: bytes


@dataclass(frozen=True)
class LogOptions:
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    since_time: datetime | None = None
    limit_bytes: int | None = None

    @classmethod
    def from_query(cls, query, now: datetime | None = None) -> "LogOptions":
        """The options of a /containerLogs query (upstream's PodLogOptions names), checked."""

        def flag(name: str) -> bool:
            value = query.get(name, "false")
            if value not in ("true", "false", "1", "0", ""):
                raise LogOptionsError(f"{name}: {value!r} is not a boolean")
            return value in ("true", "1")

        def count(name: str, minimum: int) -> int | None:
            value = query.get(name)
            if value is None:
                return None
            try:
                number = int(value)
            except ValueError:
                raise LogOptionsError(f"{name}: {value!r} is not an integer") from None
            if number < minimum:
                raise LogOptionsError(f"{name}: must be greater than or equal to {minimum}, got {number}")
            return number

        since_seconds = count("sinceSeconds", 1)
        since_time = None
        if query.get("sinceTime"):
            if since_seconds is not None:
                raise LogOptionsError("at most one of sinceTime or sinceSeconds may be specified")
            since_time = parse_time(query["sinceTime"])
        elif since_seconds is not None:
            since_time = (now or datetime.now(timezone.utc)) - timedelta(seconds=since_seconds)
        return cls(follow=flag("follow"), previous=flag("previous"), timestamps=flag("timestamps"),
                   tail_lines=count("tailLines", 0), since_time=since_time, limit_bytes=count("limitBytes", 1))


def parse_time(text: str) -> datetime:
    """RFC 3339 with up to nanoseconds (Python keeps microseconds)."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    if "." in value:  # trim the fraction to microseconds
        head, rest = value.split(".", 1)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        value = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise LogOptionsError(f"{text!r} is not an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise LogOptionsError(f"{text!r} has no time zone")
    return parsed


def format_time(moment: datetime) -> str:
    """RFC 3339 as the runtime writes it (nanosecond digits, UTC)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def cri_line(moment: datetime, stream: str, content: bytes, partial: bool = False) -> bytes:
    """One entry of a CRI log file (``content`` without its newline)."""
    return f"{format_time(moment)} {stream} {'P' if partial else 'F'} ".encode() + content + b"\n"


def parse_line(line: bytes) -> LogEntry:
    """One entry of a CRI log file (with or without its trailing newline)."""
    line = line.rstrip(b"\n")
    parts = line.split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"P", b"F"):
        raise ValueError(f"not a CRI log line: {line[:80]!r}")
    timestamp = parts[0].decode()
    return LogEntry(timestamp, parse_time(timestamp), parts[1].decode(), parts[2] == b"P",
                    parts[3] if len(parts) == 4 else b"")


def parse_entries(data: bytes) -> list[LogEntry]:
    """The entries of complete lines of ``data``; lines that are not CRI entries are skipped (as upstream)."""
    entries = []
    for line in data.splitlines():
        try:
            entries.append(parse_line(line))
        except (ValueError, LogOptionsError):
            continue
    return entries


def select(entries: list[LogEntry], options: LogOptions) -> list[LogEntry]:
    """The entries ``since`` and ``tail`` keep: since filters entries by time; tail keeps the last N lines,
    a line being the partial entries of a stream up to the entry that ends it."""
    if options.since_time is not None:
        entries = [e for e in entries if e.time >= options.since_time]
    if options.tail_lines is None:
        return entries
    if options.tail_lines == 0:
        return []
    kept: list[LogEntry] = []
    lines = 0
    for entry in reversed(entries):
        if not entry.partial:
            if lines == options.tail_lines:
                break
            lines += 1
        kept.append(entry)
    return list(reversed(kept))


class LogWriter:
    """Writes entries to the client: timestamps at the start of each line, and the byte limit."""

    def __init__(self, write: Callable[[bytes], Awaitable[None]], options: LogOptions):
        self.write = write
        self.options = options
        self.sent = 0
        self.line_open: dict[str, bool] = {}  # stream -> its last entry was partial

    @property
    def full(self) -> bool:
        return self.options.limit_bytes is not None and self.sent >= self.options.limit_bytes

    async def send(self, entries: Iterable[LogEntry]) -> None:
        chunk = bytearray()
        for entry in entries:
            if self.options.timestamps and not self.line_open.get(entry.stream):
                chunk += entry.timestamp.encode() + b" "
            chunk += entry.content
            if not entry.partial:
                chunk += b"\n"
            self.line_open[entry.stream] = entry.partial
        if self.options.limit_bytes is not None:
            chunk = chunk[:max(0, self.options.limit_bytes - self.sent)]
        if chunk:
            self.sent += len(chunk)
            await self.write(bytes(chunk))


async def serve_log(path: Path, options: LogOptions, write: Callable[[bytes], Awaitable[None]],
                    still_running: Callable[[], bool]) -> None:
    """Send the log file at ``path`` through ``write`` as ``options`` say; with follow, keep sending new
    entries until the container stops (``still_running`` is false and nothing new was written)."""
    out = LogWriter(write, options)
    with open(path, "rb") as log:
        data = log.read()
        complete = data[:data.rfind(b"\n") + 1]  # a line being written is read on the next round
        offset = len(complete)
        await out.send(select(parse_entries(complete), options))
        while options.follow and not out.full:
            running = still_running()
            log.seek(offset)
            data = log.read()
            complete = data[:data.rfind(b"\n") + 1]
            offset += len(complete)
            entries = parse_entries(complete)
            if options.since_time is not None:
                entries = [e for e in entries if e.time >= options.since_time]
            await out.send(entries)
            if not running and not complete:
                return
            if not complete:
                await asyncio.sleep(FOLLOW_POLL_SECONDS)
