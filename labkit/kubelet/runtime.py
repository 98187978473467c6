"""What the kubelet's streaming server needs from a container runtime.

Upstream's kubelet asks the runtime over CRI: ``Exec``/``Attach`` (the
runtime's own streaming server then carries the bytes) and
``ContainerStatus`` (whose ``logPath`` names the container's log file, which
the kubelet reads itself). labkit keeps the same split in a smaller shape:
the runtime runs a command in a container, or connects to a container's main
process, with the streams given to it; the kubelet serves the log file.

The kubelet issue plugs containerd in here (cri_api.v1 over containerd's
socket). Until then, labkit/kubelet/host_runtime.py stands in for tests.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, Protocol

Output = Callable[[bytes], Awaitable[None]]  # writes a chunk to the client


@dataclass(frozen=True)
class ContainerRef:
    namespace: str
    pod: str
    container: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.pod}/{self.container}"


@dataclass
class Streams:
    """The client's side of an exec or attach. A stream the client did not ask for is None."""

    stdin: asyncio.StreamReader | None = None  # at EOF when the client closes its stdin
    stdout: Output | None = None
    stderr: Output | None = None  # None with a tty: the terminal merges stderr into stdout
    tty: bool = False
    resize: asyncio.Queue[tuple[int, int]] = field(default_factory=asyncio.Queue)  # (width, height)


class ContainerNotFound(Exception):
    """The runtime has no such container (the kubelet answers 404)."""


class ExecFailed(Exception):
    """The command could not be started at all (no such program ...): not an exit code."""


class Runtime(Protocol):
    def log_path(self, ref: ContainerRef, previous: bool = False) -> Path:
        """The container's log file in the CRI format (raises ContainerNotFound)."""

    def is_running(self, ref: ContainerRef) -> bool:
        """Whether the container still runs (``logs -f`` follows until it does not)."""

    async def exec(self, ref: ContainerRef, command: list[str], streams: Streams) -> int:
        """Run ``command`` in the container, connected to ``streams``; its exit code
        (raises ContainerNotFound, ExecFailed)."""

    async def attach(self, ref: ContainerRef, streams: Streams) -> None:
        """Connect ``streams`` to the container's main process (its output from now on, and its stdin)
        until the process exits; the server cancels it when the client leaves (raises ContainerNotFound)."""
