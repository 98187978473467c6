"""The secure port's TLS: the serving certificate; client certificates asked for, judged by the x509 authenticator.

``--tls-cert-file``/``--tls-private-key-file`` are what the apiserver shows
its clients (labkit.pki's apiserver.crt: SANs for every master, the load
balancer, 10.32.0.1 and the kubernetes.default.svc names).

With ``--client-ca-file`` the server asks every client for a certificate but
does not judge it during the handshake, as upstream's Go server does
(``tls.RequestClientCert``): a client may come with none (then a bearer
token, or anonymous), and a certificate it shows is checked afterwards by the
x509 authenticator (labkit/apiserver/auth/authn.py) against the client CA:
signature chain, validity window, extended key usage clientAuth. A
stranger's, an expired or a server-only certificate thus gets upstream's
answer, ``401 Unauthorized`` (kubectl: "You must be logged in to the server
(Unauthorized)"), instead of a TLS alert before any HTTP is spoken. The
handshake still proves that the client holds the certificate's private key
(TLS's CertificateVerify message is checked whatever the verify mode).

Why a hook through ctypes: Python 3.11's ssl has no "ask for a certificate,
verify nothing" mode. ``CERT_OPTIONAL`` sends OpenSSL's SSL_VERIFY_PEER and
then verifies against the loaded CAs, aborting the handshake on any error;
``CERT_NONE`` does not ask at all; no verify flag accepts a failed chain.
Other ways were weighed: pyOpenSSL's Context.set_verify can do it, but
asyncio/aiohttp only speak ``ssl.SSLContext``; terminating TLS elsewhere
(a proxy) would move the client identity out of the apiserver. So
``accept_any_client_certificate`` installs OpenSSL's documented
``SSL_CTX_set_cert_verify_callback`` on the context's own SSL_CTX: the
application's callback replaces OpenSSL's chain verification, and ours
accepts (the authenticator verifies). The SSL_CTX pointer is read from the
Python object (``SSL_CTX *ctx`` is the first field after PyObject_HEAD of
CPython's PySSLContext, unchanged since 2.7); before using it, the hook
checks that it is the right one (the library's version equals
``ssl.OPENSSL_VERSION_NUMBER``; SSL_CTX_get_options and
SSL_CTX_get_verify_mode read back what the Python object says). If any of
that does not hold (another Python, another layout), nothing is patched: the
context keeps the handshake check of the client CA (the stricter, older
behaviour: a TLS alert instead of 401), and a warning says so.

What this must not weaken: on this context ``peercert`` (the decoded
certificate asyncio offers) is **not verified**; only the x509
authenticator's verification makes a certificate a user, and a certificate
that fails it is 401, never anonymous (a valid bearer token sent with it
still authenticates, as upstream's union of authenticators does).
One limit: Python 3.11 cannot show the intermediates a client sends
(``get_unverified_chain`` comes with 3.13), so a client certificate must be
signed by a certificate of ``--client-ca-file`` itself, as labkit.pki's are.
"""

from __future__ import annotations

import ctypes
import logging
import ssl
from pathlib import Path

from aiohttp import web

log = logging.getLogger("labkit.apiserver.tls")

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
        ctx.verify_mode = ssl.CERT_OPTIONAL  # ask for a certificate (OpenSSL's SSL_VERIFY_PEER) ...
        if not accept_any_client_certificate(ctx):  # ... and leave its verification to the x509 authenticator
            log.warning("cannot hook OpenSSL's certificate verification on this Python: client certificates are "
                        "checked in the TLS handshake (a bad one ends the connection instead of a 401)")
            _load_ca(ctx, client_ca_file, "--client-ca-file")
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


# int (*cb)(X509_STORE_CTX *, void *arg): 1 = the chain is accepted (the x509 authenticator verifies it).
_CERT_VERIFY_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_ACCEPT_ANY = _CERT_VERIFY_CALLBACK(lambda store_ctx, arg: 1)  # module-level: lives as long as the contexts
_SSL_VERIFY_PEER = 0x01


def _libssl():
    """The OpenSSL that Python's _ssl module uses (dlsym on its handle searches its dependencies)."""
    import _ssl

    lib = ctypes.CDLL(getattr(_ssl, "__file__", None))  # None: _ssl is built into the interpreter
    lib.OpenSSL_version_num.restype = ctypes.c_ulong
    lib.SSL_CTX_get_options.restype = ctypes.c_uint64
    lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
    lib.SSL_CTX_get_verify_mode.restype = ctypes.c_int
    lib.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
    lib.SSL_CTX_set_cert_verify_callback.restype = None
    lib.SSL_CTX_set_cert_verify_callback.argtypes = [ctypes.c_void_p, _CERT_VERIFY_CALLBACK, ctypes.c_void_p]
    return lib


def accept_any_client_certificate(ctx: ssl.SSLContext) -> bool:
    """Make ``ctx`` (verify_mode CERT_OPTIONAL) accept any client certificate in the handshake; False: not done.

    See the module docstring for why and how this is safe: the certificate is verified by the x509
    authenticator, and everything about the pointer is checked before it is used.
    """
    import sys
    import _ssl

    if sys.implementation.name != "cpython" or not isinstance(ctx, _ssl._SSLContext) or \
            ctx.verify_mode != ssl.CERT_OPTIONAL:
        return False
    try:
        lib = _libssl()
        if lib.OpenSSL_version_num() != ssl.OPENSSL_VERSION_NUMBER:
            return False
        ssl_ctx = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value  # PySSLContext.ctx
        if not ssl_ctx:
            return False
        if lib.SSL_CTX_get_options(ssl_ctx) != ctx.options or lib.SSL_CTX_get_verify_mode(ssl_ctx) != _SSL_VERIFY_PEER:
            return False
        lib.SSL_CTX_set_cert_verify_callback(ssl_ctx, _ACCEPT_ANY, None)
    except (OSError, AttributeError, ValueError):  # no such library or symbol
        return False
    return True
