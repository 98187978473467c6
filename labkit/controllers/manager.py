"""labkit-controller-manager: every controller of the cluster in one process.

Upstream's kube-controller-manager, in the same shape:

- one API client and one set of shared informers (one list+watch per
  resource, however many controllers read it);
- the controllers named by ``--controllers`` (default ``*``: all of them;
  ``-name`` turns one off), each built from the :data:`CONTROLLERS` table;
- ``--use-service-account-credentials``: each controller acts as its own
  service account ``kube-system/<controller>`` (see credentials.py), the
  process's own identity only lists, watches and elects the leader;
- leader election on the Lease ``kube-system/kube-controller-manager``
  (``--leader-elect``, on by default): on a three-master lab, three copies
  run, one leads, the others wait to take over;
- ``/healthz`` on ``--port`` (plain http, 127.0.0.1 only) while TLS serving
  (``--secure-port``) comes with the security work.

To add a controller: write ``labkit/controllers/<name>.py`` with a class
whose ``from_context(ctx)`` builds it and whose ``run()`` runs it, and add a
row to CONTROLLERS (with its ``--concurrent-*-syncs`` flag if it has workers).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from labkit.client.api import ApiClient
from labkit.client.informer import SharedInformerFactory
from labkit.client.kubeconfig import ConfigError, load_config
from labkit.client.leaderelection import LeaderElector
from labkit.controllers.clusterroleaggregation import ClusterRoleAggregationController
from labkit.controllers.controller import ControllerContext
from labkit.controllers.credentials import ServiceAccountCredentials
from labkit.controllers.garbagecollector import GarbageCollector
from labkit.controllers.namespace import NamespaceController
from labkit.controllers.resourcequota import ResourceQuotaController
from labkit.controllers.rootcacert import RootCACertPublisher
from labkit.controllers.serviceaccounts import ServiceAccountsController

log = logging.getLogger("labkit.controller-manager")


@dataclass(frozen=True)
class ControllerSpec:
    build: Callable[[ControllerContext], object]  # returns an object with async run()
    service_account: str  # kube-system/<this> with --use-service-account-credentials (upstream's name)
    workers_flag: str | None = None  # e.g. "--concurrent-gc-syncs"
    default_workers: int = 1


# The controllers labkit has, under upstream's names (kube-controller-manager --controllers).
CONTROLLERS: dict[str, ControllerSpec] = {
    "garbagecollector": ControllerSpec(GarbageCollector.from_context, "generic-garbage-collector",
                                       "--concurrent-gc-syncs", 20),
    "namespace": ControllerSpec(NamespaceController.from_context, "namespace-controller",
                                "--concurrent-namespace-syncs", 10),
    "serviceaccount": ControllerSpec(ServiceAccountsController.from_context, "service-account-controller"),
    "root-ca-cert-publisher": ControllerSpec(RootCACertPublisher.from_context, "root-ca-cert-publisher"),
    "resourcequota": ControllerSpec(ResourceQuotaController.from_context, "resourcequota-controller",
                                    "--concurrent-resource-quota-syncs", 5),
    "clusterrole-aggregation": ControllerSpec(ClusterRoleAggregationController.from_context,
                                              "clusterrole-aggregation-controller"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="labkit-controller-manager",
                                description="Runs labkit's controllers against the apiserver.")
    p.add_argument("--kubeconfig", default=None,
                   help="kubeconfig of the controller-manager's user (default: in-cluster, then $KUBECONFIG)")
    p.add_argument("--controllers", default="*",
                   help="comma-separated controllers to run: '*' for all, 'name' to add, '-name' to remove. "
                        f"Known: {', '.join(CONTROLLERS)}")
    p.add_argument("--use-service-account-credentials", default=False, type=_bool, nargs="?", const=True,
                   metavar="BOOL", help="run each controller as its own service account kube-system/<controller> "
                                        "(tokens from TokenRequest); the kubeconfig's user only lists, watches "
                                        "and elects the leader (default false)")
    p.add_argument("--leader-elect", default=True, type=_bool, nargs="?", const=True, metavar="BOOL",
                   help="elect a leader among copies before running controllers (default true)")
    p.add_argument("--leader-elect-lease-duration", default=15.0, type=_duration, metavar="DURATION")
    p.add_argument("--leader-elect-renew-deadline", default=10.0, type=_duration, metavar="DURATION")
    p.add_argument("--leader-elect-retry-period", default=2.0, type=_duration, metavar="DURATION")
    p.add_argument("--leader-elect-resource-namespace", default="kube-system")
    p.add_argument("--leader-elect-resource-name", default="kube-controller-manager")
    p.add_argument("--bind-address", default="127.0.0.1",
                   help="address of the health endpoint (plain http is only allowed on loopback)")
    p.add_argument("--port", default=0, type=int,
                   help="plain-http port for /healthz on 127.0.0.1 (0 = off)")
    p.add_argument("--secure-port", default=0, type=int,
                   help="https port for /healthz (0 = off; TLS serving is not implemented yet)")
    p.add_argument("--min-resync-period", default=0.0, type=_duration, metavar="DURATION",
                   help="informer resync period (0 = never)")
    p.add_argument("--resource-quota-sync-period", default=300.0, type=_duration, metavar="DURATION",
                   help="how often every quota's usage is recounted (default 5m)")
    p.add_argument("--root-ca-file", default=None,
                   help="CA bundle published as kube-root-ca.crt in every namespace (default: the kubeconfig's CA)")
    p.add_argument("-v", "--v", default=0, type=int, help="log verbosity (0 info, 4+ debug)")
    for name, spec in CONTROLLERS.items():
        if spec.workers_flag:
            p.add_argument(spec.workers_flag, default=spec.default_workers, type=int,
                           help=f"workers of the {name} controller (default {spec.default_workers})")
    args = p.parse_args(argv)
    if args.secure_port:
        p.error("--secure-port: TLS serving is not implemented yet; use --port for plain http on 127.0.0.1")
    if args.port and args.bind_address not in ("127.0.0.1", "localhost", "::1"):
        p.error(f"--bind-address {args.bind_address}: plain http is only served on loopback")
    try:
        args.enabled_controllers = enabled_controllers(args.controllers)
    except ValueError as exc:
        p.error(str(exc))
    return args


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _duration(text: str) -> float:
    """Go-style durations as upstream flags take them: 15s, 500ms, 1m, 1m30s (or bare seconds)."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    try:
        return float(text)
    except ValueError:
        pass
    total, number = 0.0, ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else ch
        if unit not in units or not number:
            raise argparse.ArgumentTypeError(f"invalid duration {text!r} (examples: 15s, 500ms, 1m30s)")
        total += float(number) * units[unit]
        number = ""
        i += len(unit)
    if number:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: {number!r} has no unit")
    return total


def enabled_controllers(spec: str) -> list[str]:
    """'*' = all; 'a,b' = those; '*,-a' = all but a."""
    enabled: list[str] = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        name = item.lstrip("-")
        if item == "*":
            enabled += [n for n in CONTROLLERS if n not in enabled]
        elif name not in CONTROLLERS:
            raise ValueError(f"--controllers: unknown controller {name!r} (known: {', '.join(CONTROLLERS)})")
        elif item.startswith("-"):
            enabled = [n for n in enabled if n != name]
        elif name not in enabled:
            enabled.append(name)
    return enabled


class ControllerManager:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.client = ApiClient(load_config(args.kubeconfig), user_agent="labkit-controller-manager")
        self.identity = f"{socket.gethostname()}_{uuid.uuid4()}"
        self.elector: LeaderElector | None = None
        self.leading = asyncio.Event()

    async def run_controllers(self) -> None:
        """Build the enabled controllers on shared informers and run them until cancelled."""
        informers = SharedInformerFactory(self.client, self.args.min_resync_period)  # shared: our own identity
        credentials = ServiceAccountCredentials(self.client) if self.args.use_service_account_credentials else None
        tasks: list[asyncio.Task] = []
        try:
            controllers = []
            for name in self.args.enabled_controllers:
                spec = CONTROLLERS[name]
                client = await credentials.client_for(spec.service_account) if credentials else self.client
                controllers.append(spec.build(ControllerContext(client, informers, self.args)))
            informers.start()
            log.info("started controllers: %s", ", ".join(self.args.enabled_controllers))
            self.leading.set()
            tasks = [asyncio.create_task(c.run(), name=c.name) for c in controllers]
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await informers.stop()
            if credentials is not None:
                await credentials.close()
            self.leading.clear()

    async def healthz_server(self) -> web.AppRunner | None:
        if not self.args.port:
            return None

        async def healthz(request: web.Request) -> web.Response:
            return web.Response(text="ok")

        async def leader(request: web.Request) -> web.Response:
            # Not an upstream endpoint: tells a learner (and the tests) who this copy is.
            return web.json_response({"identity": self.identity, "leading": self.leading.is_set()})

        app = web.Application()
        app.router.add_get("/healthz", healthz)
        app.router.add_get("/livez", healthz)
        app.router.add_get("/leader", leader)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, self.args.bind_address, self.args.port).start()
        return runner

    async def run(self) -> int:
        runner = await self.healthz_server()
        try:
            if not self.args.leader_elect:
                await self.run_controllers()
                return 0
            self.elector = LeaderElector(
                self.client, self.args.leader_elect_resource_namespace, self.args.leader_elect_resource_name,
                self.identity,
                lease_duration=self.args.leader_elect_lease_duration,
                renew_deadline=self.args.leader_elect_renew_deadline,
                retry_period=self.args.leader_elect_retry_period,
                on_started_leading=self.run_controllers,
                on_new_leader=lambda who: log.info("new leader elected: %s", who),
            )
            await self.elector.run()
            # Like upstream: a copy that lost its lease exits, and its supervisor restarts it.
            log.error("leaderelection lost")
            return 1
        finally:
            if runner is not None:
                await runner.cleanup()
            await self.client.close()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.v >= 4 else logging.INFO,
                        format="%(asctime)s %(levelname).1s %(name)s: %(message)s")
    try:
        manager = ControllerManager(args)
    except ConfigError as exc:
        sys.exit(f"labkit-controller-manager: {exc}")

    async def serve() -> int:
        task = asyncio.create_task(manager.run())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await task
        except asyncio.CancelledError:
            log.info("shutting down")
            return 0

    sys.exit(asyncio.run(serve()))


if __name__ == "__main__":
    main()
