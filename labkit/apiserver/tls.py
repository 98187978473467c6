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


def server_context(cert_file: str | Path, key_file: str | Path, client_ca_file: str | Path | None) -> ssl.SSLContext:
    """The SSLContext of the secure port (TLS 1.2 or newer, as upstream's default minimum)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert_file), str(key_file))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"--tls-cert-file {cert_file} / --tls-private-key-file {key_file}: {exc}") from None
    if client_ca_file:
        try:
            ctx.load_verify_locations(cafile=str(client_ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"--client-ca-file {client_ca_file}: {exc}") from None
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
    try:
        ctx.load_cert_chain(str(cert_file), str(key_file))
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"--kubelet-client-certificate {cert_file} / --kubelet-client-key {key_file}: {exc}") from None
    if ca_file:
        try:
            ctx.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"--kubelet-certificate-authority {ca_file}: {exc}") from None
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
