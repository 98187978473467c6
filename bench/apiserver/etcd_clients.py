"""bench/apiserver/etcd_clients.py: what one etcd call costs the caller, grpcio's asyncio client against labkit's.

    .venv/bin/python bench/apiserver/etcd_clients.py [--calls 6000] [--concurrency 50] [--rounds 3]

The apiserver makes an etcd call for nearly every request, on one event loop (uvloop), so the
CPU a call costs that loop is CPU no request can have. This starts a private etcd and, in the
same run, makes the same calls through both clients, alternating, ``--rounds`` times:

- ``grpcio``: grpc.aio with etcd's generated stubs (aetcd's), the client labkit used before;
- ``labkit``: ``labkit.apiserver.etcd.Etcd`` over ``labkit.apiserver.grpc_wire``.

The calls: a ``Put`` of a ConfigMap-sized value, and the transaction a create makes ("if the
key does not exist, put; else read it"). For each it prints calls/s, and the CPU milliseconds
per call of this process (the client) and of etcd, read from /proc before and after; then the
ratio of client CPU, grpcio over labkit. The phases and CPU accounting are run.py's
(``run_concurrently``). Not a test: it prints, it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

import grpc
from aetcd import rpc

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from labkit.apiserver.etcd import Etcd  # noqa: E402
from labkit.localplane import EtcdProcess  # noqa: E402
from run import WATCHED, run_concurrently  # noqa: E402

VALUE = b"x" * 400


def create_txn(key: bytes) -> rpc.TxnRequest:
    return rpc.TxnRequest(compare=[Etcd.mod_revision_is(key, 0)], success=[Etcd.put(key, VALUE)],
                          failure=[Etcd.read(key)])


async def measure(call, calls: int, concurrency: int) -> tuple[float, float, float]:
    """(calls/s, client CPU ms per call, etcd CPU ms per call) of ``calls`` calls, ``concurrency`` at a time."""
    phase = await run_concurrently("etcd calls", concurrency, calls, lambda c, i: call(i))
    return phase.throughput, phase.cpu_ms_per_op("client"), phase.cpu_ms_per_op("etcd")


async def run(args) -> None:
    base = Path(tempfile.mkdtemp(prefix="labkit-bench-etcd-clients-"))
    etcd = EtcdProcess(data_dir=base / "etcd").start()
    WATCHED.update({"client": os.getpid(), "etcd": etcd.proc.pid})
    channel = grpc.aio.insecure_channel(etcd.endpoint.removeprefix("http://"))
    grpcio_kv = rpc.KVStub(channel)
    labkit = Etcd([etcd.endpoint])
    rounds: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    try:
        for r in range(args.rounds):
            calls = {
                ("put", "grpcio"): lambda i: grpcio_kv.Put(rpc.PutRequest(key=f"/g/{r}/{i}".encode(), value=VALUE),
                                                           timeout=10),
                ("put", "labkit"): lambda i: labkit.kv.Put(rpc.PutRequest(key=f"/l/{r}/{i}".encode(), value=VALUE)),
                ("create txn", "grpcio"): lambda i: grpcio_kv.Txn(create_txn(f"/gt/{r}/{i}".encode()), timeout=10),
                ("create txn", "labkit"): lambda i: labkit.kv.Txn(create_txn(f"/lt/{r}/{i}".encode())),
            }
            await measure(calls[("put", "grpcio")], 200, args.concurrency)  # both connected, warm
            await measure(calls[("put", "labkit")], 200, args.concurrency)
            for key, call in calls.items():
                rounds.setdefault(key, []).append(await measure(call, args.calls, args.concurrency))
    finally:
        await channel.close()
        await labkit.close()
        etcd.stop()
        shutil.rmtree(base, ignore_errors=True)

    print(f"{args.calls} calls per round, {args.concurrency} at a time, {args.rounds} rounds; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'call':12} {'client':7} {'calls/s (each round)':>28} {'client CPU ms/call':>26} {'etcd CPU ms/call':>24}")
    for (call, client), results in rounds.items():
        rates = " ".join(f"{rate:8.0f}" for rate, _, _ in results)
        cpu = " ".join(f"{ms:8.3f}" for _, ms, _ in results)
        etcd_cpu = " ".join(f"{ms:7.3f}" for _, _, ms in results)
        print(f"{call:12} {client:7} {rates:>28} {cpu:>26} {etcd_cpu:>24}")
    print()
    for call in ("put", "create txn"):
        grpcio_ms = sorted(ms for _, ms, _ in rounds[(call, "grpcio")])[args.rounds // 2]
        labkit_ms = sorted(ms for _, ms, _ in rounds[(call, "labkit")])[args.rounds // 2]
        print(f"{call}: client CPU per call, median of the rounds: grpcio {grpcio_ms:.3f} ms, labkit {labkit_ms:.3f} ms, "
              f"ratio {grpcio_ms / labkit_ms:.1f}x")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=6000, help="calls per client, call and round (default 6000)")
    p.add_argument("--concurrency", type=int, default=50, help="calls in flight at once (default 50)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, each measuring every client and call (default 3)")
    args = p.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(run(args))
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:  # the apiserver's loop
            runner.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
