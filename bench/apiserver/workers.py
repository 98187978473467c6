"""bench/apiserver/workers.py: creates through labkit-apiserver with --workers=1 and with --workers=N, in one run.

    .venv/bin/python bench/apiserver/workers.py [--workers 2] [--rounds 4] [--clients 50] [--ops 4000]

One etcd, two apiservers on it (one with one worker, one with ``--workers``),
both started before measuring; then rounds of: raw etcd puts (the reference
of run.py's ratio), creates through the one-worker apiserver, creates through
the N-worker one. Alternating within each round weighs a change of the
machine's background load on every side alike.

Prints, per phase, throughput, latency, and CPU per operation of the
apiserver (all its workers), etcd, this client, and what stayed idle or was
stolen by the hypervisor. It is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import run as bench  # noqa: E402
from labkit.localplane import ApiserverProcess, EtcdProcess  # noqa: E402


async def measure(args) -> int:
    base = Path(tempfile.mkdtemp(prefix="labkit-bench-workers-"))
    etcd = EtcdProcess(data_dir=base / "etcd").start()
    servers = {1: ApiserverProcess(etcd=etcd, log_path=base / "one.log").start(),
               args.workers: ApiserverProcess(etcd=etcd, log_path=base / "many.log",
                                              extra_args=(f"--workers={args.workers}",)).start()}
    http = {workers: bench.Http(server.url, args.clients) for workers, server in servers.items()}
    errors = 0
    try:
        await http[1].call(0, "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                              "metadata": {"name": "bench"}}, 201)
        await asyncio.sleep(0.5)  # the namespace reaches every worker's admission copy
        print(f"etcd {etcd.endpoint}; {args.clients} clients, {args.ops} ops per phase; "
              f"load average before: {os.getloadavg()[0]:.1f}")
        bench.WATCHED.update({"apiserver": 0, "etcd": etcd.proc.pid, "bench": os.getpid()})
        print(bench.Phase.header())
        for r in range(args.rounds):
            bench.WATCHED["apiserver"] = servers[1].proc.pid  # idle during the raw phase: charged nothing
            puts = [p for p in await bench.bench_etcd(etcd.endpoint, args.clients, args.ops, suffix=f" r{r}")
                    if "put" in p.name]
            phases = puts
            for workers, server in servers.items():
                bench.WATCHED["apiserver"] = server.proc.pid

                async def create(c: int, i: int, workers=workers) -> None:
                    await http[workers].call(c, "POST", "/api/v1/namespaces/bench/configmaps",
                                             bench.configmap(f"w{workers}-r{r}-{i}"), 201)

                phases.append(await bench.run_concurrently(f"create, {workers} worker(s) r{r}", args.clients,
                                                           args.ops, create))
            for phase in phases:
                print(phase.line())
                errors += phase.errors
    finally:
        for client in http.values():
            await client.close()
        for server in servers.values():
            server.stop()
        etcd.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0 if errors == 0 else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="workers of the second apiserver")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--ops", type=int, default=4000, help="operations per phase")
    args = p.parse_args()
    if args.workers < 2:
        p.error("--workers must be at least 2: the first apiserver already has one")
    return asyncio.run(measure(args))


if __name__ == "__main__":
    sys.exit(main())
