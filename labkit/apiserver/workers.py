"""``--workers=N``: several copies of the apiserver on the same ports, so that it uses every core.

Go's kube-apiserver spreads its goroutines over all CPUs. One Python process
runs one event loop, on one CPU at a time. So labkit-apiserver binds its ports
once, then forks N workers. Each worker is a complete apiserver with its own
listening socket on the same port (``SO_REUSEPORT``: the kernel spreads new
connections over the sockets).

The workers share nothing but etcd: they are N masters behind a load balancer.
What keeps several masters correct keeps workers correct: writes are etcd
transactions with compares, and the Service IP/NodePort bitmaps live in etcd.
What a master keeps in memory (RBAC rules, namespaces, quotas, all fed by etcd
watches), each worker keeps for itself. A worker sees another one's write a few
milliseconds later, as one master sees another's.

This process, the parent, only supervises:
- it starts the workers and waits for each to report that it serves;
- a worker that dies before that ends the apiserver, with its exit code (bad
  flags, etcd never answering: the next worker would fail the same way);
- a worker that dies while serving is started again, on the same sockets, so
  the connections waiting in its queue are served by the new one;
- on SIGTERM or SIGINT it stops every worker, and kills by PID any that has
  not stopped after ``STOP_SECONDS``.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger("labkit.apiserver.workers")

STOP_SECONDS = 10.0
HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)  # what the parent handles itself
PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


@dataclass
class Listener:
    """One address the apiserver serves on: a listening socket per worker."""
    host: str
    port: int
    tls: bool
    sockets: list[socket.socket] = field(default_factory=list)


def open_listener(host: str, port: int, tls: bool, count: int, backlog: int = 1024) -> Listener:
    """``count`` listening sockets on ``host:port``; with more than one, they share the port (SO_REUSEPORT).

    The first socket is bound alone first, so that a port another program holds fails here, at
    once, with "address already in use"; and port 0 becomes one port all the sockets share.
    """
    listener = Listener(host, port, tls)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            listener.sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart while old connections linger
            if count > 1:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, listener.port))
            listener.port = sock.getsockname()[1]
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError as exc:
        close_listeners([listener])
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return listener


def close_listeners(listeners: list[Listener]) -> None:
    for listener in listeners:
        for sock in listener.sockets:
            sock.close()


@dataclass
class Worker:
    index: int
    pid: int
    ready_pipe: int  # the worker writes one byte here once it serves
    ready: bool = False


class Supervisor:
    """Forks ``count`` workers that each run ``work(index, report_ready)``, and keeps them running."""

    def __init__(self, count: int, work: Callable[[int, Callable[[], None]], int]):
        self.count = count
        self.work = work
        self.workers: dict[int, Worker] = {}  # by PID
        self.selector = selectors.DefaultSelector()
        self.stopping = False
        self.exit_code = 0

    def run(self) -> int:
        wake_read, wake_write = os.pipe()  # signals wake the select() below (PEP 475 would resume it)
        os.set_blocking(wake_read, False)
        os.set_blocking(wake_write, False)
        self.selector.register(wake_read, selectors.EVENT_READ, None)
        old_wakeup = signal.set_wakeup_fd(wake_write)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in HANDLED}
        try:
            for index in range(self.count):
                self._spawn(index)
            while self.workers and not self.stopping:
                for key, _ in self.selector.select():
                    if key.data is None:
                        _drain(wake_read)
                    else:
                        self._on_ready(key.data)
                self._reap()
            self._stop_all()
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(wake_read)
            os.close(wake_write)
        return self.exit_code

    def _on_signal(self, signum, _frame) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT) and not self.stopping:
            log.info("%s: stopping %d workers", signal.Signals(signum).name, len(self.workers))
            self.stopping = True

    def _spawn(self, index: int) -> None:
        ready_read, ready_write = os.pipe()
        parent = os.getpid()
        # Signals wait until each side has its own handlers: a SIGTERM that reached the new worker
        # before it reset the parent's handler would be taken for the parent's and lost.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the parent's code
            code = 1
            try:
                os.close(ready_read)
                self._become_worker(parent)
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

                def report_ready() -> None:
                    os.write(ready_write, b"1")
                    os.close(ready_write)

                code = self.work(index, report_ready)
            except SystemExit as exc:
                code = _exit_status(exc)
            except BaseException:  # noqa: BLE001 - a worker reports anything, then exits
                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code or 0)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        os.close(ready_write)
        worker = Worker(index, pid, ready_read)
        self.workers[pid] = worker
        self.selector.register(ready_read, selectors.EVENT_READ, worker)
        log.info("worker %d started (pid %d)", index, pid)

    def _become_worker(self, parent: int) -> None:
        signal.set_wakeup_fd(-1)
        for sig in HANDLED:
            signal.signal(sig, signal.SIG_DFL)  # the worker's event loop installs its own
        self.selector.close()
        try:  # die with the parent, even when it is killed with SIGKILL
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    def _on_ready(self, worker: Worker) -> None:
        try:
            got = os.read(worker.ready_pipe, 1)
        except BlockingIOError:
            return
        self._forget_pipe(worker)
        if got:  # b"": the worker closed the pipe by exiting; _reap tells why
            worker.ready = True
            log.info("worker %d serving (pid %d)", worker.index, worker.pid)

    def _forget_pipe(self, worker: Worker) -> None:
        if worker.ready_pipe >= 0:
            self.selector.unregister(worker.ready_pipe)
            os.close(worker.ready_pipe)
            worker.ready_pipe = -1

    def _reap(self) -> None:
        while self.workers:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            worker = self.workers.pop(pid, None)
            if worker is None:
                continue
            self._forget_pipe(worker)
            code = os.waitstatus_to_exitcode(status)
            how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
            if self.stopping:
                continue
            if not worker.ready:
                log.error("worker %d (pid %d) %s before serving: stopping the apiserver", worker.index, pid, how)
                self.exit_code = code if code > 0 else 1
                self.stopping = True
            else:
                log.warning("worker %d (pid %d) %s while serving: starting it again", worker.index, pid, how)
                self._spawn(worker.index)

    def _stop_all(self) -> None:
        for pid in self.workers:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        while self.workers and time.monotonic() < deadline:
            self._reap()  # stopping: the exited are forgotten, none started again
            time.sleep(0.05)
        for pid in list(self.workers):
            log.warning("worker %d (pid %d) did not stop in %.0f s: killing it",
                        self.workers[pid].index, pid, STOP_SECONDS)
            _signal(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            self._forget_pipe(self.workers.pop(pid))


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
    except OSError as exc:
        if exc.errno != errno.EAGAIN:
            raise


def _exit_status(exc: SystemExit) -> int:
    """What ``sys.exit(x)`` means as a process's exit status (a message is printed, then 1)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1
