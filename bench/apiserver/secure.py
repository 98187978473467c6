"""bench/apiserver/secure.py: what TLS, authentication and RBAC cost, against the insecure port, in one run.

    .venv/bin/python bench/apiserver/secure.py [--clients 50] [--scale 1.0]

One etcd and one labkit-apiserver serving both ports: the insecure port
(no TLS, no authentication, no authorization) and the secure port with
labkit.pki's certificates (generated in tmp for the ``single`` inventory),
``--authorization-mode=Node,RBAC`` and the audit log off. The ConfigMap
workload of run.py (create, get, update, list of 100, delete; 50 clients,
then 1) runs for each of three variants, twice, in the order ABCCBA (so a
drift of the machine's load weighs on all alike), each run in namespaces of
its own:

- ``insecure``: plain HTTP, nobody asked who;
- ``tls+cert``: HTTPS with the admin client certificate (system:masters,
  allowed through the cluster-admin binding of RBAC's bootstrap policy);
- ``tls+sa``: HTTPS with a service-account token (RS256 check, a read of the
  service account per request, RBAC through a ClusterRoleBinding).

Prints each phase (throughput, p50/p99, CPU ms per op of each process, of
the rest of the machine and idle), then the p99 ratio of each secure phase to
the same insecure phase against the issue's target (within 1.5x), the
apiserver's CPU per op ratio, and the CPU other sessions took per op in
each variant's phase (when they differ much, the phases did not share the
machine alike). The requests go through run.py's lean HTTP client, over TLS
with an ssl context. Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import WATCHED, Http, Phase, bench_apiserver  # noqa: E402

from labkit.localplane import ApiserverProcess, EtcdProcess  # noqa: E402
from labkit.pki.generate import generate  # noqa: E402
from labkit.provision.inventory import load_inventory  # noqa: E402

ISSUER = "https://kubernetes.default.svc.cluster.local"
TARGET = 1.5


def kubectl_json(server: ApiserverProcess, *args: str, stdin: str | None = None) -> str:
    """Setup through the insecure port with the real kubectl."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    result = subprocess.run([str(ROOT / ".venv/bin/kubectl"), f"--server={server.insecure_url}", *args],
                            capture_output=True, text=True, input=stdin, env=env, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr}")
    return result.stdout


def merge(first: Phase, second: Phase) -> Phase:
    return Phase(first.name, first.ops + second.ops, first.seconds + second.seconds,
                 first.latencies + second.latencies, first.errors + second.errors,
                 {p: first.cpu.get(p, 0.0) + second.cpu.get(p, 0.0) for p in set(first.cpu) | set(second.cpu)})


async def measure(args) -> int:
    base = Path(tempfile.mkdtemp(prefix="labkit-bench-secure-"))
    state = base / "single"
    generate(load_inventory(ROOT / "inventory" / "single.yaml"), state)
    pki = state / "pki"
    etcd = EtcdProcess(data_dir=base / "etcd").start()
    server = ApiserverProcess(etcd=etcd, log_path=base / "apiserver.log", secure=True, ca_file=pki / "ca.crt",
                              extra_args=(f"--tls-cert-file={pki / 'apiserver.crt'}",
                                          f"--tls-private-key-file={pki / 'apiserver.key'}",
                                          f"--client-ca-file={pki / 'ca.crt'}",
                                          f"--service-account-key-file={pki / 'sa.pub'}",
                                          f"--service-account-signing-key-file={pki / 'sa.key'}",
                                          f"--service-account-issuer={ISSUER}",
                                          "--authorization-mode=Node,RBAC")).start()
    WATCHED.update({"apiserver": server.proc.pid, "etcd": etcd.proc.pid, "bench": os.getpid()})
    ops = max(100, int(2000 * args.scale))
    list_ops = max(50, int(500 * args.scale))
    runs: dict[str, list] = {}
    try:
        kubectl_json(server, "create", "serviceaccount", "bench", "-n", "default")
        kubectl_json(server, "create", "clusterrolebinding", "bench-admin", "--clusterrole=cluster-admin",
                     "--serviceaccount=default:bench")
        token = kubectl_json(server, "create", "token", "bench", "-n", "default", "--duration=2h").strip()
        print(f"labkit-apiserver {server.insecure_url} and {server.url} on etcd {etcd.endpoint}; "
              f"{args.clients} clients, {ops} ops per phase; load average before: {os.getloadavg()[0]:.1f}")

        def tls(cert: str | None = None) -> ssl.SSLContext:
            ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
            if cert:
                ctx.load_cert_chain(str(pki / f"{cert}.crt"), str(pki / f"{cert}.key"))
            return ctx

        def http(variant: str) -> Http | None:
            if variant == "insecure":
                return None
            if variant == "tls+cert":
                return Http(server.url, args.clients, ssl=tls("admin"))
            return Http(server.url, args.clients, ssl=tls(), headers={"Authorization": f"Bearer {token}"})

        # ABCCBA: each variant once early and once late, so a drift of the machine (or etcd's growth)
        # during the run weighs on all three alike; a variant's two runs are merged per phase.
        for round_, variant in enumerate(("insecure", "tls+cert", "tls+sa", "tls+sa", "tls+cert", "insecure")):
            url = server.insecure_url if variant == "insecure" else server.url
            phases = await bench_apiserver(url, args.clients, ops, list_ops, http(variant),
                                           ns=f"bench-{round_}", label=variant)
            runs[variant] = [merge(a, b) for a, b in zip(runs[variant], phases)] if variant in runs else phases
    finally:
        server.stop()
        etcd.stop()
        log = server.log()
        if "Traceback" in log:
            print(log[-4000:], file=sys.stderr)
        shutil.rmtree(base, ignore_errors=True)

    print(f"load average after: {os.getloadavg()[0]:.1f} (on {os.cpu_count()} CPUs)")
    print()
    print(Phase.header())
    for phases in runs.values():
        for phase in phases:
            print(phase.line())
    print()
    print(f"{'p99 secure / insecure':<34} {'tls+cert':>10} {'tls+sa':>10}   (target: within {TARGET}x)")
    worst = worst_cpu = 0.0
    for i, plain in enumerate(runs["insecure"]):
        what = plain.name.removeprefix("insecure ")
        ratios = [runs[v][i].percentile(99) / plain.percentile(99) for v in ("tls+cert", "tls+sa")]
        cpu = [runs[v][i].cpu_ms_per_op("apiserver") / max(plain.cpu_ms_per_op("apiserver"), 1e-9)
               for v in ("tls+cert", "tls+sa")]
        # The CPU other sessions took per operation in the three phases: when they differ much, the
        # phases did not share the machine alike and their p99s are not comparable.
        others = " / ".join(f"{runs[v][i].cpu_ms_per_op('others'):.3f}" for v in ("insecure", "tls+cert", "tls+sa"))
        worst, worst_cpu = max(worst, *ratios), max(worst_cpu, *cpu)
        print(f"{what:<34} {ratios[0]:>9.2f}x {ratios[1]:>9.2f}x   apiserver CPU/op {cpu[0]:.2f}x {cpu[1]:.2f}x"
              f"   others' CPU ms/op {others}")
    print(f"\n{'PASS' if worst <= TARGET else 'MISS'}  worst p99 ratio {worst:.2f}x (target {TARGET}x; "
          f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: with more load than CPUs, p99 is "
          "mostly noise)")
    print(f"{'PASS' if worst_cpu <= TARGET else 'MISS'}  worst apiserver CPU per op ratio {worst_cpu:.2f}x "
          "(what TLS, authentication and RBAC cost the server itself; other load hardly moves it)")
    errors = sum(p.errors for phases in runs.values() for p in phases)
    if errors:
        print(f"\n{errors} operations failed (see stderr)")
    return 0 if errors == 0 else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=50, help="concurrent clients per phase (default 50)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply the operations per phase (default 1.0)")
    return asyncio.run(measure(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
