"""pods/log, pods/exec, pods/attach: the apiserver's side of the streams a kubelet serves.

kubectl asks the apiserver; the apiserver does not have the bytes, the pod's
kubelet does. So the apiserver:

1. reads the pod, picks the container (the one given, else the pod's only
   container; upstream's 400 otherwise) and the pod's node (spec.nodeName);
2. reads the Node for where its kubelet listens: the first address of
   status.addresses in upstream's ``--kubelet-preferred-address-types``
   default order (Hostname, InternalDNS, InternalIP, ExternalDNS,
   ExternalIP) and status.daemonEndpoints.kubeletEndpoint.Port (10250 when
   the kubelet reported none);
3. opens HTTPS to the kubelet with its kubelet client certificate
   (``--kubelet-client-certificate``, app[KUBELET_CLIENT_TLS]), checking the
   kubelet's serving certificate against ``--kubelet-certificate-authority``:
   - log: ``GET /containerLogs/{ns}/{pod}/{container}`` with the log options
     (follow, tailLines, sinceSeconds, sinceTime, timestamps, previous,
     limitBytes); the text is streamed back as it comes, so ``logs -f`` runs
     until the client goes away;
   - exec, attach: the client's WebSocket upgrade (channel.k8s.io
     protocols, see labkit/kubelet/channels.py) is relayed: a WebSocket to
     ``/exec|/attach/{ns}/{pod}/{container}`` offering the client's
     protocols, the client is answered with the one the kubelet chose, then
     every message is copied both ways until one side closes (its close code
     and reason passed on).

Upstream's apiserver also speaks SPDY (kubectl falls back to it when a
WebSocket upgrade fails) and translates v5 WebSockets to SPDY for kubelets;
labkit's apiserver and kubelet speak the WebSocket protocols end to end. A
SPDY request gets the same checks (pod, container, node, kubelet reachable)
and then a 400 naming the protocols that work.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from urllib.parse import quote, urlencode

import aiohttp
from aiohttp import WSMsgType, web

from labkit.api import errors
from labkit.api.errors import StatusError
from labkit.api.registry import lookup
from labkit.apiserver.tls import KUBELET_CLIENT_TLS
from labkit.kubelet import channels
from labkit.kubelet.streaming import client_gone

KUBELET_PORT = 10250
# upstream's default --kubelet-preferred-address-types (a lab whose node names do not resolve sets InternalIP first)
PREFERRED_ADDRESS_TYPES = ("Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP")
# the order this apiserver uses, from --kubelet-preferred-address-types
ADDRESS_TYPES = web.AppKey("kubelet_preferred_address_types", tuple)
DIAL_TIMEOUT_SECONDS = 30  # upstream: the kubelet client's dial timeout
CLIENT_CHECK_SECONDS = 1.0  # a quiet ``logs -f`` looks this often whether its client left
LOG_OPTIONS = ("follow", "tailLines", "sinceSeconds", "sinceTime", "timestamps", "previous", "limitBytes")
STREAM_OPTIONS = ("stdin", "stdout", "stderr", "tty")
NODES = lookup("", "v1", "nodes")


async def serve(request: web.Request, info, registry) -> web.StreamResponse:
    r = info.resource  # pods: log, exec, attach are the subresources the registry routes here
    if request.method != "GET" and not (request.method == "POST" and info.subresource != "log"):
        raise errors.method_not_allowed()
    pod = await registry.get(r, info.namespace, info.name)
    container = pick_container(pod, request.query.get("container", ""))
    node_name = (pod.get("spec") or {}).get("nodeName")
    if info.subresource == "log":
        if not node_name:  # upstream: a pod not scheduled yet has no logs (an empty answer)
            return web.Response(text="", content_type="text/plain")
        host, port = await kubelet_endpoint(request, registry, node_name)
        return await proxy_log(request, pod, container, host, port)
    if not node_name:
        raise errors.bad_request(f"pod {info.name} does not have a host assigned")
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        raise errors.bad_request(f"cannot {info.subresource} into a container in a completed pod; "
                                 f"current phase is {phase}")
    host, port = await kubelet_endpoint(request, registry, node_name)
    return await proxy_stream(request, info.subresource, pod, container, host, port)


# -- which container, which kubelet -------------------------------------------------------

def pick_container(pod: dict, asked: str) -> str:
    """The container the request names, checked against the pod; without one, the pod's only container
    (kubectl itself defaults to the kubectl.kubernetes.io/default-container annotation before asking)."""
    spec = pod.get("spec") or {}
    name = (pod.get("metadata") or {}).get("name", "")
    containers = [c.get("name") for c in spec.get("containers") or []]
    others = [c.get("name") for key in ("initContainers", "ephemeralContainers") for c in spec.get(key) or []]
    if asked:
        if asked not in containers and asked not in others:
            raise errors.bad_request(f"container {asked} is not valid for pod {name}")
        return asked
    if len(containers) == 1:
        return containers[0]
    if not containers:
        raise errors.bad_request(f"a container name must be specified for pod {name}")
    message = f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
    init = [c.get("name") for c in spec.get("initContainers") or []]
    if init:
        message += f" or one of the init containers: [{' '.join(init)}]"
    raise errors.bad_request(message)


def parse_address_types(flag: str) -> tuple[str, ...]:
    """--kubelet-preferred-address-types: a comma list of NodeAddress types; a wrong one is named."""
    types = tuple(t.strip() for t in flag.split(",") if t.strip())
    for kind in types:
        if kind not in PREFERRED_ADDRESS_TYPES:
            raise ValueError(f"--kubelet-preferred-address-types: unknown address type {kind!r}: "
                             f"expected some of {', '.join(PREFERRED_ADDRESS_TYPES)}")
    if not types:
        raise ValueError("--kubelet-preferred-address-types: empty: expected some of "
                         f"{', '.join(PREFERRED_ADDRESS_TYPES)}")
    return types


def node_address(node: dict, preferred: tuple[str, ...] = PREFERRED_ADDRESS_TYPES) -> str | None:
    """The node's address of the first preferred type that it reports."""
    addresses = (node.get("status") or {}).get("addresses") or []
    for kind in preferred:
        for address in addresses:
            if address.get("type") == kind and address.get("address"):
                return address["address"]
    return None


async def kubelet_endpoint(request: web.Request, registry, node_name: str) -> tuple[str, int]:
    node = await registry.get(NODES, None, node_name)  # a missing Node is upstream's 404: nodes "x" not found
    host = node_address(node, request.app.get(ADDRESS_TYPES, PREFERRED_ADDRESS_TYPES))
    if host is None:
        raise StatusError(500, "", f'no preferred addresses found; known addresses: '
                                   f'{(node.get("status") or {}).get("addresses") or []}')
    port = (((node.get("status") or {}).get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    return host, int(port or KUBELET_PORT)


def _tls(request: web.Request) -> ssl.SSLContext:
    context = request.app.get(KUBELET_CLIENT_TLS)
    if context is None:
        raise errors.service_unavailable("this apiserver has no --kubelet-client-certificate/--kubelet-client-key: "
                                         "it cannot reach kubelets for logs, exec and attach")
    return context


def _url(scheme: str, host: str, port: int, path: str, params: list[tuple[str, str]]) -> str:
    hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return f"{scheme}://{hostport}{path}" + (f"?{urlencode(params)}" if params else "")


def dial_error(exc: BaseException, host: str, port: int) -> str:
    """How a failed connection to the kubelet reads, in the words of Go's net and tls errors."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        exc = exc.certificate_error
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"tls: failed to verify certificate: {exc.verify_message or exc}"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"remote error: tls: {getattr(exc.os_error, 'reason', None) or exc.os_error}"
    cause = getattr(exc, "os_error", None) or exc
    if isinstance(cause, ConnectionRefusedError):
        return f"dial tcp {host}:{port}: connect: connection refused"
    if isinstance(exc, asyncio.TimeoutError):
        return f"dial tcp {host}:{port}: i/o timeout"
    return f"dial tcp {host}:{port}: {getattr(cause, 'strerror', None) or cause}"


def kubelet_error(status: int, body: bytes) -> StatusError:
    """A kubelet's refusal (plain text) as the Status the apiserver answers."""
    text = body.decode(errors="replace").strip() or f"the kubelet answered {status}"
    reasons = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}
    return StatusError(status, reasons.get(status, "InternalError" if status >= 500 else ""), text)


# -- logs -----------------------------------------------------------------------------------

async def proxy_log(request: web.Request, pod: dict, container: str, host: str, port: int) -> web.StreamResponse:
    meta = pod["metadata"]
    path = f"/containerLogs/{quote(meta['namespace'], safe='')}/{quote(meta['name'], safe='')}/{quote(container)}"
    params = [(k, v) for k in LOG_OPTIONS for v in request.query.getall(k, [])]
    url = _url("https", host, port, path, params)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=DIAL_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=_tls(request)), timeout=timeout) as session:
        try:
            upstream = await session.get(url)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise StatusError(500, "", f'Get "{url}": {dial_error(exc, host, port)}') from None
        async with upstream:
            if upstream.status != 200:
                raise kubelet_error(upstream.status, await upstream.read())
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            await response.prepare(request)
            try:
                while not client_gone(request):
                    try:
                        chunk = await asyncio.wait_for(upstream.content.readany(), CLIENT_CHECK_SECONDS)
                    except asyncio.TimeoutError:
                        continue  # nothing new: is the client still there?
                    if not chunk:
                        await response.write_eof()
                        break
                    await response.write(chunk)
            except (ConnectionResetError, aiohttp.ClientPayloadError):
                pass  # the client left (``logs -f`` ended), or the kubelet did: the stream ends either way
            return response


# -- exec and attach --------------------------------------------------------------------------

async def proxy_stream(request: web.Request, subresource: str, pod: dict, container: str, host: str,
                       port: int) -> web.StreamResponse:
    meta = pod["metadata"]
    path = (f"/{subresource}/{quote(meta['namespace'], safe='')}/{quote(meta['name'], safe='')}/"
            f"{quote(container)}")
    params = [("command", v) for v in request.query.getall("command", [])] if subresource == "exec" else []
    params += [(k, v) for k in STREAM_OPTIONS for v in request.query.getall(k, [])]
    url = _url("wss", host, port, path, params)
    asked = channels.offered(request.headers.get("Sec-WebSocket-Protocol"))
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=_tls(request)),
                                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=DIAL_TIMEOUT_SECONDS))
    try:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            # SPDY (kubectl's fallback when a WebSocket upgrade failed): the same answer the kubelet gives
            raise await refusal(session, url, host, port, spdy=request.headers.get("Upgrade") or "a plain request")
        try:
            kubelet = await session.ws_connect(url, protocols=asked, autoping=True, max_msg_size=0,
                                               timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10))
        except aiohttp.WSServerHandshakeError:
            raise await refusal(session, url, host, port, offered=asked) from None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise StatusError(500, "", f"error dialing backend: {dial_error(exc, host, port)}") from None
        client = web.WebSocketResponse(protocols=(kubelet.protocol,) if kubelet.protocol else (), autoping=True,
                                       max_msg_size=0)
        await client.prepare(request)
        await relay(client, kubelet)
        return client
    finally:
        await session.close()


async def refusal(session: aiohttp.ClientSession, url: str, host: str, port: int, spdy: str = "",
                  offered: list[str] | None = None) -> StatusError:
    """Why the kubelet will not stream: asked again without the upgrade, it runs the same checks (who asks,
    which container) and says what failed; 426 means only the upgrade was missing."""
    try:
        async with session.get(url.replace("wss://", "https://", 1)) as answer:
            status, body = answer.status, await answer.read()
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        return StatusError(500, "", f"error dialing backend: {dial_error(exc, host, port)}")
    if status == 426:
        if spdy:
            return errors.bad_request(f"exec and attach are served over WebSocket only "
                                      f"({', '.join(p.name for p in channels.PROTOCOLS)}), not {spdy}")
        return errors.bad_request(f"the kubelet on {host}:{port} refused the WebSocket upgrade; protocols offered: "
                                  f"{offered or []}, known: {[p.name for p in channels.PROTOCOLS]}")
    return kubelet_error(status, body)


async def _copy(source, sink) -> tuple[int | None, str]:
    """Messages from one WebSocket to the other until ``source`` closes; its close code and reason."""
    while True:
        message = await source.receive()
        if message.type == WSMsgType.BINARY:
            await sink.send_bytes(message.data)
        elif message.type == WSMsgType.TEXT:
            await sink.send_str(message.data)
        elif message.type == WSMsgType.CLOSE:
            return message.data, message.extra or ""
        elif message.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return source.close_code, ""


async def relay(client: web.WebSocketResponse, kubelet: aiohttp.ClientWebSocketResponse) -> None:
    """Copy both ways; when one side closes, close the other with the same code and reason."""
    upward = asyncio.create_task(_copy(kubelet, client))
    downward = asyncio.create_task(_copy(client, kubelet))
    done, pending = await asyncio.wait((upward, downward), return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    code, reason = None, ""
    with contextlib.suppress(Exception):
        code, reason = done.pop().result()
    code = code or aiohttp.WSCloseCode.OK
    for side in (client, kubelet):
        with contextlib.suppress(Exception):
            await side.close(code=code, message=reason.encode())
