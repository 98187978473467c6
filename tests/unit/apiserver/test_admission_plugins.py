"""Admission plugins as data: an object in, the object out (or the refusal), on a real Registry and etcd.

Each case writes the namespace's LimitRanges / ServiceAccounts / quotas
through the same Registry the apiserver uses, then sends the object through
the whole default chain (``build_chain``) and compares what is stored.
"""

from __future__ import annotations

import asyncio
import copy
import random

import pytest

from labkit.api import registry
from labkit.api.errors import StatusError
from labkit.apiserver.admission import CREATE, Attributes
from labkit.apiserver.admission_plugins import (RECOMMENDED, UPSTREAM_ORDER, DefaultTolerationSeconds, build_chain,
                                                format_quantity, token_volume)
from labkit.apiserver.allocators import ClusterIPAllocator, NodePortAllocator, ServiceAllocations
from labkit.apiserver.etcd import Etcd
from labkit.apiserver.rest import DeleteOptions, Options, Registry
from labkit.apiserver.storage import Storage
from labkit.api.validation import parse_quantity, wrong_types

R = {plural: registry.lookup("", "v1", plural) for plural in
     ("namespaces", "pods", "serviceaccounts", "limitranges", "resourcequotas", "configmaps", "secrets", "services")}
NS = "team"
MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


@pytest.fixture
async def reg(etcd):
    client = Etcd([etcd.endpoint])
    storage = Storage(client, "/registry")
    services = ServiceAllocations(ClusterIPAllocator(client, "/registry", "10.32.0.0/24"),
                                  NodePortAllocator(client, "/registry", "30000-32767"))
    reg = Registry(storage, services, build_chain(storage))
    # ServiceAccount takes a random volume name: make it reproducible, and do not wait long for "default"
    sa_plugin = next(p for p in reg.admission.plugins if p.name == "ServiceAccount")
    sa_plugin.rng, sa_plugin.retry_interval = random.Random(7), 0.01
    await reg.create(R["namespaces"], None, {"metadata": {"name": NS}}, Options())
    yield reg
    await client.close()


async def make(reg, plural, obj, namespace=NS):
    stored = await reg.create(R[plural], namespace, copy.deepcopy(obj), Options())
    # a create checks JSON types before admission, then only required fields (validate(types_checked=True)):
    # what the plugins add (resources, volumes, tolerations) must have the right types
    assert wrong_types(R[plural], stored) == []
    return stored


def pod(name="p", containers=None, **spec):
    return {"metadata": {"name": name},
            "spec": {"containers": containers or [{"name": "c", "image": "busybox"}], **spec}}


def container(name="c", requests=None, limits=None):
    resources = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return {"name": name, "image": "busybox", "resources": resources}


async def refusal(coro) -> str:
    with pytest.raises(StatusError) as exc:
        await coro
    assert exc.value.code == 403 and exc.value.reason == "Forbidden"
    return exc.value.message


async def test_upstream_order_and_flag_parsing(etcd):  # async: the etcd client wants a running loop
    storage = Storage(Etcd([etcd.endpoint]))
    assert build_chain(storage).names == list(RECOMMENDED)
    # flag order does not matter, upstream's order does
    chain = build_chain(storage, "ResourceQuota,LimitRanger", "ServiceAccount,DefaultTolerationSeconds")
    assert chain.names == ["NamespaceLifecycle", "LimitRanger", "ResourceQuota"]
    assert [n for n in UPSTREAM_ORDER if n in RECOMMENDED] == list(RECOMMENDED)
    with pytest.raises(ValueError, match="unknown admission plugin 'PodSecurityPolicy'"):
        build_chain(storage, "PodSecurityPolicy")


# -- ServiceAccount ----------------------------------------------------------------


async def test_pod_without_account_is_refused_until_default_exists(reg):
    message = await refusal(make(reg, "pods", pod("p1")))
    assert message == ('pods "p1" is forbidden: error looking up service account team/default: '
                       'serviceaccount "default" not found')
    assert await reg.storage.get_or_none(R["pods"], NS, "p1") is None
    await make(reg, "serviceaccounts", {"metadata": {"name": "default"}})
    stored = await make(reg, "pods", pod("p1", containers=[{"name": "a", "image": "x"}],
                                         initContainers=[{"name": "init", "image": "x"}]))
    spec = stored["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    (volume,) = [v for v in spec["volumes"] if v["name"].startswith("kube-api-access-")]
    assert len(volume["name"]) == len("kube-api-access-") + 5
    assert volume == token_volume(volume["name"])
    sources = volume["projected"]["sources"]
    assert sources[0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
    assert sources[1]["configMap"] == {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    assert sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"] == "metadata.namespace"
    for ctr in spec["containers"] + spec["initContainers"]:
        assert {"name": volume["name"], "readOnly": True, "mountPath": MOUNT} in ctr["volumeMounts"]


async def test_named_account_must_exist_and_automount_false_is_respected(reg):
    message = await refusal(make(reg, "pods", pod("p2", serviceAccountName="builder")))
    assert 'error looking up service account team/builder: serviceaccount "builder" not found' in message
    await make(reg, "serviceaccounts", {"metadata": {"name": "builder"}, "automountServiceAccountToken": False,
                                        "imagePullSecrets": [{"name": "registry"}]})
    stored = await make(reg, "pods", pod("p2", serviceAccountName="builder"))
    assert "volumes" not in stored["spec"] or not stored["spec"]["volumes"]
    assert "volumeMounts" not in stored["spec"]["containers"][0]
    assert stored["spec"]["imagePullSecrets"] == [{"name": "registry"}]
    # the pod's own setting wins over the account's
    stored = await make(reg, "pods", pod("p3", serviceAccountName="builder", automountServiceAccountToken=True))
    assert stored["spec"]["volumes"][0]["name"].startswith("kube-api-access-")


async def test_a_pod_that_mounts_something_at_the_token_path_keeps_it(reg):
    await make(reg, "serviceaccounts", {"metadata": {"name": "default"}})
    own = pod("p4", containers=[{"name": "c", "image": "x", "volumeMounts": [{"name": "mine", "mountPath": MOUNT}]}],
              volumes=[{"name": "mine", "emptyDir": {}}])
    stored = await make(reg, "pods", own)
    assert [v["name"] for v in stored["spec"]["volumes"]] == ["mine"]


async def test_default_account_made_while_waiting_is_found(reg):
    sa_plugin = next(p for p in reg.admission.plugins if p.name == "ServiceAccount")
    sa_plugin.retry_interval = 0.05

    async def controller_late():
        await asyncio.sleep(0.12)
        await make(reg, "serviceaccounts", {"metadata": {"name": "default"}})

    made, stored = await asyncio.gather(controller_late(), make(reg, "pods", pod("early")))
    assert stored["spec"]["serviceAccountName"] == "default"


# -- DefaultTolerationSeconds ------------------------------------------------------------

NOT_READY = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
             "tolerationSeconds": 300}
UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
               "tolerationSeconds": 300}


@pytest.mark.parametrize("given,expected", [
    (None, [NOT_READY, UNREACHABLE]),
    ([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}],
     [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10},
      UNREACHABLE]),
    ([{"operator": "Exists"}], [{"operator": "Exists"}]),  # tolerates everything already
    ([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoSchedule"}],
     [{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoSchedule"}, NOT_READY,
      UNREACHABLE]),
])
async def test_default_toleration_seconds(given, expected):
    obj = pod()
    if given is not None:
        obj["spec"]["tolerations"] = copy.deepcopy(given)
    await DefaultTolerationSeconds().admit(Attributes(CREATE, R["pods"], NS, "p", obj))
    assert obj["spec"]["tolerations"] == expected


# -- LimitRanger ---------------------------------------------------------------------


LIMITS = {"metadata": {"name": "limits"}, "spec": {"limits": [
    {"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"},
     "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
     "min": {"cpu": "50m"}, "max": {"cpu": "1", "memory": "1Gi"}, "maxLimitRequestRatio": {"cpu": "5"}},
    {"type": "Pod", "max": {"memory": "1536Mi"}},
]}}


async def test_limit_range_defaults_are_filled_in_and_stored_with_upstream_defaulting(reg):
    stored = await make(reg, "limitranges", {"metadata": {"name": "only-max"},
                                             "spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}}]}})
    # upstream's defaulting: default limit <- max, default request <- default limit
    assert stored["spec"]["limits"][0]["default"] == {"cpu": "2"}
    assert stored["spec"]["limits"][0]["defaultRequest"] == {"cpu": "2"}


@pytest.mark.parametrize("containers,expected_resources,annotation", [
    ([container()], [{"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}],
     "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c"),
    ([container(requests={"cpu": "200m"}, limits={"cpu": "400m"})],
     [{"requests": {"cpu": "200m", "memory": "128Mi"}, "limits": {"cpu": "400m", "memory": "256Mi"}}],
     "LimitRanger plugin set: memory request for container c; memory limit for container c"),
    ([container(requests={"cpu": "100m", "memory": "64Mi"}, limits={"cpu": "200m", "memory": "64Mi"})],
     [{"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}}], None),
])
async def test_limit_ranger_fills_in_what_containers_leave_out(reg, containers, expected_resources, annotation):
    await make(reg, "serviceaccounts", {"metadata": {"name": "default"}})
    await make(reg, "limitranges", LIMITS)
    stored = await make(reg, "pods", pod("lr", containers=containers, automountServiceAccountToken=False))
    assert [c["resources"] for c in stored["spec"]["containers"]] == expected_resources
    assert (stored["metadata"].get("annotations") or {}).get("kubernetes.io/limit-ranger") == annotation


@pytest.mark.parametrize("containers,message", [
    ([container(requests={"cpu": "10m"}, limits={"cpu": "20m"})],
     "minimum cpu usage per Container is 50m, but request is 10m"),
    # (the request defaults to the limit, as upstream's defaulting does)
    ([container(limits={"cpu": "2"})], "maximum cpu usage per Container is 1, but limit is 2"),
    ([container(requests={"cpu": "100m"}, limits={"cpu": "800m"})],
     "cpu max limit to request ratio per Container is 5, but provided ratio is 8.000000"),
    ([container(requests={"cpu": "10m"}, limits={"cpu": "2"})],
     "[minimum cpu usage per Container is 50m, but request is 10m, maximum cpu usage per Container is 1, but limit "
     "is 2, cpu max limit to request ratio per Container is 5, but provided ratio is 200.000000]"),
    ([container("a", limits={"memory": "1Gi"}), container("b", limits={"memory": "1Gi"})],
     "maximum memory usage per Pod is 1536Mi, but limit is 2Gi"),
])
async def test_limit_ranger_refuses_out_of_bounds_containers(reg, containers, message):
    await make(reg, "serviceaccounts", {"metadata": {"name": "default"}})
    await make(reg, "limitranges", LIMITS)
    text = await refusal(make(reg, "pods", pod("big", containers=containers)))
    assert text == f'pods "big" is forbidden: {message}'
    assert await reg.storage.get_or_none(R["pods"], NS, "big") is None


@pytest.mark.parametrize("bad,message", [
    ({"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}},
     'spec.limits[0].min[cpu]: Invalid value: "2": min value 2 is greater than max value 1'),
    ({"type": "Container", "default": {"cpu": "2"}, "max": {"cpu": "1"}},
     'spec.limits[0].default[cpu]: Invalid value: "2": default value 2 is greater than max value 1'),
    ({"type": "Node"}, 'spec.limits[0].type: Unsupported value: "Node"'),
    ({"type": "Container", "max": {"cpu": "-1"}},
     'spec.limits[0].max[cpu]: Invalid value: "-1": must be greater than or equal to 0'),
])
async def test_invalid_limit_ranges_are_422(reg, bad, message):
    with pytest.raises(StatusError) as exc:
        await make(reg, "limitranges", {"metadata": {"name": "bad"}, "spec": {"limits": [bad]}})
    assert exc.value.code == 422 and message in exc.value.message


# -- ResourceQuota ---------------------------------------------------------------------


@pytest.mark.parametrize("value,like,text", [
    ("0", None, "0"), ("1", None, "1"), ("0.5", None, "500m"), ("1.5", None, "1500m"), ("2000", None, "2k"),
    ("134217728", "1Gi", "128Mi"), ("1610612736", "2Gi", "1536Mi"), ("1000", "1Gi", "1000"),
])
def test_quantities_print_like_upstream(value, like, text):
    assert format_quantity(parse_quantity(value), like) == text


async def quota(reg, hard, name="q", **spec):
    return await make(reg, "resourcequotas", {"metadata": {"name": name}, "spec": {"hard": hard, **spec}})


async def test_quota_status_counts_what_exists_and_mirrors_hard(reg):
    await make(reg, "configmaps", {"metadata": {"name": "a"}})
    await make(reg, "secrets", {"metadata": {"name": "s"}, "stringData": {"k": "v"}})
    stored = await quota(reg, {"configmaps": "3", "count/secrets": "5", "pods": "2"})
    assert stored["status"] == {"hard": {"configmaps": "3", "count/secrets": "5", "pods": "2"},
                                "used": {"configmaps": "1", "count/secrets": "1", "pods": "0"}}


async def test_creates_beyond_the_quota_are_refused_with_upstream_message_and_usage_tracked(reg):
    await make(reg, "serviceaccounts", {"metadata": {"name": "default"}})
    await quota(reg, {"pods": "2", "requests.cpu": "1", "limits.memory": "1Gi"}, name="compute")
    small = [container(requests={"cpu": "400m", "memory": "100Mi"}, limits={"cpu": "400m", "memory": "256Mi"})]
    await make(reg, "pods", pod("a", containers=small))
    status = (await reg.get(R["resourcequotas"], NS, "compute"))["status"]
    assert status["used"] == {"pods": "1", "requests.cpu": "400m", "limits.memory": "256Mi"}
    await make(reg, "pods", pod("b", containers=small))
    text = await refusal(make(reg, "pods", pod("c", containers=small)))
    # only what is exceeded is named (limits.memory still fits)
    assert text == ('pods "c" is forbidden: exceeded quota: compute, requested: pods=1,requests.cpu=400m, '
                    'used: pods=2,requests.cpu=800m, limited: pods=2,requests.cpu=1')
    status = (await reg.get(R["resourcequotas"], NS, "compute"))["status"]
    assert status["used"] == {"pods": "2", "requests.cpu": "800m", "limits.memory": "512Mi"}
    # a delete gives the usage back, in the same transaction as the delete
    await reg.delete(R["pods"], NS, "a", DeleteOptions(grace_period_seconds=0))
    status = (await reg.get(R["resourcequotas"], NS, "compute"))["status"]
    assert status["used"] == {"pods": "1", "requests.cpu": "400m", "limits.memory": "256Mi"}
    await make(reg, "pods", pod("c", containers=small))


async def test_quota_on_compute_wants_every_container_to_declare_it(reg):
    await make(reg, "serviceaccounts", {"metadata": {"name": "default"}})
    await quota(reg, {"requests.cpu": "2", "limits.memory": "2Gi"})
    text = await refusal(make(reg, "pods", pod("bare", containers=[container("x"), container(
        "y", requests={"cpu": "1"})])))
    assert text == 'pods "bare" is forbidden: failed quota: q: must specify limits.memory for: x,y; requests.cpu for: x'


async def test_dry_run_and_refused_creates_leave_the_quota_alone(reg):
    await quota(reg, {"configmaps": "1"})
    await reg.create(R["configmaps"], NS, {"metadata": {"name": "dry"}}, Options(dry_run=True))
    assert (await reg.get(R["resourcequotas"], NS, "q"))["status"]["used"] == {"configmaps": "0"}
    await make(reg, "configmaps", {"metadata": {"name": "one"}})
    text = await refusal(make(reg, "configmaps", {"metadata": {"name": "two"}}))
    assert text == ('configmaps "two" is forbidden: exceeded quota: q, requested: configmaps=1, used: configmaps=1, '
                    'limited: configmaps=1')
    assert (await reg.get(R["resourcequotas"], NS, "q"))["status"]["used"] == {"configmaps": "1"}


async def test_parallel_creates_never_exceed_the_quota(reg):
    await quota(reg, {"count/secrets": "5"})
    results = await asyncio.gather(*(make(reg, "secrets", {"metadata": {"name": f"s{i}"}}) for i in range(20)),
                                   return_exceptions=True)
    created = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, StatusError)]
    assert len(created) == 5 and len(refused) == 15
    assert all("exceeded quota: q" in r.message for r in refused)
    listed = await reg.list(R["secrets"], NS)
    assert len(listed.items) == 5
    assert (await reg.get(R["resourcequotas"], NS, "q"))["status"]["used"] == {"count/secrets": "5"}


async def test_services_count_node_ports_and_scoped_quotas_see_only_their_pods(reg):
    await quota(reg, {"services": "5", "services.nodeports": "1"})
    await make(reg, "services", {"metadata": {"name": "web"}, "spec": {"type": "NodePort",
                                                                     "ports": [{"port": 80}]}})
    text = await refusal(make(reg, "services", {"metadata": {"name": "web2"}, "spec": {
        "type": "NodePort", "ports": [{"port": 80}]}}))
    assert "exceeded quota: q, requested: services.nodeports=1, used: services.nodeports=1" in text
    await make(reg, "serviceaccounts", {"metadata": {"name": "default"}})
    await quota(reg, {"pods": "1"}, name="best-effort", scopes=["BestEffort"])
    await make(reg, "pods", pod("be1"))
    await refusal(make(reg, "pods", pod("be2")))
    # a pod with requests is not BestEffort: that quota does not count it
    await make(reg, "pods", pod("burst", containers=[container(requests={"cpu": "100m"})]))


async def test_quota_spec_change_recounts_and_status_mirrors_hard(reg):
    await make(reg, "configmaps", {"metadata": {"name": "a"}})
    q = await quota(reg, {"configmaps": "3"})
    q["spec"]["hard"] = {"configmaps": "4", "secrets": "1"}
    updated = await reg.update(R["resourcequotas"], NS, "q", q, Options())
    assert updated["status"] == {"hard": {"configmaps": "4", "secrets": "1"},
                                 "used": {"configmaps": "1", "secrets": "0"}}


async def test_usage_is_given_back_once_when_the_object_really_goes(reg):
    await make(reg, "serviceaccounts", {"metadata": {"name": "default"}})
    await quota(reg, {"configmaps": "5", "pods": "5"})
    # a finalizer holds the object: the delete only marks it; the update removing the finalizer removes it
    await make(reg, "configmaps", {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    await reg.delete(R["configmaps"], NS, "held", DeleteOptions())
    assert (await reg.get(R["resourcequotas"], NS, "q"))["status"]["used"]["configmaps"] == "1"
    held = await reg.get(R["configmaps"], NS, "held")
    held["metadata"]["finalizers"] = []
    await reg.update(R["configmaps"], NS, "held", held, Options())
    assert await reg.storage.get_or_none(R["configmaps"], NS, "held") is None
    assert (await reg.get(R["resourcequotas"], NS, "q"))["status"]["used"]["configmaps"] == "0"
    # a pod on a node goes gracefully: counted until the final delete, given back once
    await make(reg, "pods", pod("bound", nodeName="n1"))
    await reg.delete(R["pods"], NS, "bound", DeleteOptions())
    assert (await reg.get(R["pods"], NS, "bound"))["metadata"]["deletionTimestamp"]
    assert (await reg.get(R["resourcequotas"], NS, "q"))["status"]["used"]["pods"] == "1"
    await reg.delete(R["pods"], NS, "bound", DeleteOptions(grace_period_seconds=0))
    assert (await reg.get(R["resourcequotas"], NS, "q"))["status"]["used"]["pods"] == "0"


@pytest.mark.parametrize("phase,expected", [
    ("Pending", {"count/pods": "1", "pods": "1", "requests.cpu": "0.2", "cpu": "0.2", "limits.memory": "268435456"}),
    ("Succeeded", {"count/pods": "1"}),
    ("Failed", {"count/pods": "1"}),
])
def test_finished_pods_count_only_as_stored_objects(phase, expected):
    from labkit.apiserver.admission_plugins import usage
    obj = pod(containers=[container(requests={"cpu": "100m"}, limits={"memory": "128Mi"}),
                          container("d", requests={"cpu": "100m"}, limits={"memory": "128Mi"})])
    obj["status"] = {"phase": phase}
    assert {k: str(v.normalize()) if v != v.to_integral_value() else str(int(v)) for k, v in
            usage(R["pods"], obj).items()} == expected


async def test_a_service_growing_into_a_node_port_is_charged_on_update(reg):
    await quota(reg, {"services.nodeports": "1", "services": "3"})
    await make(reg, "services", {"metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}]}})
    await make(reg, "services", {"metadata": {"name": "b"}, "spec": {"ports": [{"port": 80}]}})
    a = await reg.get(R["services"], NS, "a")
    a["spec"]["type"] = "NodePort"
    await reg.update(R["services"], NS, "a", a, Options())
    used = (await reg.get(R["resourcequotas"], NS, "q"))["status"]["used"]
    assert used == {"services.nodeports": "1", "services": "2"}
    b = await reg.get(R["services"], NS, "b")
    b["spec"]["type"] = "NodePort"
    text = await refusal(reg.update(R["services"], NS, "b", b, Options()))
    assert text == ('services "b" is forbidden: exceeded quota: q, requested: services.nodeports=1, '
                    'used: services.nodeports=1, limited: services.nodeports=1')
    assert (await reg.get(R["services"], NS, "b"))["spec"]["type"] == "ClusterIP"


async def test_toleration_seconds_follow_the_flags(etcd):
    chain = build_chain(Storage(Etcd([etcd.endpoint])), toleration_seconds=(60, 120))
    obj = pod()
    plugin = next(p for p in chain.plugins if p.name == "DefaultTolerationSeconds")
    await plugin.admit(Attributes(CREATE, R["pods"], NS, "p", obj))
    assert [(t["key"], t["tolerationSeconds"]) for t in obj["spec"]["tolerations"]] == \
        [("node.kubernetes.io/not-ready", 60), ("node.kubernetes.io/unreachable", 120)]
