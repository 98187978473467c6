"""``--use-service-account-credentials``: each controller acts as a service account of its own.

Without the flag every controller uses the controller-manager's identity
(``system:kube-controller-manager``, a powerful user). With it, as upstream's
kube-controller-manager (its SAControllerClientBuilder), the controller-manager
uses its own identity only for what is shared (the informers' list+watch,
leader election) and to get each controller its credentials:

1. the service account ``kube-system/<controller>`` is read, or created
   (``namespace-controller``, ``generic-garbage-collector`` ...);
2. a token for it comes from the TokenRequest API
   (``POST .../serviceaccounts/<controller>/token``, one hour, the
   apiserver's own audiences), and is requested again when 80% of its life
   has passed;
3. the controller's client sends that token and no client certificate, so
   the apiserver sees ``system:serviceaccount:kube-system:<controller>``,
   which RBAC allows only what ``system:controller:<controller>`` grants
   (labkit/apiserver/auth/bootstrap_policy.py, upstream's controller roles).

So an audit log line names the controller that wrote, and a bug in one
controller cannot do more than its role allows.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from datetime import datetime

import aiohttp

from labkit.api.errors import StatusError
from labkit.client.api import ApiClient

log = logging.getLogger(__name__)

NAMESPACE = "kube-system"
TOKEN_SECONDS = 3600  # upstream's defaultExpirationSeconds
RENEW_AFTER = 0.8  # of a token's life: ask for the next one then
RETRY_SECONDS = (0.5, 1, 2, 5, 10)  # while the apiserver cannot give a token yet
TRANSIENT = (StatusError, aiohttp.ClientError, OSError, asyncio.TimeoutError)


@dataclasses.dataclass
class _Credential:
    account: str
    client: ApiClient
    expires: float  # epoch seconds
    issued: float


class ServiceAccountCredentials:
    """Clients that authenticate as ``kube-system/<account>``, with tokens the controller-manager requests."""

    def __init__(self, root: ApiClient, namespace: str = NAMESPACE, token_seconds: int = TOKEN_SECONDS):
        self.root = root  # the controller-manager's own identity (--kubeconfig)
        self.namespace = namespace
        self.token_seconds = token_seconds
        self.credentials: list[_Credential] = []
        self._renewals: list[asyncio.Task] = []

    async def client_for(self, account: str) -> ApiClient:
        """An ApiClient acting as the service account ``account``; its token is renewed in the background."""
        token, expires = await self._with_retries(account)
        config = dataclasses.replace(self.root.config, client_cert_data=None, client_key_data=None,
                                     token=token, token_file=None)
        client = ApiClient(config, user_agent=f"{self.root.user_agent}/{account}",
                           request_timeout=self.root.request_timeout)
        credential = _Credential(account, client, expires, time.time())
        self.credentials.append(credential)
        self._renewals.append(asyncio.create_task(self._keep_fresh(credential), name=f"token-{account}"))
        log.info("controller credentials: %s:%s (token until %s)", self.namespace, account,
                 time.strftime("%H:%M:%S", time.localtime(expires)))
        return client

    async def _with_retries(self, account: str) -> tuple[str, float]:
        """Wait for a first token as long as it takes (the apiserver may still be starting), as upstream does."""
        attempt = 0
        while True:
            try:
                return await self.token(account)
            except TRANSIENT as exc:
                delay = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
                log.warning("token for %s/%s: %s; again in %ss", self.namespace, account, exc, delay)
                await asyncio.sleep(delay)
                attempt += 1

    async def token(self, account: str) -> tuple[str, float]:
        """(token, expiry in epoch seconds) from TokenRequest, after making sure the account exists."""
        try:
            await self.root.get("serviceaccounts", account, self.namespace)
        except StatusError as exc:
            if exc.code != 404:
                raise
            try:
                await self.root.create("serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                                           "metadata": {"name": account}}, self.namespace)
            except StatusError as exc2:
                if exc2.code != 409:  # another copy of the controller-manager was faster: fine
                    raise
        review = await self.root.create(
            "serviceaccounts", {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                "spec": {"expirationSeconds": self.token_seconds}},
            self.namespace, subresource="token", name=account)
        status = review.get("status") or {}
        expires = datetime.fromisoformat(status["expirationTimestamp"].replace("Z", "+00:00")).timestamp()
        return status["token"], expires

    async def renew(self, credential: _Credential) -> None:
        """A new token for the credential's client (which reads it on its next request)."""
        token, expires = await self.token(credential.account)
        credential.client.config.token = token
        credential.issued, credential.expires = time.time(), expires

    async def _keep_fresh(self, credential: _Credential) -> None:
        while True:
            renew_at = credential.issued + RENEW_AFTER * (credential.expires - credential.issued)
            await asyncio.sleep(max(0.0, renew_at - time.time()))
            try:
                await self.renew(credential)
            except TRANSIENT as exc:
                log.warning("renewing the token of %s/%s: %s; the current one lasts until %s",
                            self.namespace, credential.account, exc,
                            time.strftime("%H:%M:%S", time.localtime(credential.expires)))
                await asyncio.sleep(RETRY_SECONDS[-1])

    async def close(self) -> None:
        for task in self._renewals:
            task.cancel()
        await asyncio.gather(*self._renewals, return_exceptions=True)
        for credential in self.credentials:
            await credential.client.close()
        self._renewals.clear()
        self.credentials.clear()
