"""pods/log, pods/exec, pods/attach: the apiserver's side of the streams a kubelet serves.

kubectl asks the apiserver; the apiserver finds the pod's node and forwards the
request to that node's kubelet, authenticating with its kubelet client
certificate (``--kubelet-client-certificate``, kept as app[KUBELET_CLIENT_TLS]).
Until that connection exists, these answer upstream's errors: 400 for a pod
with no node, 503 otherwise.
"""

from __future__ import annotations

from aiohttp import web

from labkit.api import errors


async def serve(request: web.Request, info, registry) -> web.StreamResponse:
    r = info.resource
    obj = await registry.get(r, info.namespace, info.name)
    if r.kind == "Pod":
        node = (obj.get("spec") or {}).get("nodeName")
        if not node:
            raise errors.bad_request(f"pod {info.name} does not have a host assigned")
        raise errors.service_unavailable(
            f'{r.plural}/{info.subresource}: the kubelet on node "{node}" cannot be reached through this '
            f"apiserver yet (the apiserver-to-kubelet connection comes with labkit's kubelet)")
    raise errors.service_unavailable(f"{r.plural}/{info.subresource} is not served by this apiserver yet")
