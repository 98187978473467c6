"""The secure port's TLS: the serving certificate, and client certificates checked against the client CA.

``--tls-cert-file``/``--tls-private-key-file`` are what the apiserver shows
its clients (labkit.pki's apiserver.crt: SANs for every master, the load
balancer, 10.32.0.1 and the kubernetes.default.svc names).

``--client-ca-file`` makes a client certificate *optional but checked*: a
client may come with no certificate (then a bearer token or anonymous), but a
certificate it shows must chain to that CA, be within its validity and allow
client authentication. Python's ssl module checks this during the handshake,
so a stranger's or an expired certificate ends the connection with a TLS
alert (``unknown ca``, ``certificate expired``) before any HTTP is spoken;
upstream's Go server finishes the handshake and answers 401. Either way the
request never reaches the API and nothing is written.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from aiohttp import web

# Where the server keeps the context for kubelet connections (request.app[KUBELET_CLIENT_TLS]).
KUBELET_CLIENT_TLS = web.AppKey("kubelet_client_tls", ssl.SSLContext)


def _load_pair(ctx: ssl.SSLContext, cert_file, key_file, cert_flag: str, key_flag: str) -> None:
    """Load a certificate and its key; a problem names both flags and files."""
    try:
        ctx.load_cert_chain(str(cert_file), str(key_file))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"{cert_flag} {cert_file} / {key_flag} {key_file}: {exc}") from None


def _load_ca(ctx: ssl.SSLContext, ca_file, flag: str) -> None:
    try:
        ctx.load_verify_locations(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"{flag} {ca_file}: {exc}") from None


def server_context(cert_file: str | Path, key_file: str | Path, client_ca_file: str | Path | None) -> ssl.SSLContext:
    """The SSLContext of the secure port (TLS 1.2 or newer, as upstream's default minimum)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_pair(ctx, cert_file, key_file, "--tls-cert-file", "--tls-private-key-file")
    if client_ca_file:
        _load_ca(ctx, client_ca_file, "--client-ca-file")
        ctx.verify_mode = ssl.CERT_OPTIONAL  # ask for a certificate; check it when one comes
    ctx.set_alpn_protocols(["http/1.1"])  # aiohttp speaks HTTP/1.1; kubectl offers h2 and http/1.1
    return ctx


def kubelet_client_context(cert_file: str | Path, key_file: str | Path, ca_file: str | Path | None) -> ssl.SSLContext:
    """How the apiserver talks to kubelets (pods/log, exec, attach): its client certificate
    (--kubelet-client-certificate/--kubelet-client-key, labkit.pki's apiserver-kubelet-client) and the CA
    the kubelets' serving certificates must chain to (--kubelet-certificate-authority; none: not verified,
    as upstream without the flag)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_pair(ctx, cert_file, key_file, "--kubelet-client-certificate", "--kubelet-client-key")
    if ca_file:
        _load_ca(ctx, ca_file, "--kubelet-certificate-authority")
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
