"""A runtime of plain host processes. It stands in for containerd until the kubelet issue.

Nothing here is a container: a "container" is a host process started by
``start()`` in its own directory under the runtime's root, with no image, no
namespaces, no cgroups and the runtime's own user. What is real is what the
streaming server sees: a process with stdin/stdout/stderr, a CRI-format log
file that grows while it runs (``<root>/pods/<ns>_<pod>/<container>/0.log``,
the layout of /var/log/pods), commands executed next to it with their true
exit codes (on a real pseudo-terminal for ``exec -t``), and its live output
for ``attach``. The tests of the streams use
it; labkit's kubelet will serve the same Runtime interface from containerd
through CRI (Exec, Attach, ContainerStatus.logPath).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import signal
import struct
import termios
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from labkit.kubelet.logs import cri_line
from labkit.kubelet.runtime import ContainerNotFound, ContainerRef, ExecFailed, Output, Streams

READ_SIZE = 64 * 1024


@dataclass
class HostContainer:
    ref: ContainerRef
    directory: Path
    log_path: Path
    process: asyncio.subprocess.Process
    attached: list[Streams] = field(default_factory=list)
    pumps: list[asyncio.Task] = field(default_factory=list)


async def _copy_stdin(source: asyncio.StreamReader, sink: asyncio.StreamWriter, close_at_end: bool) -> None:
    """The client's stdin into a process's stdin; at the client's EOF the process sees EOF too."""
    try:
        while data := await source.read(READ_SIZE):
            sink.write(data)
            await sink.drain()
        if close_at_end:
            sink.close()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the process stopped reading: what it did not read is dropped, as with a pipe


async def _copy_output(source: asyncio.StreamReader, sink: Output) -> None:
    try:
        while data := await source.read(READ_SIZE):
            await sink(data)
    except OSError as exc:
        if exc.errno != errno.EIO:  # EIO: a terminal whose last user closed it, the end of its output
            raise


class Terminal:
    """A pseudo-terminal for ``exec -t``: the command's stdin, stdout and stderr, resizable by the client.
    (The command gets it as its stdio, not as its controlling terminal: no job control.)"""

    def __init__(self):
        self.master, self.slave = os.openpty()
        self.output: asyncio.StreamReader | None = None
        self.input: asyncio.StreamWriter | None = None

    def resize(self, width: int, height: int) -> None:
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

    def apply_resizes(self, sizes: asyncio.Queue) -> None:
        while not sizes.empty():
            self.resize(*sizes.get_nowait())

    async def open(self) -> None:
        """After the command started with the slave side: the master side as asyncio streams."""
        os.close(self.slave)
        loop = asyncio.get_running_loop()
        self.output = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(self.output),
                                     os.fdopen(self.master, "rb", 0))
        transport, protocol = await loop.connect_write_pipe(lambda: asyncio.StreamReaderProtocol(
            asyncio.StreamReader()), os.fdopen(os.dup(self.master), "wb", 0))
        self.input = asyncio.StreamWriter(transport, protocol, None, loop)

    async def copy_input(self, streams: Streams) -> None:
        """The client's keys into the terminal; a size change sent before them applies first."""
        while data := await streams.stdin.read(READ_SIZE):
            self.apply_resizes(streams.resize)
            self.input.write(data)
            await self.input.drain()

    async def follow_resizes(self, sizes: asyncio.Queue) -> None:
        while True:
            self.resize(*await sizes.get())
            self.apply_resizes(sizes)

    def close(self) -> None:
        if self.input is not None:
            self.input.close()


class HostProcessRuntime:
    """Host processes as containers (see the module docstring: a stand-in for containerd in tests)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.containers: dict[ContainerRef, HostContainer] = {}

    def _environment(self, directory: Path) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(directory)}

    async def start(self, ref: ContainerRef, command: list[str], *, stdin: bool = False) -> None:
        """Start the container's main process; its stdout and stderr go to the log file (and to attachers)."""
        if ref in self.containers and self.is_running(ref):
            raise ValueError(f"container {ref} is already running")
        directory = self.root / "pods" / f"{ref.namespace}_{ref.pod}" / ref.container
        directory.mkdir(parents=True, exist_ok=True)
        log_path = directory / "0.log"
        log_path.touch()  # there from the start: a log request right after start reads an empty file
        process = await asyncio.create_subprocess_exec(
            *command, cwd=directory, env=self._environment(directory),
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
        container = HostContainer(ref, directory, log_path, process)
        container.pumps = [asyncio.create_task(self._pump(container, "stdout", process.stdout)),
                           asyncio.create_task(self._pump(container, "stderr", process.stderr))]
        self.containers[ref] = container

    async def _pump(self, container: HostContainer, stream: str, source: asyncio.StreamReader) -> None:
        """One output of the main process into the log file, a CRI entry per line, and to every attacher."""
        pending = b""
        with open(container.log_path, "ab", buffering=0) as log:  # O_APPEND: the two pumps' lines never mix
            while chunk := await source.read(READ_SIZE):
                for streams in list(container.attached):
                    sink = streams.stdout if stream == "stdout" or streams.tty else streams.stderr
                    if sink is not None:
                        try:
                            await sink(chunk)
                        except (ConnectionError, RuntimeError):
                            container.attached.remove(streams)  # that client is gone
                *lines, pending = (pending + chunk).split(b"\n")
                now = datetime.now(timezone.utc)
                log.write(b"".join(cri_line(now, stream, line) for line in lines))
            if pending:
                log.write(cri_line(datetime.now(timezone.utc), stream, pending))

    def _container(self, ref: ContainerRef) -> HostContainer:
        container = self.containers.get(ref)
        if container is None:
            raise ContainerNotFound(f'container not found ("{ref.container}")')
        return container

    # -- the Runtime interface ---------------------------------------------------------

    def log_path(self, ref: ContainerRef, previous: bool = False) -> Path:
        container = self._container(ref)
        if previous:  # host processes are never restarted: there is no previous instance
            raise ContainerNotFound(f'previous terminated container "{ref.container}" in pod "{ref.pod}" not found')
        return container.log_path

    def is_running(self, ref: ContainerRef) -> bool:
        container = self.containers.get(ref)
        return container is not None and (container.process.returncode is None
                                          or not all(t.done() for t in container.pumps))

    async def exec(self, ref: ContainerRef, command: list[str], streams: Streams) -> int:
        container = self._container(ref)
        if container.process.returncode is not None:
            raise ContainerNotFound(f'container not found ("{ref.container}")')
        if not command:
            raise ExecFailed("no command given")
        pipe, devnull = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
        terminal = Terminal() if streams.tty else None
        if terminal is not None:
            terminal.apply_resizes(streams.resize)  # a size sent with the request is there from the start
            stdin = stdout = stderr = terminal.slave
        else:
            stdin = pipe if streams.stdin is not None else devnull
            stdout = pipe if streams.stdout is not None else devnull
            stderr = pipe if streams.stderr is not None else devnull
        try:
            process = await asyncio.create_subprocess_exec(
                *command, cwd=container.directory, env=self._environment(container.directory),
                stdin=stdin, stdout=stdout, stderr=stderr, start_new_session=True)
        except OSError as exc:
            if terminal is not None:
                os.close(terminal.slave)
                os.close(terminal.master)
            raise ExecFailed(f'exec: "{command[0]}": {exc.strerror or exc}') from None
        tasks, outputs = [], []
        if terminal is not None:
            await terminal.open()
            tasks.append(asyncio.create_task(terminal.follow_resizes(streams.resize)))
            if streams.stdin is not None:
                tasks.append(asyncio.create_task(terminal.copy_input(streams)))
            if streams.stdout is not None:
                outputs.append(asyncio.create_task(_copy_output(terminal.output, streams.stdout)))
        else:
            if streams.stdin is not None:
                tasks.append(asyncio.create_task(_copy_stdin(streams.stdin, process.stdin, close_at_end=True)))
            if streams.stdout is not None:
                outputs.append(asyncio.create_task(_copy_output(process.stdout, streams.stdout)))
            if streams.stderr is not None:
                outputs.append(asyncio.create_task(_copy_output(process.stderr, streams.stderr)))
        try:
            await asyncio.gather(*outputs)  # until the command (and whatever inherited its pipes) closes them
            return await process.wait()
        finally:
            for task in tasks + outputs:
                task.cancel()
            if terminal is not None:
                terminal.close()
            if process.returncode is None:  # the client left first: the command goes with it
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()

    async def attach(self, ref: ContainerRef, streams: Streams) -> None:
        container = self._container(ref)
        process = container.process
        stdin_task = None
        if streams.stdin is not None and process.stdin is not None:
            # other clients may attach after this one: its end of input does not close the process's stdin
            stdin_task = asyncio.create_task(_copy_stdin(streams.stdin, process.stdin, close_at_end=False))
        container.attached.append(streams)
        try:
            await asyncio.wait(container.pumps)  # wait, never gather: a leaving client must not cancel the pumps
            await process.wait()
        finally:
            if streams in container.attached:
                container.attached.remove(streams)
            if stdin_task is not None:
                stdin_task.cancel()

    # -- cleaning up ---------------------------------------------------------------------

    async def stop(self, ref: ContainerRef) -> None:
        container = self._container(ref)
        if container.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(container.process.pid, signal.SIGKILL)
        await container.process.wait()
        await asyncio.gather(*container.pumps, return_exceptions=True)

    async def close(self) -> None:
        """Stop every container's process (and what it started)."""
        for ref in list(self.containers):
            await self.stop(ref)
