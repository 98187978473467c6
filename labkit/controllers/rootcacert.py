"""The root-CA publisher: every namespace has the ConfigMap ``kube-root-ca.crt``.

Pods reach the apiserver at https://kubernetes.default.svc and must verify its
certificate: the ServiceAccount admission plugin projects ``ca.crt`` from this
ConfigMap into every pod next to the token. Upstream's kube-controller-manager
runs this as ``root-ca-cert-publisher``, with the CA bundle from
``--root-ca-file`` (or, without it, the CA of its own kubeconfig).

The ConfigMap is put back when deleted and corrected when edited: its
content is the controller's, not the users'.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from labkit.api.errors import StatusError
from labkit.client.api import ApiClient
from labkit.client.informer import SharedInformerFactory
from labkit.client.workqueue import RateLimitingQueue, run_worker
from labkit.controllers.controller import ControllerContext, run_until_cancelled
from labkit.controllers.serviceaccounts import namespace_active

log = logging.getLogger(__name__)

CONFIGMAP = "kube-root-ca.crt"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
               "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
               "distributions of Kubernetes clusters.")


class RootCACertPublisher:
    name = "root-ca-cert-publisher"

    def __init__(self, client: ApiClient, informers: SharedInformerFactory, root_ca: str, workers: int = 1):
        self.client = client
        self.root_ca = root_ca
        self.workers = workers
        self.queue = RateLimitingQueue("root_ca_cert_publisher")
        self.namespaces = informers.informer("namespaces")
        self.configmaps = informers.informer("configmaps")
        self.namespaces.add_event_handler(on_add=self._namespace_changed,
                                          on_update=lambda old, new: self._namespace_changed(new))
        self.configmaps.add_event_handler(on_update=lambda old, new: self._configmap_changed(new),
                                          on_delete=self._configmap_changed)

    @classmethod
    def from_context(cls, ctx: ControllerContext) -> "RootCACertPublisher":
        return cls(ctx.client, ctx.informers, root_ca_bundle(ctx))

    def _namespace_changed(self, ns: dict[str, Any]) -> None:
        self.queue.add(ns["metadata"]["name"])

    def _configmap_changed(self, cm: dict[str, Any]) -> None:
        meta = cm.get("metadata") or {}
        if meta.get("name") == CONFIGMAP and meta.get("namespace"):
            self.queue.add(meta["namespace"])

    def wanted(self) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": CONFIGMAP, "annotations": {"kubernetes.io/description": DESCRIPTION}},
                "data": {"ca.crt": self.root_ca}}

    async def sync(self, namespace: str) -> None:
        ns = self.namespaces.get(namespace)
        if not namespace_active(ns):
            return
        current = self.configmaps.get(f"{namespace}/{CONFIGMAP}")
        try:
            if current is None:
                await self.client.create("configmaps", self.wanted(), namespace)
                log.info("published %s in namespace %s", CONFIGMAP, namespace)
                return
            if (current.get("data") or {}) == {"ca.crt": self.root_ca} and \
                    ((current["metadata"].get("annotations") or {}).get("kubernetes.io/description") == DESCRIPTION):
                return
            fixed = dict(current)
            fixed["data"] = {"ca.crt": self.root_ca}
            fixed["metadata"] = {**current["metadata"], "annotations": {
                **(current["metadata"].get("annotations") or {}), "kubernetes.io/description": DESCRIPTION}}
            fixed.pop("binaryData", None)
            await self.client.update("configmaps", fixed, namespace)
            log.info("corrected %s in namespace %s", CONFIGMAP, namespace)
        except StatusError as exc:
            # AlreadyExists / Conflict: the cache is behind, the next event brings us back;
            # Forbidden / NotFound: the namespace is being deleted.
            if exc.reason not in ("AlreadyExists", "Conflict", "Forbidden", "NotFound"):
                raise

    async def run(self) -> None:
        await self.namespaces.synced.wait()
        await self.configmaps.synced.wait()
        tasks = [asyncio.create_task(run_worker(self.queue, self.sync, "root_ca_cert_publisher"))
                 for _ in range(self.workers)]
        try:
            await run_until_cancelled(tasks)
        finally:
            self.queue.shut_down()


def root_ca_bundle(ctx: ControllerContext) -> str:
    """The PEM bundle to publish: --root-ca-file, else the CA the controller-manager itself trusts."""
    path = getattr(ctx.options, "root_ca_file", None)
    if path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise SystemExit(f"labkit-controller-manager: --root-ca-file {path}: {exc.strerror}") from None
        if "-----BEGIN CERTIFICATE-----" not in text:
            raise SystemExit(f"labkit-controller-manager: --root-ca-file {path}: no PEM certificate in it")
        return text
    ca = getattr(ctx.client.config, "ca_data", None) if hasattr(ctx.client, "config") else None
    return ca.decode() if isinstance(ca, bytes) else (ca or "")
