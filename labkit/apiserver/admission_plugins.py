"""The admission plugins after NamespaceLifecycle, and the ``--enable-admission-plugins`` table.

Each plugin is upstream's, reduced to what labkit serves (see admission.py for
the two phases). In upstream's order:

- **LimitRanger** (both phases, pods on create; LimitRanges from a watch-fed
  copy): a LimitRange of type
  ``Container`` gives containers the requests and limits they leave out
  (``defaultRequest``, ``default``), then ``min``, ``max`` and
  ``maxLimitRequestRatio`` of ``Container`` and ``Pod`` items are enforced.
- **ServiceAccount** (mutating, pods on create; accounts from a watch-fed
  copy): the pod runs as
  ``default`` unless it names an account, the account must exist, and unless
  ``automountServiceAccountToken: false`` it gets the projected volume
  ``kube-api-access-<5 random>`` (a bound token, the cluster CA from the
  ``kube-root-ca.crt`` ConfigMap, the namespace) mounted in every container at
  /var/run/secrets/kubernetes.io/serviceaccount.
- **DefaultTolerationSeconds** (mutating, pods): pods tolerate the
  ``not-ready`` and ``unreachable`` NoExecute taints for 300 s, so they are
  evicted five minutes after their node goes away, not at once.
- **ResourceQuota** (validating, creates and deletes): what a new object adds
  to each quota of its namespace (pods, requests.cpu, count/secrets ...) is
  checked against ``spec.hard`` (403 ``exceeded quota: ...``), and the quota's
  ``status.used`` is written in the same etcd transaction as the object, so
  two creates racing for the last slot cannot both win; a delete gives the
  usage back the same way. Which quotas exist comes from a watch-fed copy
  (no etcd read in a namespace without quotas); a quota that applies is read
  fresh from etcd.

NodeRestriction lives with the authorizers; it joins this table with
:func:`register_plugin`.
"""

from __future__ import annotations

import asyncio
import copy
import random
import time
from decimal import Decimal
from typing import Any, Callable

from labkit.api import errors, registry
from labkit.api.registry import Resource
from labkit.api.validation import parse_quantity
from labkit.apiserver import strategy
from labkit.apiserver.admission import CREATE, DELETE, UPDATE, Attributes, BasePlugin, Chain, NamespaceLifecycle
from labkit.apiserver.cache import LiveLookups, WatchCache
from labkit.apiserver.etcd import Etcd
from labkit.apiserver.storage import Extras

PODS = registry.lookup("", "v1", "pods")
SERVICE_ACCOUNTS = registry.lookup("", "v1", "serviceaccounts")
LIMIT_RANGES = registry.lookup("", "v1", "limitranges")
RESOURCE_QUOTAS = registry.lookup("", "v1", "resourcequotas")

MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"


def _is_pod_write(a: Attributes, operations: tuple[str, ...] = (CREATE,)) -> bool:
    return a.resource.group == "" and a.resource.plural == "pods" and a.subresource is None and \
        a.operation in operations and isinstance(a.obj, dict)


def _containers(pod: dict, init: bool = True) -> list[dict]:
    spec = pod.get("spec") or {}
    found = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    if init:
        found += [c for c in spec.get("initContainers") or [] if isinstance(c, dict)]
    return found


# -- quantities ---------------------------------------------------------------------------

_DECIMAL_SUFFIXES = (("E", 18), ("P", 15), ("T", 12), ("G", 9), ("M", 6), ("k", 3))
_BINARY_SUFFIXES = (("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10))


def format_quantity(value: Decimal, like: str | None = None) -> str:
    """A quantity in upstream's canonical form: ``500m``, ``2``, ``1k``, or ``128Mi`` when ``like`` is binary."""
    if value == 0:
        return "0"
    sign, value = ("-", -value) if value < 0 else ("", value)
    binary = isinstance(like, str) and like.rstrip("0123456789").endswith("i")
    if value == value.to_integral_value():
        n = int(value)
        if binary:
            for suffix, power in _BINARY_SUFFIXES:
                if n % (1 << power) == 0:
                    return f"{sign}{n >> power}{suffix}"
            return f"{sign}{n}"
        for suffix, power in _DECIMAL_SUFFIXES:
            if n % 10 ** power == 0:
                return f"{sign}{n // 10 ** power}{suffix}"
        return f"{sign}{n}"
    for suffix, scale in (("m", Decimal("1e3")), ("u", Decimal("1e6")), ("n", Decimal("1e9"))):
        scaled = value * scale
        if scaled == scaled.to_integral_value() or suffix == "n":
            return f"{sign}{int(scaled.to_integral_value(rounding='ROUND_CEILING'))}{suffix}"
    return f"{sign}{value}"  # not reached


def _q(value: Any) -> Decimal:
    parsed = parse_quantity(value)
    return parsed if parsed is not None else Decimal(0)


def _aggregate(messages: list[str]) -> str:
    """Upstream's utilerrors.NewAggregate: one message as is, several as ``[a, b]``."""
    return messages[0] if len(messages) == 1 else "[" + ", ".join(messages) + "]"


# -- LimitRanger --------------------------------------------------------------------------


class LimitRanger(BasePlugin):
    """Default and bound containers' resources by the namespace's LimitRanges (pods, on create).

    The LimitRanges come from a watch-fed copy (upstream's lister), so a pod
    create costs no etcd read. When the copy has none for the namespace (none
    exist, or one was made a moment ago and the copy is behind), etcd is
    listed, and that answer is kept for 30 s (upstream's liveLookupCache);
    for 30 s after this apiserver admitted a LimitRange write in a namespace,
    that namespace's LimitRanges are always read from etcd (the copy learns of
    the write one watch latency later).
    """

    name = "LimitRanger"
    ANNOTATION = "kubernetes.io/limit-ranger"
    LIVE_LOOKUP_SECONDS = 30.0  # upstream's liveTTL

    def __init__(self, storage):
        self.storage = storage
        self.limit_ranges = WatchCache(storage, LIMIT_RANGES)
        self._live: dict[str, tuple[float, list[dict]]] = {}  # namespace -> (listed at, LimitRanges)
        self.written_here = LiveLookups()  # namespaces where this apiserver admitted a LimitRange write lately

    async def start(self) -> None:
        await self.limit_ranges.start()

    async def stop(self) -> None:
        await self.limit_ranges.stop()

    async def limit_ranges_of(self, namespace: str) -> list[dict]:
        if namespace in self.written_here:
            return (await self.storage.list(LIMIT_RANGES, namespace)).items
        if self.limit_ranges.synced.is_set():
            known = self.limit_ranges.in_namespace(namespace)
            if known:
                return known
        now = time.monotonic()
        listed_at, items = self._live.get(namespace, (0.0, []))
        if now - listed_at >= self.LIVE_LOOKUP_SECONDS:
            items = (await self.storage.list(LIMIT_RANGES, namespace)).items
            self._live = {ns: entry for ns, entry in self._live.items() if now - entry[0] < self.LIVE_LOOKUP_SECONDS}
            self._live[namespace] = (now, items)
        return items

    async def _items(self, namespace: str, kind: str) -> list[dict]:
        return [item for lr in await self.limit_ranges_of(namespace) for item in (lr.get("spec") or {}).get("limits")
                or [] if isinstance(item, dict) and item.get("type") == kind]

    async def admit(self, a: Attributes) -> None:
        if a.resource is LIMIT_RANGES and a.namespace and not a.dry_run:
            self.written_here.mark(a.namespace)
            self._live.pop(a.namespace, None)
            return
        if not _is_pod_write(a) or not a.namespace:
            return
        items = await self._items(a.namespace, "Container")
        if not items:
            return
        default_limits: dict[str, Any] = {}
        default_requests: dict[str, Any] = {}
        for item in items:  # the first LimitRange naming a resource wins
            for name, value in (item.get("default") or {}).items():
                default_limits.setdefault(name, value)
            for name, value in (item.get("defaultRequest") or {}).items():
                default_requests.setdefault(name, value)
        notes = []
        for ctr in _containers(a.obj):
            resources = ctr.get("resources")
            if not isinstance(resources, dict):
                resources = ctr["resources"] = {}
            set_requests, set_limits = [], []
            for section, defaults, changed in (("requests", default_requests, set_requests),
                                               ("limits", default_limits, set_limits)):
                for name, value in defaults.items():
                    current = resources.get(section) or {}
                    if name not in current:
                        resources[section] = {**current, name: value}
                        changed.append(name)
            if set_requests:
                notes.append(f"{', '.join(set_requests)} request for {_container_kind(a.obj, ctr)} {ctr.get('name')}")
            if set_limits:
                notes.append(f"{', '.join(set_limits)} limit for {_container_kind(a.obj, ctr)} {ctr.get('name')}")
        if notes:
            a.obj.setdefault("metadata", {}).setdefault("annotations", {})[self.ANNOTATION] = \
                "LimitRanger plugin set: " + "; ".join(notes)

    async def validate(self, a: Attributes) -> None:
        if not _is_pod_write(a) or not a.namespace:
            return
        problems: list[str] = []
        for lr in await self.limit_ranges_of(a.namespace):
            for item in (lr.get("spec") or {}).get("limits") or []:
                if not isinstance(item, dict):
                    continue
                if item.get("type") == "Container":
                    for ctr in _containers(a.obj):
                        res = ctr.get("resources") or {}
                        problems += _check_bounds(item, "Container", res.get("requests") or {}, res.get("limits") or {})
                elif item.get("type") == "Pod":
                    requests, limits = pod_totals(a.obj)
                    problems += _check_bounds(item, "Pod", requests, limits)
        if problems:
            raise errors.forbidden(a.resource.plural, a.name, _aggregate(problems), a.resource.group)


def _container_kind(pod: dict, ctr: dict) -> str:
    return "init container" if any(c is ctr for c in (pod.get("spec") or {}).get("initContainers") or []) \
        else "container"


def _check_bounds(item: dict, kind: str, requests: dict, limits: dict) -> list[str]:
    """Upstream's minConstraint, maxConstraint and limitRequestRatioConstraint messages."""
    problems = []
    for name, bound in (item.get("min") or {}).items():
        req, lim = requests.get(name), limits.get(name)
        if req is None:
            problems.append(f"minimum {name} usage per {kind} is {bound}.  No request is specified")
        elif _q(req) < _q(bound):
            problems.append(f"minimum {name} usage per {kind} is {bound}, but request is {req}")
        elif lim is not None and _q(lim) < _q(bound):
            problems.append(f"minimum {name} usage per {kind} is {bound}, but limit is {lim}")
    for name, bound in (item.get("max") or {}).items():
        req, lim = requests.get(name), limits.get(name)
        if lim is None:
            problems.append(f"maximum {name} usage per {kind} is {bound}.  No limit is specified")
        elif _q(lim) > _q(bound):
            problems.append(f"maximum {name} usage per {kind} is {bound}, but limit is {lim}")
        elif req is not None and _q(req) > _q(bound):
            problems.append(f"maximum {name} usage per {kind} is {bound}, but request is {req}")
    for name, bound in (item.get("maxLimitRequestRatio") or {}).items():
        req, lim = requests.get(name), limits.get(name)
        if req is None or lim is None or _q(req) == 0:
            problems.append(f"{name} max limit to request ratio per {kind} is {bound}, but no request is "
                            "specified or request is 0")
            continue
        ratio = _q(lim) / _q(req)
        if ratio > _q(bound):
            problems.append(f"{name} max limit to request ratio per {kind} is {bound}, but provided ratio is "
                            f"{float(ratio):f}")
    return problems


def pod_totals(pod: dict) -> tuple[dict[str, str], dict[str, str]]:
    """The pod's requests and limits: the sum over containers, or the largest init container if larger."""
    totals: list[dict[str, str]] = []
    for section in ("requests", "limits"):
        summed: dict[str, Decimal] = {}
        like: dict[str, str] = {}
        for ctr in _containers(pod, init=False):
            for name, value in ((ctr.get("resources") or {}).get(section) or {}).items():
                summed[name] = summed.get(name, Decimal(0)) + _q(value)
                like.setdefault(name, str(value))
        for ctr in _containers(pod, init=True)[len(_containers(pod, init=False)):]:
            for name, value in ((ctr.get("resources") or {}).get(section) or {}).items():
                if _q(value) > summed.get(name, Decimal(0)):
                    summed[name] = _q(value)
                    like.setdefault(name, str(value))
        totals.append({name: format_quantity(v, like.get(name)) for name, v in summed.items()})
    return totals[0], totals[1]


# -- ServiceAccount -----------------------------------------------------------------------

DEFAULT_SERVICE_ACCOUNT = "default"
TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
TOKEN_EXPIRATION_SECONDS = 3607  # upstream: one hour plus 7 s, so the kubelet refreshes before it expires
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
DEFAULT_ACCOUNT_ATTEMPTS = 10  # upstream looks ``default`` up this often (100-200 ms apart) before refusing
_RANDOM_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # upstream's utilrand alphabet (no vowels, no look-alikes)


def token_volume(name: str) -> dict:
    """The projected volume upstream mounts as the pod's service-account credentials."""
    return {"name": name, "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
        {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                      "fieldPath": "metadata.namespace"}}]}},
    ]}}


class ServiceAccount(BasePlugin):
    """Every pod runs as a service account that exists, with its token mounted unless it opts out.

    The account is looked up in a watch-fed copy of the service accounts
    (upstream's lister); only one the copy does not have yet (made a moment
    ago) is read from etcd.
    """

    name = "ServiceAccount"

    def __init__(self, storage, rng: random.Random | None = None, retry_interval: float | None = None):
        self.storage = storage
        self.rng = rng or random.SystemRandom()
        self.retry_interval = retry_interval if retry_interval is not None else 0.1 + self.rng.random() / 10
        self.accounts = WatchCache(storage, SERVICE_ACCOUNTS)

    async def start(self) -> None:
        await self.accounts.start()

    async def stop(self) -> None:
        await self.accounts.stop()

    async def lookup(self, namespace: str, name: str) -> dict | None:
        """The account, waiting a little for ``default`` (the controller makes it right after the namespace)."""
        if self.accounts.synced.is_set():
            account = self.accounts.get(namespace, name)
            if account is not None:
                return account
        attempts = DEFAULT_ACCOUNT_ATTEMPTS if name == DEFAULT_SERVICE_ACCOUNT else 1
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self.retry_interval)
            account = await self.storage.get_or_none(SERVICE_ACCOUNTS, namespace, name)
            if account is not None:
                return account
        return None

    async def admit(self, a: Attributes) -> None:
        if not _is_pod_write(a):
            return
        pod = a.obj
        meta = pod.get("metadata") or {}
        spec = pod.setdefault("spec", {})
        if (meta.get("annotations") or {}).get(MIRROR_POD_ANNOTATION) is not None:
            # static pods of a kubelet get no API credentials
            if spec.get("serviceAccountName"):
                raise errors.forbidden(a.resource.plural, a.name, "a mirror pod may not reference service accounts")
            if any(isinstance(v, dict) and v.get("secret") for v in spec.get("volumes") or []):
                raise errors.forbidden(a.resource.plural, a.name, "a mirror pod may not reference secrets")
            return
        account_name = spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_SERVICE_ACCOUNT
        spec["serviceAccountName"] = account_name
        spec["serviceAccount"] = account_name  # the deprecated alias upstream keeps in step
        account = await self.lookup(a.namespace, account_name)
        if account is None:
            raise errors.forbidden(a.resource.plural, a.name, f"error looking up service account "
                                   f"{a.namespace}/{account_name}: serviceaccount \"{account_name}\" not found",
                                   a.resource.group)
        if not spec.get("imagePullSecrets") and account.get("imagePullSecrets"):
            spec["imagePullSecrets"] = copy.deepcopy(account["imagePullSecrets"])
        automount = spec.get("automountServiceAccountToken")
        if automount is None:
            automount = account.get("automountServiceAccountToken")
        if automount is False:
            return
        containers = _containers(pod)
        if any(m.get("mountPath") == TOKEN_MOUNT_PATH for c in containers for m in c.get("volumeMounts") or []
               if isinstance(m, dict)):
            return  # the pod brings its own credentials there
        volumes = spec.setdefault("volumes", [])
        taken = {v.get("name") for v in volumes if isinstance(v, dict)}
        while True:
            name = "kube-api-access-" + "".join(self.rng.choice(_RANDOM_CHARS) for _ in range(5))
            if name not in taken:
                break
        volumes.append(token_volume(name))
        for ctr in containers:
            ctr.setdefault("volumeMounts", []).append({"name": name, "readOnly": True,
                                                       "mountPath": TOKEN_MOUNT_PATH})


# -- DefaultTolerationSeconds -------------------------------------------------------------

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"


class DefaultTolerationSeconds(BasePlugin):
    """Pods tolerate a node being not-ready or unreachable for a while (300 s) before eviction."""

    name = "DefaultTolerationSeconds"

    def __init__(self, not_ready_seconds: int = 300, unreachable_seconds: int = 300):
        self.seconds = {NOT_READY_TAINT: not_ready_seconds, UNREACHABLE_TAINT: unreachable_seconds}

    async def admit(self, a: Attributes) -> None:
        if not _is_pod_write(a, (CREATE, UPDATE)):
            return
        spec = a.obj.setdefault("spec", {})
        tolerations = spec.get("tolerations") or []
        for taint, seconds in self.seconds.items():
            tolerated = any(isinstance(t, dict) and t.get("key", "") in (taint, "") and
                            t.get("effect", "") in ("NoExecute", "") for t in tolerations)
            if not tolerated:
                tolerations = [*tolerations, {"key": taint, "operator": "Exists", "effect": "NoExecute",
                                              "tolerationSeconds": seconds}]
        if tolerations:
            spec["tolerations"] = tolerations


# -- ResourceQuota ------------------------------------------------------------------------

COMPUTE = ("cpu", "memory", "ephemeral-storage")
# Resources whose usage every container must declare when a quota limits them (upstream's validationSet).
MUST_SPECIFY = {"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"}


def _count_name(resource: Resource) -> str:
    return f"count/{resource.qualified_name}"


TERMINAL_PHASES = ("Succeeded", "Failed")


def usage(resource: Resource, obj: dict) -> dict[str, Decimal]:
    """What one object adds to its namespace's usage, by quota resource name.

    A finished pod (Succeeded or Failed) still counts in ``count/pods`` (it is
    in storage) but no longer in ``pods`` nor in compute resources, as upstream;
    the resourcequota controller gives that usage back when the pod finishes.
    """
    used = {_count_name(resource): Decimal(1)}
    is_pod = resource.group == "" and resource.plural == "pods"
    if is_pod and (obj.get("status") or {}).get("phase") in TERMINAL_PHASES:
        return used
    legacy = {"pods", "services", "configmaps", "secrets", "resourcequotas", "replicationcontrollers",
              "persistentvolumeclaims"}
    if resource.group == "" and resource.plural in legacy:
        used[resource.plural] = Decimal(1)
    if is_pod:
        requests, limits = pod_totals(obj)
        for name in COMPUTE:
            if name in requests:
                used[f"requests.{name}"] = _q(requests[name])
                if name != "ephemeral-storage":
                    used[name] = _q(requests[name])
            if name in limits:
                used[f"limits.{name}"] = _q(limits[name])
    if resource.group == "" and resource.plural == "services":
        spec = obj.get("spec") or {}
        kind = spec.get("type", "ClusterIP")
        if kind == "LoadBalancer":
            used["services.loadbalancers"] = Decimal(1)
        if kind in ("NodePort", "LoadBalancer"):
            used["services.nodeports"] = Decimal(sum(1 for p in spec.get("ports") or [] if isinstance(p, dict)))
    return used


def _scopes_match(quota: dict, resource: Resource, obj: dict) -> bool:
    """Quota scopes (Terminating, BestEffort ...) only ever select pods."""
    spec = quota.get("spec") or {}
    scopes = list(spec.get("scopes") or [])
    for expr in (spec.get("scopeSelector") or {}).get("matchExpressions") or []:
        if expr.get("operator") == "Exists" or (expr.get("operator") == "In" and not expr.get("values")):
            scopes.append(expr.get("scopeName"))
    if not scopes:
        return True
    if not (resource.group == "" and resource.plural == "pods"):
        return False
    pod_spec = obj.get("spec") or {}
    best_effort = not any((c.get("resources") or {}).get(s) for c in _containers(obj) for s in ("requests", "limits"))
    terminating = pod_spec.get("activeDeadlineSeconds") is not None
    wanted = {"Terminating": terminating, "NotTerminating": not terminating,
              "BestEffort": best_effort, "NotBestEffort": not best_effort}
    return all(wanted.get(scope, False) for scope in scopes)


def _pretty(values: dict[str, Any]) -> str:
    return ",".join(f"{name}={values[name]}" for name in sorted(values))


class ResourceQuota(BasePlugin):
    """Enforce the namespace's quotas on creates; keep each quota's status.used in the same transaction."""

    name = "ResourceQuota"

    def __init__(self, storage):
        self.storage = storage
        # Which quotas exist, namespace by namespace: a watch-fed copy (upstream's quota lister), so a
        # write in a namespace without quotas costs no etcd read. A quota that applies is read fresh.
        self.quotas = WatchCache(storage, RESOURCE_QUOTAS)
        self.quota_written_here = LiveLookups()  # namespaces where this apiserver admitted a quota write lately
        self.turns: dict[str, asyncio.Lock] = {}  # namespace -> lock held from quota read to object write

    async def start(self) -> None:
        await self.quotas.start()

    async def stop(self) -> None:
        await self.quotas.stop()

    async def known_quotas(self, namespace: str) -> list[dict]:
        """The namespace's quotas as the copy knows them, or from etcd while the copy may be behind."""
        if self.quotas.synced.is_set() and namespace not in self.quota_written_here:
            return self.quotas.in_namespace(namespace)
        return (await self.storage.list(RESOURCE_QUOTAS, namespace)).items

    async def admit(self, a: Attributes) -> None:
        """A quota's status: hard mirrors spec.hard; used is counted when the quota is made or its spec changes."""
        if a.resource is RESOURCE_QUOTAS and a.subresource is None and a.operation in (CREATE, UPDATE) and \
                not a.dry_run and a.namespace:
            self.quota_written_here.mark(a.namespace)  # the copy shows this quota one watch latency later
        if a.resource is not RESOURCE_QUOTAS or a.subresource is not None or a.operation not in (CREATE, UPDATE):
            return
        quota = a.obj
        hard = dict((quota.get("spec") or {}).get("hard") or {})
        status = quota.setdefault("status", {})
        old_used = dict(((a.old or {}).get("status") or {}).get("used") or {})
        if a.old is not None and (a.old.get("spec") or {}) == (quota.get("spec") or {}) and old_used:
            status["hard"], status["used"] = hard, old_used
            return
        quota["status"] = quota_status(hard, await self.count_namespace(a.namespace, quota, hard))

    async def count_namespace(self, namespace: str, quota: dict, hard: dict) -> dict[str, Decimal]:
        async def stored(resource: Resource) -> list[dict]:
            return (await self.storage.list(resource, namespace)).items
        return await count_usage(quota, hard, stored)

    async def validate(self, a: Attributes) -> None:
        if a.subresource is not None or not a.namespace or not a.resource.namespaced:
            return
        if a.operation == CREATE and isinstance(a.obj, dict):
            await self._charge(a, a.obj, +1)
        elif a.operation == DELETE and isinstance(a.old, dict):
            await self._charge(a, a.old, -1)  # used only if the delete removes the object now
        elif a.operation == UPDATE and isinstance(a.old, dict) and isinstance(a.obj, dict) and \
                strategy.finished_deleting(a.resource, a.obj):
            await self._charge(a, a.old, -1)  # the last finalizer went: this update removes the object
        elif a.operation == UPDATE and a.resource.group == "" and a.resource.plural == "services" and \
                isinstance(a.old, dict) and isinstance(a.obj, dict):
            # a Service may take more (ClusterIP -> NodePort): charge what grows; what shrinks the
            # resourcequota controller gives back (upstream's SubtractWithNonNegativeResult)
            before, after = usage(a.resource, a.old), usage(a.resource, a.obj)
            grown = {n: after[n] - before.get(n, Decimal(0)) for n in after if after[n] > before.get(n, Decimal(0))}
            if grown:
                await self._charge(a, a.obj, +1, grown)

    async def _charge(self, a: Attributes, obj: dict, sign: int, adds: dict[str, Decimal] | None = None) -> None:
        known = await self.known_quotas(a.namespace)
        if not known:
            return  # most namespaces have no quota: nothing to count
        adds = usage(a.resource, obj) if adds is None else adds
        if not any(name in ((q.get("status") or {}).get("hard") or (q.get("spec") or {}).get("hard") or {})
                   for q in known for name in adds):
            return
        if sign > 0 and a.operation == CREATE and not a.dry_run:
            # Creates charging the same quotas take turns in this apiserver: each reads the quota after
            # the previous one wrote it, instead of all racing on its resourceVersion and retrying.
            # The registry releases the turn once the object is written (or refused).
            lock = self.turns.setdefault(a.namespace, asyncio.Lock())
            await lock.acquire()
            a.extra.setdefault("after_write", []).append(lock.release)
        # The usage to charge is read fresh from etcd and written back guarded by each quota's
        # mod_revision, in the object's own transaction: the copy only said that some quota applies.
        quotas = (await self.storage.list(RESOURCE_QUOTAS, a.namespace)).items
        extras = Extras()
        for quota in quotas:
            qname = quota["metadata"]["name"]
            if a.resource == RESOURCE_QUOTAS and qname == a.name:
                continue  # a quota does not count itself
            hard = (quota.get("status") or {}).get("hard") or (quota.get("spec") or {}).get("hard") or {}
            if not _scopes_match(quota, a.resource, obj):
                continue
            relevant = {name: amount for name, amount in adds.items() if name in hard}
            if sign > 0 and a.resource == PODS:
                self._must_specify(a, qname, hard, obj)
            if not relevant:
                continue
            used = dict((quota.get("status") or {}).get("used") or {})
            new_used: dict[str, str] = dict(used)
            exceeded = []
            for name, amount in relevant.items():
                total = _q(used.get(name, "0")) + sign * amount
                total = max(total, Decimal(0))
                if sign > 0 and total > _q(hard[name]):
                    exceeded.append(name)
                new_used[name] = format_quantity(total, hard[name])
            if exceeded:
                raise errors.forbidden(a.resource.plural, a.name, "exceeded quota: {}, requested: {}, used: {}, "
                                       "limited: {}".format(
                                           qname,
                                           _pretty({n: format_quantity(relevant[n], hard[n]) for n in exceeded}),
                                           _pretty({n: used.get(n, "0") for n in exceeded}),
                                           _pretty({n: hard[n] for n in exceeded})), a.resource.group)
            if a.dry_run:
                continue
            updated = copy.deepcopy(quota)
            updated["status"] = {"hard": dict(hard), "used": {n: new_used.get(n, "0") for n in hard}}
            key = self.storage.key(RESOURCE_QUOTAS, a.namespace, qname)
            rv = int(quota["metadata"]["resourceVersion"])
            extras = extras + Extras([Etcd.mod_revision_is(key, rv)],
                                     [Etcd.put(key, self.storage._encode(key, updated))])
        if extras.ops:
            # Written with the object in one transaction; if a quota changed meanwhile the write is retried
            # from the start (admission runs again with the quota's new usage).
            a.extra["extras"] = a.extra.get("extras", Extras()) + extras

    @staticmethod
    def _must_specify(a: Attributes, qname: str, hard: dict, pod: dict) -> None:
        required = MUST_SPECIFY & set(hard)
        if not required:
            return
        missing: dict[str, list[str]] = {}
        for ctr in _containers(pod):
            res = ctr.get("resources") or {}
            declared = set()
            for name in (res.get("requests") or {}):
                declared |= {name, f"requests.{name}"}
            for name in (res.get("limits") or {}):
                declared.add(f"limits.{name}")
            for name in sorted(required - declared):
                missing.setdefault(name, []).append(ctr.get("name", ""))
        if missing:
            detail = "; ".join(f"{name} for: {','.join(sorted(names))}" for name, names in sorted(missing.items()))
            raise errors.forbidden(a.resource.plural, a.name, f"failed quota: {qname}: must specify {detail}",
                                   a.resource.group)


async def count_usage(quota: dict, hard: dict, list_objects: Callable[[Resource], Any]) -> dict[str, Decimal]:
    """A namespace's usage of ``hard``'s resources, counted from its objects (``await list_objects(resource)``).

    Admission counts from storage when a quota is made; the resourcequota
    controller counts through the API to correct what drifted.
    """
    totals: dict[str, Decimal] = {}
    seen_storage: set[str] = set()
    for resource in registry.RESOURCES:
        if not resource.namespaced or resource.storage in seen_storage or "list" not in resource.verbs:
            continue
        seen_storage.add(resource.storage)
        if not any(name == _count_name(resource) or name in _legacy_names(resource) for name in hard):
            continue
        for obj in await list_objects(resource):
            if not _scopes_match(quota, resource, obj):
                continue
            for name, amount in usage(resource, obj).items():
                if name in hard:
                    totals[name] = totals.get(name, Decimal(0)) + amount
    return totals


def quota_status(hard: dict, used: dict[str, Decimal]) -> dict:
    """status of a quota: hard mirrors spec.hard; used names every hard resource, in its format."""
    return {"hard": dict(hard), "used": {name: format_quantity(used.get(name, Decimal(0)), hard[name])
                                         for name in hard}}


def _legacy_names(resource: Resource) -> set[str]:
    if resource.group != "":
        return set()
    names = {resource.plural}
    if resource.plural == "pods":
        names |= set(COMPUTE) | {f"{s}.{n}" for s in ("requests", "limits") for n in COMPUTE}
    if resource.plural == "services":
        names |= {"services.nodeports", "services.loadbalancers"}
    return names


# -- the table ----------------------------------------------------------------------------

# Upstream's order: plugins run in this order whatever order the flag lists them in.
UPSTREAM_ORDER = ("NamespaceLifecycle", "LimitRanger", "ServiceAccount", "NodeRestriction",
                  "DefaultTolerationSeconds", "ResourceQuota")
# Upstream's default-on plugins that labkit implements (what runs without --enable-admission-plugins).
RECOMMENDED = ("NamespaceLifecycle", "LimitRanger", "ServiceAccount", "DefaultTolerationSeconds", "ResourceQuota")

# name -> factory(storage) -> plugin
PLUGINS: dict[str, Callable[[Any], Any]] = {
    "NamespaceLifecycle": NamespaceLifecycle,
    "LimitRanger": LimitRanger,
    "ServiceAccount": ServiceAccount,
    "DefaultTolerationSeconds": lambda storage: DefaultTolerationSeconds(),
    "ResourceQuota": ResourceQuota,
}


def register_plugin(name: str, factory: Callable[[Any], Any]) -> None:
    """Add a plugin built elsewhere (NodeRestriction) under its upstream name."""
    PLUGINS[name] = factory


def _names(text: str | None, flag: str) -> list[str]:
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    for name in names:
        if name not in UPSTREAM_ORDER:
            raise ValueError(f"{flag}: unknown admission plugin {name!r} (labkit has: {', '.join(UPSTREAM_ORDER)})")
    return names


def build_chain(storage, enabled: str | None = None, disabled: str | None = None,
                toleration_seconds: tuple[int, int] = (300, 300)) -> Chain:
    """The chain for ``--enable-admission-plugins`` / ``--disable-admission-plugins`` (upstream's order).

    ``toleration_seconds``: --default-not-ready-toleration-seconds and --default-unreachable-toleration-seconds.
    """
    wanted = set(RECOMMENDED) | set(_names(enabled, "--enable-admission-plugins"))
    wanted -= set(_names(disabled, "--disable-admission-plugins"))
    plugins = []
    for name in UPSTREAM_ORDER:
        if name not in wanted:
            continue
        if name not in PLUGINS:
            raise ValueError(f"--enable-admission-plugins: admission plugin {name!r} is not available in this "
                             "build of labkit-apiserver")
        if name == "DefaultTolerationSeconds":
            plugins.append(DefaultTolerationSeconds(*toleration_seconds))
        else:
            plugins.append(PLUGINS[name](storage))
    return Chain(plugins)
