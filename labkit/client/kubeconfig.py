"""Where the apiserver is and who we are: kubeconfig and in-cluster config.

A kubeconfig (``~/.kube/config``, ``$KUBECONFIG`` or ``--kubeconfig``) lists
*clusters* (a server URL and the CA that signs its certificate), *users*
(a client certificate and key, or a bearer token) and *contexts* that pair a
cluster with a user and a default namespace. ``current-context`` says which
pair is in use. This module reads one context into a ``ConnectionConfig``:
everything :class:`labkit.client.api.ApiClient` needs to open connections.

Inside a pod there is no kubeconfig: the kubelet mounts the service account's
token and the cluster CA under ``/var/run/secrets/kubernetes.io/serviceaccount``
and the environment names the apiserver (``KUBERNETES_SERVICE_HOST``/``PORT``);
:func:`in_cluster_config` reads that.

This module only reads kubeconfigs; labkit.pki writes them.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ConfigError(Exception):
    """The kubeconfig (or in-cluster environment) cannot be used; the message says why."""


@dataclass
class ConnectionConfig:
    """How to reach one apiserver as one user."""

    server: str  # e.g. "https://10.32.0.1:443" or "http://127.0.0.1:8080"
    namespace: str = "default"
    ca_data: bytes | None = None  # PEM of the CA that signed the server's certificate
    client_cert_data: bytes | None = None  # PEM
    client_key_data: bytes | None = None  # PEM
    token: str | None = None
    token_file: str | None = None  # re-read on every connection (tokens rotate)
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None
    context_name: str | None = None

    @property
    def is_https(self) -> bool:
        return self.server.startswith("https://")

    def bearer_token(self) -> str | None:
        if self.token_file:
            return Path(self.token_file).read_text().strip()
        return self.token

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS settings for an https server (None for plain http)."""
        if not self.is_https:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if self.insecure_skip_tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_data:
            ctx.load_verify_locations(cadata=self.ca_data.decode())
        if self.client_cert_data and self.client_key_data:
            # ssl only loads a key pair from files: write them to a private
            # temporary directory for the moment it takes, then remove them.
            with tempfile.TemporaryDirectory(prefix="labkit-client-") as tmp:
                cert = Path(tmp) / "client.crt"
                key = Path(tmp) / "client.key"
                cert.write_bytes(self.client_cert_data)
                key.touch(mode=0o600)
                key.write_bytes(self.client_key_data)
                ctx.load_cert_chain(str(cert), str(key))
        return ctx


def default_kubeconfig_path() -> str:
    """``$KUBECONFIG`` (its first existing entry) or ``~/.kube/config``, as kubectl does."""
    env = os.environ.get("KUBECONFIG")
    if env:
        entries = [p for p in env.split(os.pathsep) if p]
        for p in entries:
            if Path(p).expanduser().exists():
                return str(Path(p).expanduser())
        if entries:
            return str(Path(entries[0]).expanduser())
    return str(Path("~/.kube/config").expanduser())


def load_kubeconfig(path: str | os.PathLike | None = None, context: str | None = None) -> ConnectionConfig:
    """Read ``context`` (default: current-context) of the kubeconfig at ``path``."""
    path = str(path) if path else default_kubeconfig_path()
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"kubeconfig {path}: cannot read it: {exc.strerror or exc}") from None
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        # Name the place, never quote the line: a kubeconfig line may hold key data.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"kubeconfig {path}: not valid YAML{where}: {problem}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"kubeconfig {path}: expected a mapping at the top, got {type(doc).__name__}")
    return config_from_dict(doc, context=context, base_dir=Path(path).parent, source=path)


def _named(doc: dict[str, Any], section: str, name: str, source: str) -> dict[str, Any]:
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            key = section[:-1]  # clusters -> cluster
            return entry.get(key) or {}
    raise ConfigError(f"kubeconfig {source}: no {section[:-1]} named {name!r} in {section}")


def _pem(section: dict[str, Any], data_key: str, file_key: str, base_dir: Path, source: str) -> bytes | None:
    """A PEM given inline (``*-data``, base64) or as a file path (relative to the kubeconfig)."""
    if section.get(data_key):
        try:
            return base64.b64decode(section[data_key], validate=True)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"kubeconfig {source}: {data_key} is not valid base64: {exc}") from None
    if section.get(file_key):
        file = Path(section[file_key]).expanduser()
        if not file.is_absolute():
            file = base_dir / file
        try:
            return file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"kubeconfig {source}: {file_key} {file}: {exc.strerror or exc}") from None
    return None


def config_from_dict(doc: dict[str, Any], context: str | None = None, base_dir: Path = Path("."),
                     source: str = "<kubeconfig>") -> ConnectionConfig:
    """The ConnectionConfig of one context of an already parsed kubeconfig."""
    context_name = context or doc.get("current-context")
    if not context_name:
        raise ConfigError(f"kubeconfig {source}: no context given and current-context is not set")
    ctx = _named(doc, "contexts", context_name, source)
    cluster_name = ctx.get("cluster")
    if not cluster_name:
        raise ConfigError(f"kubeconfig {source}: context {context_name!r} names no cluster")
    cluster = _named(doc, "clusters", cluster_name, source)
    user = _named(doc, "users", ctx["user"], source) if ctx.get("user") else {}

    server = cluster.get("server")
    if not server or not str(server).startswith(("http://", "https://")):
        raise ConfigError(
            f"kubeconfig {source}: cluster {cluster_name!r} needs a server URL starting with "
            f"http:// or https://, got {server!r}"
        )
    token_file = user.get("tokenFile")
    if token_file and not Path(token_file).is_absolute():
        token_file = str(base_dir / token_file)
    cfg = ConnectionConfig(
        server=str(server).rstrip("/"),
        namespace=ctx.get("namespace") or "default",
        ca_data=_pem(cluster, "certificate-authority-data", "certificate-authority", base_dir, source),
        client_cert_data=_pem(user, "client-certificate-data", "client-certificate", base_dir, source),
        client_key_data=_pem(user, "client-key-data", "client-key", base_dir, source),
        token=user.get("token"),
        token_file=token_file,
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
        tls_server_name=cluster.get("tls-server-name"),
        context_name=context_name,
    )
    if bool(cfg.client_cert_data) != bool(cfg.client_key_data):
        raise ConfigError(
            f"kubeconfig {source}: user {ctx.get('user')!r} has a client certificate without a key "
            "or a key without a certificate"
        )
    return cfg


def in_cluster_config(sa_dir: Path = SERVICE_ACCOUNT_DIR, environ: dict[str, str] | None = None) -> ConnectionConfig:
    """The config of a process running in a pod: service account token, cluster CA, service env."""
    env = os.environ if environ is None else environ
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError(
            "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set"
        )
    token_path, ca_path = Path(sa_dir) / "token", Path(sa_dir) / "ca.crt"
    if not token_path.exists():
        raise ConfigError(f"in-cluster config: service account token {token_path} does not exist")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    namespace_file = Path(sa_dir) / "namespace"
    return ConnectionConfig(
        server=f"https://{host}:{port}",
        namespace=namespace_file.read_text().strip() if namespace_file.exists() else "default",
        ca_data=ca_path.read_bytes() if ca_path.exists() else None,
        token_file=str(token_path),
    )


def load_config(kubeconfig: str | None = None, context: str | None = None) -> ConnectionConfig:
    """What a component does with its ``--kubeconfig`` flag: that file, else in-cluster, else the default."""
    if kubeconfig:
        return load_kubeconfig(kubeconfig, context)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return in_cluster_config()
    return load_kubeconfig(None, context)
