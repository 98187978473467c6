"""``labkit-apiserver``: the API server process, with upstream's flag names.

    labkit-apiserver --etcd-servers=http://127.0.0.1:2379 --insecure-port=8080
    labkit-apiserver --etcd-servers=https://10.0.0.11:2379,... --etcd-cafile=... \\
        --bind-address=0.0.0.0 --secure-port=6443 --service-cluster-ip-range=10.32.0.0/24

At start it makes sure what every cluster has exists (the ``default``,
``kube-system``, ``kube-public`` and ``kube-node-lease`` namespaces, and the
``kubernetes`` Service on the first IP of the service range), then serves.

With ``--workers=N`` the ports are bound once and N copies of the apiserver
serve them, one per CPU at most (labkit/apiserver/workers.py tells how).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import socket
import sys
from typing import Callable

from aiohttp import web

from labkit.api import registry
from labkit.api.errors import StatusError
from labkit.apiserver import kubelet_proxy
from labkit.apiserver.admission_plugins import build_chain, register_plugin
from labkit.apiserver.auth.node import NodeRestriction
from labkit.apiserver.allocators import ClusterIPAllocator, NodePortAllocator, ServiceAllocations
from labkit.apiserver.encryption import EncryptionTransformer
from labkit.apiserver.encryption import load_config as load_encryption_config
from labkit.apiserver.etcd import Etcd, EtcdUnavailable, TLSFiles
from labkit.apiserver.rest import Options, Registry
from labkit.apiserver.server import ApiServer
from labkit.apiserver.storage import Storage
from labkit.apiserver.strategy import SYSTEM_NAMESPACES
from labkit.apiserver.workers import Listener, Supervisor, close_listeners, open_listener

MAX_HEADER_BYTES = 1 << 20  # Go's http.DefaultMaxHeaderBytes, upstream's limit
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
                   help="HTTPS port, served with --tls-cert-file/--tls-private-key-file (0 = off)")
    p.add_argument("--insecure-port", type=int, default=0,
                   help="plain-HTTP port on 127.0.0.1 only, for development and tests (0 = off)")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="processes serving the same ports, each a whole apiserver on the same etcd (labkit's own "
                        "flag: Go's apiserver uses every CPU by itself, a Python process one; default 1)")
    p.add_argument("--advertise-address", default="",
                   help="this apiserver's address for the kubernetes Service's endpoints")
    p.add_argument("--event-ttl", type=parse_duration, default=3600,
                   help="how long events are kept after their last write, e.g. 1h, 30m, 90s (default 1h; 0: forever)")
    p.add_argument("--service-cluster-ip-range", default="10.32.0.0/24", help="CIDR the Service IPs come from")
    p.add_argument("--service-node-port-range", default="30000-32767", help="range NodePorts come from")
    p.add_argument("--enable-admission-plugins", default="",
                   help="admission plugins to run besides the default ones (NamespaceLifecycle, LimitRanger, "
                        "ServiceAccount, DefaultTolerationSeconds, ResourceQuota); always in upstream's order")
    p.add_argument("--disable-admission-plugins", default="", help="default admission plugins to turn off")
    p.add_argument("--default-not-ready-toleration-seconds", type=int, default=300,
                   help="tolerationSeconds DefaultTolerationSeconds gives pods for node.kubernetes.io/not-ready")
    p.add_argument("--default-unreachable-toleration-seconds", type=int, default=300,
                   help="tolerationSeconds DefaultTolerationSeconds gives pods for node.kubernetes.io/unreachable")
    p.add_argument("--encryption-provider-config", default="",
                   help="EncryptionConfiguration file: how Secrets (and other listed resources) are encrypted in etcd")
    # -- TLS and authentication (labkit/apiserver/tls.py, auth/authn.py) --
    p.add_argument("--tls-cert-file", default="", help="serving certificate of the secure port (PEM)")
    p.add_argument("--tls-private-key-file", default="", help="private key of --tls-cert-file")
    p.add_argument("--client-ca-file", default="",
                   help="CA bundle: a client certificate it signed authenticates as CN (user) and O (groups)")
    p.add_argument("--token-auth-file", default="", help='static bearer tokens, CSV: token,user,uid,"group1,group2"')
    p.add_argument("--anonymous-auth", type=parse_bool, default=True, metavar="true|false",
                   help="requests without credentials are system:anonymous (default true); false: 401")
    p.add_argument("--service-account-key-file", action="append", default=[],
                   help="PEM public (or private) keys that verify service-account tokens (repeatable; "
                        "default: the signing key)")
    p.add_argument("--service-account-signing-key-file", default="",
                   help="private key that signs service-account tokens (TokenRequest)")
    p.add_argument("--service-account-issuer", action="append", default=[],
                   help="iss of the tokens this apiserver signs (the first) and accepts (all; repeatable)")
    p.add_argument("--api-audiences", default="",
                   help="comma-separated audiences a token must be for (default: the service-account issuers)")
    p.add_argument("--service-account-jwks-uri", default="",
                   help="jwks_uri of /.well-known/openid-configuration (default: this server's /openid/v1/jwks)")
    p.add_argument("--service-account-extend-token-expiration", type=parse_bool, default=True, metavar="true|false",
                   help="pod-bound tokens asked for 3607 s (the kubelet's) are signed for a year, with warnafter")
    p.add_argument("--service-account-max-token-expiration", type=parse_duration, default=0,
                   help="longest validity a TokenRequest gets, e.g. 48h (default: as asked)")
    p.add_argument("--authorization-mode", default="AlwaysAllow",
                   help="comma-separated authorizers, asked in order: AlwaysAllow, AlwaysDeny, Node, RBAC")
    # -- audit log (labkit/apiserver/audit.py) --
    p.add_argument("--audit-log-path", default="", help="file of one JSON audit event per request ('-': stdout)")
    p.add_argument("--audit-policy-file", default="",
                   help="audit.k8s.io/v1 Policy: which requests are recorded (default: all, at Metadata level)")
    p.add_argument("--audit-log-maxsize", type=int, default=0, help="megabytes before the log is rotated (0: never)")
    p.add_argument("--audit-log-maxbackup", type=int, default=0, help="rotated files kept (0: all)")
    p.add_argument("--audit-log-maxage", type=int, default=0, help="days rotated files are kept (0: forever)")
    # -- apiserver to kubelet (pods/log, exec, attach): stored for the kubelet connection --
    p.add_argument("--kubelet-client-certificate", default="", help="client certificate towards kubelets")
    p.add_argument("--kubelet-client-key", default="", help="key of --kubelet-client-certificate")
    p.add_argument("--kubelet-certificate-authority", default="", help="CA that signed the kubelets' serving certs")
    p.add_argument("--kubelet-preferred-address-types", default=",".join(kubelet_proxy.PREFERRED_ADDRESS_TYPES),
                   help="which Node address to dial a kubelet at, in order of preference")
    p.add_argument("-v", "--v", type=int, default=1, help="log verbosity (0-9, as upstream's klog)")
    return p


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def parse_bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def parse_duration(text: str) -> int:
    """Seconds of a Go-style duration: 3600, 90s, 30m, 48h, 1h30m."""
    import re
    if text.isdigit():
        return int(text)
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text)
    if not text or parts is None:
        raise argparse.ArgumentTypeError(f"not a duration (like 48h, 30m, 90s): {text!r}")
    hours, minutes, seconds = (int(g or 0) for g in parts.groups())
    return hours * 3600 + minutes * 60 + seconds


def build_authentication(args: argparse.Namespace, reg: Registry):
    """The authenticator of the secure port, and the TokenRequest issuer (None without a signing key)."""
    from labkit.apiserver.auth import authn, tokenrequest, tokens

    issuers = [i for i in args.service_account_issuer if i]
    audiences = [a.strip() for a in args.api_audiences.split(",") if a.strip()] or issuers
    key_files = args.service_account_key_file or ([args.service_account_signing_key_file]
                                                  if args.service_account_signing_key_file else [])
    service_accounts = None
    if key_files:
        if not issuers:
            raise ValueError("--service-account-issuer is required with --service-account-key-file or "
                             "--service-account-signing-key-file")
        public_keys = [key for path in key_files for key in tokens.load_public_keys(path)]
        service_accounts = authn.ServiceAccountTokens(public_keys, issuers, audiences, reg.storage)
    issuer = None
    if args.service_account_signing_key_file:
        issuer = tokenrequest.TokenIssuer(tokens.load_signing_key(args.service_account_signing_key_file), issuers[0],
                                          audiences, reg.storage, args.service_account_max_token_expiration,
                                          args.service_account_extend_token_expiration)
    authenticator = authn.RequestAuthenticator(
        x509=authn.X509Authenticator(args.client_ca_file) if args.client_ca_file else None,
        token_file=authn.TokenFile.load(args.token_auth_file) if args.token_auth_file else None,
        service_accounts=service_accounts)
    tokenrequest.register(reg, issuer, tokenrequest.Reviews(authenticator))
    return authenticator


def build_authorizers(args: argparse.Namespace, reg: Registry) -> list:
    """The authorizers of --authorization-mode, in its order; RBAC also guards RBAC writes against escalation.

    The reviews (``kubectl auth can-i``) ask the same authorizers in the same order.
    """
    from labkit.apiserver.auth import ALLOW
    from labkit.apiserver.auth.always import AlwaysAllow, AlwaysDeny, PrivilegedGroups
    from labkit.apiserver.auth.escalation import RBACEscalationCheck
    from labkit.apiserver.auth.node import NodeAuthorizer
    from labkit.apiserver.auth.rbac import RBACAuthorizer, RBACStore
    from labkit.apiserver.auth.reviews import Reviews, evaluate

    known = {"AlwaysAllow": AlwaysAllow, "AlwaysDeny": AlwaysDeny,
             "Node": lambda: NodeAuthorizer(reg.storage), "RBAC": lambda: RBACAuthorizer(RBACStore(reg.storage))}
    out = []
    modes = [m.strip() for m in args.authorization_mode.split(",") if m.strip()]
    if len(set(modes)) != len(modes):
        raise ValueError(f"--authorization-mode {args.authorization_mode!r} has mode specified more than once")
    for mode in modes:
        if mode not in known:
            raise ValueError(f"--authorization-mode: unknown mode {mode!r} (known: {', '.join(known)})")
        out.append(known[mode]())
    if not out:
        raise ValueError("--authorization-mode: at least one mode is needed")
    out.insert(0, PrivilegedGroups("system:masters"))  # before every mode, as upstream
    async def authorize(attrs) -> tuple[bool, str]:  # the escalate and bind verbs, asked like any request
        decision, reason = await evaluate(out, attrs)
        return decision == ALLOW, reason

    for authorizer in out:
        if isinstance(authorizer, RBACAuthorizer):
            reg.admission.plugins.append(RBACEscalationCheck(authorize, authorizer.resolver))
    Reviews(out).register(reg)
    return out


async def start_authorizers(reg: Registry, authorizers: list) -> None:
    """Write upstream's bootstrap roles and bindings, then fill RBAC's in-memory store (before serving)."""
    from labkit.apiserver.auth import bootstrap_policy
    from labkit.apiserver.auth.rbac import RBACAuthorizer

    await bootstrap_policy.reconcile(reg)
    for authorizer in authorizers:
        if isinstance(authorizer, RBACAuthorizer):
            await authorizer.store.start()


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
    except StatusError:
        # Another apiserver starting at the same time made it first: its IP is then taken
        # (422), or its name (409). Anything else, and a Service still missing, is an error.
        if await reg.storage.get_or_none(services, "default", "kubernetes") is None:
            raise


def open_listeners(args: argparse.Namespace) -> list[Listener]:
    """The apiserver's ports, a listening socket per worker: bound before any worker starts."""
    wanted = []  # what is missing (no port, no TLS files) is refused by serve(), after the other flags
    if args.insecure_port:
        wanted.append(("127.0.0.1", args.insecure_port, False))
    if args.secure_port and args.tls_cert_file and args.tls_private_key_file:
        wanted.append((args.bind_address, args.secure_port, True))
    listeners: list[Listener] = []
    try:
        for host, port, secure in wanted:
            listeners.append(open_listener(host, port, secure, args.workers))
    except OSError:
        close_listeners(listeners)
        raise
    return listeners


async def serve(args: argparse.Namespace, sockets: list[tuple[Listener, socket.socket]],
                report_ready: Callable[[], None] | None = None) -> None:
    """One apiserver (the process, or one worker of ``--workers``) serving on ``sockets``."""
    servers = [s.strip() for s in args.etcd_servers.split(",") if s.strip()]
    etcd = Etcd(servers, TLSFiles(args.etcd_cafile, args.etcd_certfile, args.etcd_keyfile))
    transformer = None
    if args.encryption_provider_config:
        transformer = EncryptionTransformer(load_encryption_config(args.encryption_provider_config), args.etcd_prefix)
    storage = Storage(etcd, args.etcd_prefix, transformer=transformer, ttls={"events": args.event_ttl})
    ips = ClusterIPAllocator(etcd, args.etcd_prefix, args.service_cluster_ip_range)
    ports = NodePortAllocator(etcd, args.etcd_prefix, args.service_node_port_range)
    register_plugin("NodeRestriction", NodeRestriction)  # lives with the Node authorizer
    admission = build_chain(storage, args.enable_admission_plugins, args.disable_admission_plugins,
                            toleration_seconds=(args.default_not_ready_toleration_seconds,
                                                args.default_unreachable_toleration_seconds))
    reg = Registry(storage, ServiceAllocations(ips, ports), admission)

    authenticator = build_authentication(args, reg)
    from labkit.apiserver import audit, tls
    from labkit.apiserver.auth import Gate, oidc

    authorizers = build_authorizers(args, reg)
    gate = Gate(authenticator, authorizers, anonymous=args.anonymous_auth,
                skip_ports=(args.insecure_port,) if args.insecure_port else ())
    ssl_context = None
    if args.secure_port:
        if not (args.tls_cert_file and args.tls_private_key_file):
            raise ValueError("--secure-port needs --tls-cert-file and --tls-private-key-file (labkit.pki makes "
                             "apiserver.crt/.key); --secure-port=0 turns it off")
        ssl_context = tls.server_context(args.tls_cert_file, args.tls_private_key_file, args.client_ca_file)
    address_types = kubelet_proxy.parse_address_types(args.kubelet_preferred_address_types)
    kubelet_tls = None  # checked now, used by pods/log|exec|attach
    if args.kubelet_client_certificate or args.kubelet_client_key:
        kubelet_tls = tls.kubelet_client_context(args.kubelet_client_certificate, args.kubelet_client_key,
                                                 args.kubelet_certificate_authority)
    audit_log = audit.AuditLog.from_flags(args.audit_log_path, args.audit_log_maxsize, args.audit_log_maxbackup,
                                          args.audit_log_maxage, insecure_ports=gate.skip_ports,
                                          policy_file=args.audit_policy_file) \
        if args.audit_log_path else None

    for attempt in range(60):  # etcd may start after us (systemd orders, but an HA restart may not)
        try:
            await ensure_bootstrap_objects(reg, ips.first, args.secure_port)
            await start_authorizers(reg, authorizers)
            await admission.start()  # admission's watch-fed copies (namespaces, quotas), listed before serving
            break
        except EtcdUnavailable as exc:
            log.warning("waiting for etcd: %s", exc)
            await asyncio.sleep(1)
    else:
        raise SystemExit(f"labkit-apiserver: etcd at {args.etcd_servers} did not answer")

    async def ready():
        try:
            # A linearizable read, as upstream's etcd check (2 s, its --etcd-readycheck-timeout):
            # a member that answers but belongs to no quorum cannot commit anything.
            await etcd.revision(timeout=2.0)
            return [("etcd", None)]
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return [("etcd", str(exc) or type(exc).__name__)]

    # What startup built (resource tables, schemas, OpenAPI documents) lives as long as the process: leave it
    # out of the cyclic garbage collector's scans, and let it look at new objects less often. A request's
    # objects are freed by reference counting anyway; the collector's passes took ~6% of the CPU per request.
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 100)

    address = args.advertise_address or "127.0.0.1"
    port = args.secure_port if ssl_context is not None else args.insecure_port
    server = ApiServer(reg, server_address=f"{address}:{port}", ready=ready, gate=gate,
                       extra_middlewares=(audit_log.middleware,) if audit_log else ())
    server.app[kubelet_proxy.ADDRESS_TYPES] = address_types
    if kubelet_tls is not None:
        server.app[tls.KUBELET_CLIENT_TLS] = kubelet_tls
    if audit_log is not None:
        audit_log.install(server.app)
    accounts = authenticator.service_accounts
    if accounts is not None and oidc.is_discoverable(accounts.issuers[0]):  # service-account issuer discovery
        jwks_uri = args.service_account_jwks_uri or f"https://{address}:{args.secure_port}{oidc.JWKS_PATH}"
        oidc.IssuerDiscovery(accounts.issuers[0], accounts.public_keys, jwks_uri).add_routes(server.app)
    # Request line and header fields up to 1 MiB, as Go's server (aiohttp's default, 8 KiB, cuts long URLs short).
    runner = web.AppRunner(server.app, access_log=None, handle_signals=False, shutdown_timeout=2,
                           max_line_size=MAX_HEADER_BYTES, max_field_size=MAX_HEADER_BYTES)
    await runner.setup()
    if not sockets:
        raise ValueError("no port to serve on: set --secure-port (with TLS files) or --insecure-port")
    sites = [web.SockSite(runner, sock, ssl_context=ssl_context if listener.tls else None, backlog=1024)
             for listener, sock in sockets]
    for site in sites:
        await site.start()
    log.info("serving on %s", ", ".join(s.name for s in sites))
    if report_ready is not None:
        report_ready()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await runner.cleanup()
    await admission.stop()
    if audit_log is not None:
        audit_log.close()
    await etcd.close()


def run_event_loop(main_coroutine) -> None:
    """Run the server on uvloop (libuv's event loop: 10-15% less CPU per request) when it is installed.

    Only this process's own loop changes: nothing sets a global event loop policy, so code that
    imports the apiserver into another loop (tests under pytest-asyncio) keeps asyncio's.
    """
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_coroutine)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main_coroutine)


def run_worker(args: argparse.Namespace, listeners: list[Listener], index: int = 0,
               report_ready: Callable[[], None] | None = None) -> int:
    """Serve on each listener's socket number ``index``; the process's exit status."""
    mine = [(listener, listener.sockets[index]) for listener in listeners]
    for listener in listeners:  # the other workers' sockets: not this one's to hold
        for sock in listener.sockets:
            if sock is not listener.sockets[index]:
                sock.close()
    try:
        run_event_loop(serve(args, mine, report_ready))
    except ValueError as exc:
        print(f"labkit-apiserver: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    process = " [%(process)d]" if args.workers > 1 else ""
    logging.basicConfig(level=logging.DEBUG if args.v >= 4 else logging.INFO if args.v >= 1 else logging.WARNING,
                        format=f"%(asctime)s %(levelname).1s %(name)s{process}: %(message)s", stream=sys.stderr)
    try:
        listeners = open_listeners(args)
    except (ValueError, OSError) as exc:
        print(f"labkit-apiserver: {exc}", file=sys.stderr)
        return 2
    if args.workers == 1:
        return run_worker(args, listeners)
    try:
        return Supervisor(args.workers, lambda index, ready: run_worker(args, listeners, index, ready)).run()
    finally:
        close_listeners(listeners)


if __name__ == "__main__":
    sys.exit(main())
