"""A secure labkit-apiserver for the security tests: TLS, client CA, service-account keys, a token file.

The certificates are the real ones labkit.pki generates for the ``single``
inventory (in tmp): the apiserver serves apiserver.crt (SAN 127.0.0.1),
trusts ca.crt for client certificates, signs service-account tokens with
sa.key. Every server gets an etcd of its own and also keeps the insecure
port (127.0.0.1 only) for setting things up without credentials.
The fixtures using this are in conftest.py.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from labkit.localplane import ApiserverProcess, EtcdProcess
from labkit.pki.generate import generate
from labkit.provision.inventory import load_inventory

REPO = Path(__file__).resolve().parents[3]
KUBECTL = str(REPO / ".venv/bin/kubectl")
ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass
class SecurityLab:
    """A generated PKI (labkit.pki, ``single`` inventory) and a static token file."""

    state: Path  # the lab's state directory: pki/, kubeconfigs/
    token_file: Path
    static_tokens: dict[str, dict]  # token -> {"user", "uid", "groups"}

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    def token_of(self, user: str) -> str:
        return next(t for t, u in self.static_tokens.items() if u["user"] == user)


def make_security_lab(base: Path) -> SecurityLab:
    """labkit.pki's certificates for the ``single`` inventory, and two static token users (alice, bob)."""
    state = base / "single"
    generate(load_inventory(REPO / "inventory" / "single.yaml"), state)
    static = {
        secrets.token_hex(16): {"user": "alice", "uid": "1001", "groups": ["developers", "testers"]},
        secrets.token_hex(16): {"user": "bob", "uid": "1002", "groups": []},
    }
    token_file = state / "tokens.csv"
    token_file.write_text("".join(f'{t},{u["user"]},{u["uid"]},"{",".join(u["groups"])}"\n'
                                  for t, u in static.items()))
    token_file.chmod(0o600)
    return SecurityLab(state, token_file, static)


@dataclass
class SecureApiserver:
    lab: SecurityLab
    base: Path
    etcd: EtcdProcess
    process: ApiserverProcess
    audit_log: Path | None = None
    _configs: int = field(default=0, repr=False)

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def insecure_url(self) -> str:
        return self.process.insecure_url

    def log(self) -> str:
        return self.process.log()

    def kubeconfig(self, identity: str = "admin", dest: Path | None = None) -> Path:
        """A copy of a generated kubeconfig (admin, kubelet-worker-1, kube-scheduler ...) pointed at this server."""
        doc = yaml.safe_load((self.lab.state / "kubeconfigs" / f"{identity}.kubeconfig").read_text())
        doc["clusters"][0]["cluster"]["server"] = self.url
        return self._write_config(doc, dest)

    def token_kubeconfig(self, token: str, dest: Path | None = None) -> Path:
        """A kubeconfig that trusts the lab CA and authenticates with a bearer token only."""
        doc = {"apiVersion": "v1", "kind": "Config", "current-context": "t",
               "clusters": [{"name": "t", "cluster": {"server": self.url,
                                                      "certificate-authority": str(self.lab.pki / "ca.crt")}}],
               "users": [{"name": "t", "user": {"token": token}}],
               "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t"}}]}
        return self._write_config(doc, dest)

    def anonymous_kubeconfig(self, dest: Path | None = None) -> Path:
        """A kubeconfig that trusts the lab CA and shows no credentials at all."""
        doc = {"apiVersion": "v1", "kind": "Config", "current-context": "a",
               "clusters": [{"name": "a", "cluster": {"server": self.url,
                                                      "certificate-authority": str(self.lab.pki / "ca.crt")}}],
               "users": [{"name": "a", "user": {}}],
               "contexts": [{"name": "a", "context": {"cluster": "a", "user": "a"}}]}
        return self._write_config(doc, dest)

    def _write_config(self, doc: dict, dest: Path | None) -> Path:
        if dest is None:
            self._configs += 1
            home = self.base / f"kube-{self._configs}"
            home.mkdir()
            dest = home / "config"
        dest.write_text(yaml.safe_dump(doc))
        dest.chmod(0o600)
        return dest

    def kubectl(self, kubeconfig: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        """The real kubectl with ``kubeconfig``; its cache goes next to the kubeconfig, not into the real home."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("KUBECONFIG", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")}
        env["HOME"] = str(kubeconfig.parent)
        return subprocess.run([KUBECTL, f"--kubeconfig={kubeconfig}", "--request-timeout=30s", *args],
                              capture_output=True, text=True, env=env, timeout=90, input=input)

    def client(self, identity: str | None = "admin", token: str | None = None):
        """An official Python client ApiClient: with a generated identity's certificate, or a bearer token."""
        import kubernetes

        config = kubernetes.client.Configuration()
        config.host = self.url
        config.ssl_ca_cert = str(self.lab.pki / "ca.crt")
        if token is not None:
            config.api_key = {"authorization": f"Bearer {token}"}
        elif identity is not None:
            config.cert_file = str(self.lab.pki / f"{identity}.crt")
            config.key_file = str(self.lab.pki / f"{identity}.key")
        return kubernetes.client.ApiClient(config)

    def insecure_client(self):
        """A Python client on the insecure port (no authentication, no authorization): for setup."""
        import kubernetes

        config = kubernetes.client.Configuration()
        config.host = self.insecure_url
        return kubernetes.client.ApiClient(config)

    def stop(self) -> None:
        self.process.stop()
        self.etcd.stop()
        log = self.log()
        if "Traceback" in log:
            print(f"--- secure apiserver log (tracebacks found)\n{log[-8000:]}")


def start_secure_apiserver(lab: SecurityLab, base: Path, *, authorization_mode: str = "AlwaysAllow",
                           anonymous: bool = True, audit: bool = True, extra_args: tuple[str, ...] = (),
                           insecure: bool = True) -> SecureApiserver:
    """An apiserver with TLS, the client CA, service-account keys and the token file, on an etcd of its own."""
    if shutil.which("etcd") is None:
        pytest.fail("etcd is not installed: run `bash scripts/bootstrap.sh setup`")
    pki = lab.pki
    etcd = EtcdProcess(data_dir=base / "etcd-data").start()
    audit_log = base / "audit" / "audit.log" if audit else None
    args = [f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-account-issuer={ISSUER}",
            f"--token-auth-file={lab.token_file}",
            f"--anonymous-auth={'true' if anonymous else 'false'}",
            f"--authorization-mode={authorization_mode}",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            f"--kubelet-certificate-authority={pki / 'ca.crt'}"]
    if audit_log is not None:
        args.append(f"--audit-log-path={audit_log}")
    process = ApiserverProcess(etcd=etcd, log_path=base / "apiserver.log", secure=True, insecure=insecure,
                               ca_file=pki / "ca.crt", extra_args=(*args, *extra_args))
    try:
        process.start()
    except BaseException:
        process.stop()
        etcd.stop()
        raise
    return SecureApiserver(lab, base, etcd, process, audit_log)
