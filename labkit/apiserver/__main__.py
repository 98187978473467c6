"""``labkit-apiserver``: the API server process, with upstream's flag names.

    labkit-apiserver --etcd-servers=http://127.0.0.1:2379 --insecure-port=8080
    labkit-apiserver --etcd-servers=https://10.0.0.11:2379,... --etcd-cafile=... \\
        --bind-address=0.0.0.0 --secure-port=6443 --service-cluster-ip-range=10.32.0.0/24

At start it makes sure what every cluster has exists (the ``default``,
``kube-system``, ``kube-public`` and ``kube-node-lease`` namespaces, and the
``kubernetes`` Service on the first IP of the service range), then serves.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from aiohttp import web

from labkit.api import registry
from labkit.api.errors import StatusError
from labkit.apiserver.admission_plugins import build_chain
from labkit.apiserver.allocators import ClusterIPAllocator, NodePortAllocator, ServiceAllocations
from labkit.apiserver.encryption import EncryptionTransformer
from labkit.apiserver.encryption import load_config as load_encryption_config
from labkit.apiserver.etcd import Etcd, EtcdUnavailable, TLSFiles
from labkit.apiserver.rest import Options, Registry
from labkit.apiserver.server import ApiServer
from labkit.apiserver.storage import Storage
from labkit.apiserver.strategy import SYSTEM_NAMESPACES

log = logging.getLogger("labkit.apiserver")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="labkit-apiserver", description="labkit's Kubernetes API server.")
    p.add_argument("--etcd-servers", required=True, help="comma-separated etcd client URLs")
    p.add_argument("--etcd-prefix", default="/registry", help="prefix of every key in etcd (default /registry)")
    p.add_argument("--etcd-cafile", help="CA bundle to verify etcd's serving certificates")
    p.add_argument("--etcd-certfile", help="client certificate for etcd (mutual TLS)")
    p.add_argument("--etcd-keyfile", help="client key for etcd (mutual TLS)")
    p.add_argument("--bind-address", default="0.0.0.0", help="address of the secure port")
    p.add_argument("--secure-port", type=int, default=6443,
                   help="HTTPS port (0 = off; TLS flags arrive with the security issue: until then off)")
    p.add_argument("--insecure-port", type=int, default=0,
                   help="plain-HTTP port on 127.0.0.1 only, for development and tests (0 = off)")
    p.add_argument("--advertise-address", default="",
                   help="this apiserver's address for the kubernetes Service's endpoints")
    p.add_argument("--service-cluster-ip-range", default="10.32.0.0/24", help="CIDR the Service IPs come from")
    p.add_argument("--service-node-port-range", default="30000-32767", help="range NodePorts come from")
    p.add_argument("--enable-admission-plugins", default="",
                   help="admission plugins to run besides the default ones (NamespaceLifecycle, LimitRanger, "
                        "ServiceAccount, DefaultTolerationSeconds, ResourceQuota); always in upstream's order")
    p.add_argument("--disable-admission-plugins", default="", help="default admission plugins to turn off")
    p.add_argument("--encryption-provider-config", default="",
                   help="EncryptionConfiguration file: how Secrets (and other listed resources) are encrypted in etcd")
    p.add_argument("-v", "--v", type=int, default=1, help="log verbosity (0-9, as upstream's klog)")
    return p


async def ensure_bootstrap_objects(reg: Registry, first_service_ip: str, secure_port: int) -> None:
    """The namespaces and the ``kubernetes`` Service every cluster has (upstream's bootstrap controller)."""
    namespaces = registry.lookup("", "v1", "namespaces")
    services = registry.lookup("", "v1", "services")
    for name in SYSTEM_NAMESPACES:
        try:
            await reg.create(namespaces, None, {"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": name}}, Options())
        except StatusError as exc:
            if exc.reason != "AlreadyExists":
                raise
    kubernetes = {"apiVersion": "v1", "kind": "Service",
                  "metadata": {"name": "kubernetes", "namespace": "default",
                               "labels": {"component": "apiserver", "provider": "kubernetes"}},
                  "spec": {"type": "ClusterIP", "clusterIP": first_service_ip, "sessionAffinity": "None",
                           "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                      "targetPort": secure_port or 6443}]}}
    # Look first: a restarted (or second, HA) apiserver finds it there, and creating it
    # again would fail on its own IP ("provided IP is already allocated"), not AlreadyExists.
    if await reg.storage.get_or_none(services, "default", "kubernetes") is not None:
        return
    try:
        await reg.create(services, "default", kubernetes, Options())
    except StatusError as exc:
        if exc.reason != "AlreadyExists":
            raise


async def serve(args: argparse.Namespace) -> None:
    servers = [s.strip() for s in args.etcd_servers.split(",") if s.strip()]
    etcd = Etcd(servers, TLSFiles(args.etcd_cafile, args.etcd_certfile, args.etcd_keyfile))
    transformer = None
    if args.encryption_provider_config:
        transformer = EncryptionTransformer(load_encryption_config(args.encryption_provider_config), args.etcd_prefix)
    storage = Storage(etcd, args.etcd_prefix, transformer=transformer)
    ips = ClusterIPAllocator(etcd, args.etcd_prefix, args.service_cluster_ip_range)
    ports = NodePortAllocator(etcd, args.etcd_prefix, args.service_node_port_range)
    admission = build_chain(storage, args.enable_admission_plugins, args.disable_admission_plugins)
    reg = Registry(storage, ServiceAllocations(ips, ports), admission)

    for attempt in range(60):  # etcd may start after us (systemd orders, but an HA restart may not)
        try:
            await ensure_bootstrap_objects(reg, ips.first, args.secure_port)
            break
        except EtcdUnavailable as exc:
            log.warning("waiting for etcd: %s", exc)
            await asyncio.sleep(1)
    else:
        raise SystemExit(f"labkit-apiserver: etcd at {args.etcd_servers} did not answer")

    async def ready():
        try:
            await etcd.status()
            return [("etcd", None)]
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return [("etcd", str(exc) or type(exc).__name__)]

    address = args.advertise_address or "127.0.0.1"
    port = args.insecure_port or args.secure_port
    server = ApiServer(reg, server_address=f"{address}:{port}", ready=ready)
    runner = web.AppRunner(server.app, access_log=None, handle_signals=False, shutdown_timeout=2)
    await runner.setup()
    sites = []
    if args.insecure_port:
        sites.append(web.TCPSite(runner, "127.0.0.1", args.insecure_port, backlog=1024))
    if not sites:
        raise SystemExit("labkit-apiserver: no port to serve on: set --insecure-port (TLS on --secure-port "
                         "comes with the security issue)")
    for site in sites:
        await site.start()
    log.info("serving on %s", ", ".join(s.name for s in sites))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await runner.cleanup()
    await etcd.close()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.v >= 4 else logging.INFO if args.v >= 1 else logging.WARNING,
                        format="%(asctime)s %(levelname).1s %(name)s: %(message)s", stream=sys.stderr)
    try:
        asyncio.run(serve(args))
    except ValueError as exc:
        print(f"labkit-apiserver: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
