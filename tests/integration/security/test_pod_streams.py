"""kubectl logs/exec/attach through a secure apiserver to a kubelet streaming server, over real TLS.

The pieces, all real: etcd; labkit-apiserver with TLS, Node,RBAC
authorization, anonymous requests off and its kubelet client certificate
(labkit.pki's apiserver-kubelet-client); labkit's kubelet streaming server
(labkit/kubelet/streaming.py) with the kubelet serving certificate labkit.pki
issues for a node at 127.0.0.1, asking the apiserver by SubjectAccessReview
(with the node's own kubeconfig) who may use it; the real kubectl and the
official Python client.

What is a stand-in: the containers. labkit's kubelet will run them in
containerd; until the kubelet issue, HostProcessRuntime runs each "container"
as a host process in this module's temporary directory (see its docstring).

The certificates come from labkit.pki for a small inventory whose node
``node-1`` has the address 127.0.0.1 (so its kubelet serving certificate
names 127.0.0.1 and the apiserver can verify it, as it would a lab node's).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from labkit.client import ApiClient, load_kubeconfig
from labkit.kubelet import channels
from labkit.kubelet.host_runtime import HostProcessRuntime
from labkit.kubelet.runtime import ContainerRef
from labkit.kubelet.streaming import StreamingServer, SubjectAccessReviewAuthorizer
from labkit.localplane import free_port
from labkit.pki.generate import generate
from labkit.provision.inventory import load_inventory
from tests.integration.security.secure_server import KUBECTL, SecureApiserver, SecurityLab, start_secure_apiserver

pytestmark = pytest.mark.integration

NS = "streams"
NODE = "node-1"
INVENTORY = """\
lab: {name: streams, provider: ssh, network: 127.0.0.0/8}
hosts:
  master-1: {address: 127.0.0.2}
  node-1: {address: 127.0.0.1}
groups:
  masters: {hosts: [master-1]}
  workers: {hosts: [node-1]}
"""
# the containers HostProcessRuntime runs for the pods below (name -> command, stdin)
CONTAINERS = {
    ("quiet", "main"): (["sh", "-c", "for i in 1 2 3 4 5; do echo line-$i; done; sleep 0.3; echo err-line >&2; "
                                     "exec sleep 3600"], False),
    ("ticker", "main"): (["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done"], False),
    ("echoer", "main"): (["sh", "-c", "while read line; do echo got:$line; done"], True),
    ("duo", "a"): (["sleep", "3600"], False),
    ("duo", "b"): (["sleep", "3600"], False),
    ("duo-annotated", "a"): (["sleep", "3600"], False),
    ("duo-annotated", "b"): (["sleep", "3600"], False),
}


def pod(name: str, node: str | None, containers: list[str], annotations: dict | None = None) -> dict:
    spec = {"automountServiceAccountToken": False,
            "containers": [{"name": c, "image": "busybox", "stdin": CONTAINERS.get((name, c), ([], False))[1]}
                           for c in containers]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "annotations": annotations or {}}, "spec": spec}


def node(name: str, addresses: list[dict], port: int) -> dict:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"addresses": addresses, "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}


class KubeletThread:
    """The kubelet's streaming server and the stand-in runtime, on an event loop of their own (kubectl and
    the Python client block this test's thread)."""

    def __init__(self, server: SecureApiserver, base: Path, port: int):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="kubelet", daemon=True)
        self.thread.start()
        pki = server.lab.pki
        self.runtime = HostProcessRuntime(base / "runtime")
        kubeconfig = server.kubeconfig(f"kubelet-{NODE}")  # the node's own credentials, for its reviews
        self.client = ApiClient(load_kubeconfig(kubeconfig), user_agent="kubelet/streams-test")
        self.server = StreamingServer(NODE, self.runtime, tls_cert_file=pki / f"kubelet-{NODE}.crt",
                                      tls_private_key_file=pki / f"kubelet-{NODE}.key",
                                      client_ca_file=pki / "ca.crt",
                                      authorizer=SubjectAccessReviewAuthorizer(self.client))
        self.port = port
        self.call(self.server.start("127.0.0.1", port))

    def call(self, coroutine, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def start(self, pod_name: str, container: str) -> None:
        command, stdin = CONTAINERS[(pod_name, container)]
        self.call(self.runtime.start(ContainerRef(NS, pod_name, container), command, stdin=stdin))

    def stop(self) -> None:
        try:
            self.call(self.server.stop())
            self.call(self.runtime.close())
            self.call(self.client.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> SecurityLab:
    """labkit.pki's certificates for a lab whose node-1 is at 127.0.0.1, and static token users."""
    base = tmp_path_factory.mktemp("streams-lab")
    (base / "inventory.yaml").write_text(INVENTORY)
    state = base / "streams"
    generate(load_inventory(base / "inventory.yaml"), state)
    users = {secrets.token_hex(16): {"user": name, "uid": str(1000 + i), "groups": []}
             for i, name in enumerate(("reader", "getter", "execer"))}
    token_file = state / "tokens.csv"
    token_file.write_text("".join(f'{t},{u["user"]},{u["uid"]},""\n' for t, u in users.items()))
    token_file.chmod(0o600)
    return SecurityLab(state, token_file, users)


@pytest.fixture(scope="module")
def cluster(lab, tmp_path_factory):
    """The secure apiserver, the kubelet on 127.0.0.1, the pods and the RBAC of this module's users."""
    base = tmp_path_factory.mktemp("streams")
    server = start_secure_apiserver(lab, base, authorization_mode="Node,RBAC", anonymous=False)
    kubelet = None
    try:
        kubelet = KubeletThread(server, base, free_port())
        dead_port = free_port()  # nobody listens there: the kubelet of node-down is "down"
        objects = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": NS}},
            node(NODE, [{"type": "InternalIP", "address": "127.0.0.1"}], kubelet.port),
            node("node-down", [{"type": "InternalIP", "address": "127.0.0.1"}], dead_port),
            # its Hostname comes first in the preferred order; the kubelet's certificate does not name it
            node("node-misnamed", [{"type": "Hostname", "address": "localhost"},
                                   {"type": "InternalIP", "address": "127.0.0.1"}], kubelet.port),
            pod("quiet", NODE, ["main"]),
            pod("ticker", NODE, ["main"]),
            pod("echoer", NODE, ["main"]),
            pod("duo", NODE, ["a", "b"]),
            pod("duo-annotated", NODE, ["a", "b"], {"kubectl.kubernetes.io/default-container": "b"}),
            pod("pending", None, ["main"]),
            pod("lost", "node-down", ["main"]),
            pod("misnamed", "node-misnamed", ["main"]),
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
             "metadata": {"name": "pod-reader", "namespace": NS},
             "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
             "metadata": {"name": "exec-getter", "namespace": NS},
             "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                       {"apiGroups": [""], "resources": ["pods/exec", "pods/log"], "verbs": ["get"]}]},
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
             "metadata": {"name": "exec-creator", "namespace": NS},
             "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                       {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get", "create"]}]},
        ]
        for user, role in (("reader", "pod-reader"), ("getter", "exec-getter"), ("execer", "exec-creator")):
            objects.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                            "metadata": {"name": user, "namespace": NS},
                            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
                            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                                          "name": user}]})
        admin = server.kubeconfig("admin")
        done = server.kubectl(admin, "apply", "-f", "-", input=yaml.safe_dump_all(objects))
        assert done.returncode == 0, done.stderr
        for name in (NODE, "node-down", "node-misnamed"):  # status as a kubelet reports it
            status = next(o for o in objects if o["kind"] == "Node" and o["metadata"]["name"] == name)["status"]
            done = server.kubectl(admin, "patch", "node", name, "--subresource=status", "--type=merge",
                                  "-p", json.dumps({"status": status}))
            assert done.returncode == 0, done.stderr
        for pod_name, container in CONTAINERS:
            kubelet.start(pod_name, container)
        yield server, kubelet
    finally:
        if kubelet is not None:
            kubelet.stop()
        server.stop()


@pytest.fixture(scope="module")
def admin(cluster) -> Path:
    server, _ = cluster
    return server.kubeconfig("admin")


def kubectl(cluster, config: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    server, _ = cluster
    return server.kubectl(config, f"--namespace={NS}", *args, input=input)


def kubectl_popen(cluster, config: Path, *args: str, stdin=subprocess.DEVNULL) -> subprocess.Popen:
    """kubectl that keeps running (logs -f, attach): read its output line by line, then terminate it."""
    return subprocess.Popen([KUBECTL, f"--kubeconfig={config}", f"--namespace={NS}", *args], stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={"HOME": str(config.parent), "PATH": "/usr/bin:/bin"})


def read_lines_until(process: subprocess.Popen, predicate, limit: int = 200) -> list[str]:
    lines = []
    for _ in range(limit):
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if predicate(lines):
            return lines
    process.kill()
    raise AssertionError(f"kubectl stopped before the expected output: {lines}; stderr: {process.stderr.read()}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_log(cluster, config: Path, pod_name: str, text: str) -> str:
    """The pod's logs once they contain ``text`` (the containers write while the test runs)."""
    import time

    deadline = time.monotonic() + 20
    while True:
        done = kubectl(cluster, config, "logs", pod_name)
        assert done.returncode == 0, done.stderr
        if text in done.stdout or time.monotonic() > deadline:
            return done.stdout
        time.sleep(0.1)


# -- logs ------------------------------------------------------------------------------------------

def test_kubectl_logs_reads_the_containers_log_through_the_kubelet(cluster, admin):
    out = wait_for_log(cluster, admin, "quiet", "err-line")
    assert out == "line-1\nline-2\nline-3\nline-4\nline-5\nerr-line\n"


def test_kubectl_logs_tail_timestamps_and_limit_bytes(cluster, admin):
    wait_for_log(cluster, admin, "quiet", "err-line")
    assert kubectl(cluster, admin, "logs", "quiet", "--tail=2").stdout == "line-5\nerr-line\n"
    stamped = kubectl(cluster, admin, "logs", "quiet", "--tail=1", "--timestamps").stdout
    stamp, text = stamped.rstrip("\n").split(" ", 1)
    assert text == "err-line" and stamp.endswith("Z") and "T" in stamp
    assert kubectl(cluster, admin, "logs", "quiet", "--limit-bytes=9").stdout == "line-1\nli"
    assert kubectl(cluster, admin, "logs", "quiet", "--since=1h").stdout.startswith("line-1\n")


def test_kubectl_logs_follow_streams_new_lines(cluster, admin):
    process = kubectl_popen(cluster, admin, "logs", "-f", "ticker", "--tail=1")
    try:
        lines = read_lines_until(process, lambda seen: len(seen) >= 4)
    finally:
        stop(process)
    numbers = [int(line.removeprefix("tick-")) for line in lines]
    assert numbers == list(range(numbers[0], numbers[0] + 4))  # consecutive: written after kubectl started


def test_logs_of_a_pod_without_node_are_empty_and_of_a_wrong_container_refused(cluster, admin):
    done = kubectl(cluster, admin, "logs", "pending")
    assert done.returncode == 0 and done.stdout == ""
    done = kubectl(cluster, admin, "logs", "quiet", "-c", "nope")
    assert done.returncode != 0
    assert "container nope is not valid for pod quiet" in done.stderr


def test_previous_logs_of_a_container_that_never_restarted(cluster, admin):
    done = kubectl(cluster, admin, "logs", "quiet", "--previous")
    assert done.returncode != 0
    assert 'previous terminated container "main" in pod "quiet" not found' in done.stderr


# -- exec ------------------------------------------------------------------------------------------

def test_kubectl_exec_stdout_stderr_and_exit_code(cluster, admin):
    done = kubectl(cluster, admin, "exec", "quiet", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert done.returncode == 3
    assert done.stdout == "out\n"
    assert "err\n" in done.stderr
    assert "command terminated with exit code 3" in done.stderr


def test_kubectl_exec_success_runs_in_the_containers_directory(cluster, admin):
    done = kubectl(cluster, admin, "exec", "quiet", "--", "sh", "-c", "ls")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "0.log\n"  # the stand-in runtime's container directory


def test_kubectl_exec_of_a_missing_program(cluster, admin):
    done = kubectl(cluster, admin, "exec", "quiet", "--", "no-such-program")
    assert done.returncode == 1
    assert ('Internal error occurred: error executing command in container: exec: "no-such-program": '
            'No such file or directory') in done.stderr


def test_kubectl_exec_with_piped_stdin(cluster, admin):
    done = kubectl(cluster, admin, "exec", "-i", "quiet", "--", "tr", "a-z", "A-Z", input="hello\nworld\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "HELLO\nWORLD\n"


def test_kubectl_exec_picks_the_default_container_annotation(cluster, admin):
    # kubectl reads kubectl.kubernetes.io/default-container itself and names the container in its request
    done = kubectl(cluster, admin, "exec", "duo-annotated", "--", "pwd")
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("/streams_duo-annotated/b\n")  # the stand-in runtime's directory of container b


def test_python_client_stream_exec(cluster):
    import kubernetes
    from kubernetes.stream import stream

    server, _ = cluster
    with server.client("admin") as api_client:
        core = kubernetes.client.CoreV1Api(api_client)
        out = stream(core.connect_get_namespaced_pod_exec, "quiet", NS, command=["sh", "-c", "echo hi there"],
                     stderr=True, stdin=False, stdout=True, tty=False)
        assert out == "hi there\n"
        ws = stream(core.connect_get_namespaced_pod_exec, "quiet", NS,
                    command=["sh", "-c", "echo to-out; echo to-err >&2; exit 7"],
                    stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False)
        ws.run_forever(timeout=30)
        assert ws.read_stdout() == "to-out\n"
        assert ws.read_stderr() == "to-err\n"
        assert ws.returncode == 7
        assert ws.subprotocol in ("v5.channel.k8s.io", "v4.channel.k8s.io")


def test_python_client_stream_exec_with_stdin(cluster):
    import kubernetes
    from kubernetes.stream import stream

    server, _ = cluster
    with server.client("admin") as api_client:
        core = kubernetes.client.CoreV1Api(api_client)
        ws = stream(core.connect_get_namespaced_pod_exec, "quiet", NS, command=["cat"], stderr=True, stdin=True,
                    stdout=True, tty=False, _preload_content=False)
        ws.write_stdin("piped through cat\n")
        line = ws.readline_stdout(timeout=20)
        ws.close_channel(0)  # v5: the end of stdin; cat ends
        ws.run_forever(timeout=20)
        assert line == "piped through cat"
        assert ws.returncode == 0


def test_kubectl_exec_it_on_a_terminal(cluster, admin):
    """kubectl -it on a real terminal (util-linux ``script`` gives it one): its size reaches the command.
    kubectl sends the size once the stream is up, the command may start first: it waits for a size."""
    inner = (f"stty cols 100 rows 30; {KUBECTL} --kubeconfig={admin} --namespace={NS} exec -it quiet -- "
             f"sh -c 'while [ \"$(stty size)\" = \"0 0\" ]; do sleep 0.1; done; stty size; tty; exit 4'")
    done = subprocess.run(["script", "-qec", inner, "/dev/null"], capture_output=True, text=True, timeout=90,
                          env={"HOME": str(admin.parent), "PATH": "/usr/bin:/bin"}, stdin=subprocess.DEVNULL)
    lines = done.stdout.replace("\r", "").splitlines()
    # script types a NUL when its own stdin ends; the remote terminal echoes it as ^@
    assert any(line.removeprefix("^@") == "30 100" for line in lines), done.stdout
    assert any(line.startswith("/dev/pts/") for line in lines)
    assert "command terminated with exit code 4" in done.stdout  # script puts stderr on its terminal too


def test_python_client_exec_with_a_terminal(cluster):
    import kubernetes
    from kubernetes.stream import stream

    server, _ = cluster
    with server.client("admin") as api_client:
        core = kubernetes.client.CoreV1Api(api_client)
        ws = stream(core.connect_get_namespaced_pod_exec, "quiet", NS, command=["sh", "-c", "read x; stty size; tty"],
                    stderr=True, stdin=True, stdout=True, tty=True, _preload_content=False)
        ws.write_channel(channels.RESIZE, json.dumps({"Width": 100, "Height": 30}))
        ws.write_stdin("go\n")
        ws.run_forever(timeout=30)
        lines = ws.read_stdout().splitlines()
        assert ws.returncode == 0
    assert lines[0] == "go"  # the terminal echoes what was typed
    assert lines[1] == "30 100"  # the size sent on the resize stream (rows, columns)
    assert lines[2].startswith("/dev/pts/")


async def _exec_raw(server: SecureApiserver, protocol: str) -> tuple[str, dict[int, bytes], int | None]:
    """exec over a WebSocket offering only ``protocol``: (chosen protocol, data per stream, close code)."""
    import aiohttp

    context = ssl.create_default_context(cafile=str(server.lab.pki / "ca.crt"))
    context.load_cert_chain(str(server.lab.pki / "admin.crt"), str(server.lab.pki / "admin.key"))
    url = (f"{server.url}/api/v1/namespaces/{NS}/pods/quiet/exec?command=sh&command=-c"
           f"&command=echo+out%3B+echo+err+%3E%262%3B+exit+2&stdout=1&stderr=1")
    received: dict[int, bytes] = {}
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, protocols=[protocol], ssl=context) as ws:
            negotiated = channels.BY_NAME[ws.protocol]
            async for message in ws:
                stream, data = channels.decode(negotiated, message.data)
                received[stream] = received.get(stream, b"") + data
            return ws.protocol, received, ws.close_code


@pytest.mark.parametrize("protocol", [p.name for p in channels.PROTOCOLS])
def test_every_channel_protocol_through_the_apiserver(cluster, protocol):
    server, _ = cluster
    chosen, received, close_code = asyncio.run(_exec_raw(server, protocol))
    assert chosen == protocol  # the kubelet's choice, passed on by the apiserver
    assert received[channels.STDOUT] == b"out\n" and received[channels.STDERR] == b"err\n"
    if channels.BY_NAME[protocol].status_json:
        assert channels.exit_code_of(received[channels.ERROR]) == 2
    else:
        assert received[channels.ERROR].startswith(b"command terminated with non-zero exit code")
    assert close_code == 1000  # the kubelet's normal close, relayed


def test_exec_container_errors_are_upstreams(cluster):
    import kubernetes
    from kubernetes.stream import stream

    server, _ = cluster
    with server.client("admin") as api_client:
        core = kubernetes.client.CoreV1Api(api_client)
        for container, message in ((None, "a container name must be specified for pod duo, choose one of: [a b]"),
                                   ("nope", "container nope is not valid for pod duo")):
            kwargs = {"container": container} if container else {}
            with pytest.raises(kubernetes.client.ApiException) as refused:
                stream(core.connect_get_namespaced_pod_exec, "duo", NS, command=["true"], stderr=True,
                       stdin=False, stdout=True, tty=False, **kwargs)
            assert "400 Bad Request" in str(refused.value) and message in str(refused.value)


def test_exec_into_a_pod_without_node(cluster, admin):
    done = kubectl(cluster, admin, "exec", "pending", "--", "true")
    assert done.returncode != 0
    assert "pod pending does not have a host assigned" in done.stderr


# -- attach ----------------------------------------------------------------------------------------

def test_kubectl_attach_shows_the_running_output(cluster, admin):
    process = kubectl_popen(cluster, admin, "attach", "ticker")
    try:
        lines = read_lines_until(process, lambda seen: sum(line.startswith("tick-") for line in seen) >= 2)
    finally:
        stop(process)
    assert [line for line in lines if line.startswith("tick-")]


def test_kubectl_attach_with_stdin(cluster, admin):
    process = kubectl_popen(cluster, admin, "attach", "-i", "echoer", stdin=subprocess.PIPE)
    try:
        process.stdin.write("ping\n")
        process.stdin.flush()
        lines = read_lines_until(process, lambda seen: "got:ping" in seen)
    finally:
        stop(process)
    assert "got:ping" in lines


# -- when the kubelet cannot be reached --------------------------------------------------------------

def test_kubelet_down(cluster, admin):
    done = kubectl(cluster, admin, "logs", "lost")
    assert done.returncode != 0
    assert "connect: connection refused" in done.stderr and "/containerLogs/streams/lost/main" in done.stderr
    done = kubectl(cluster, admin, "exec", "lost", "--", "true")
    assert done.returncode != 0
    assert "error dialing backend" in done.stderr and "connection refused" in done.stderr


def test_kubelet_serving_certificate_is_verified(cluster, admin):
    # node-misnamed's preferred address is its Hostname "localhost", which the kubelet's certificate lacks
    done = kubectl(cluster, admin, "exec", "misnamed", "--", "true")
    assert done.returncode != 0
    assert "error dialing backend: tls: failed to verify certificate" in done.stderr


def test_missing_node(cluster, admin):
    orphan = pod("orphan", "no-such-node", ["main"])
    done = kubectl(cluster, admin, "apply", "-f", "-", input=json.dumps(orphan))
    assert done.returncode == 0, done.stderr
    done = kubectl(cluster, admin, "exec", "orphan", "--", "true")
    assert done.returncode != 0
    assert 'nodes "no-such-node" not found' in done.stderr


# -- who may ------------------------------------------------------------------------------------------

def test_no_credentials_is_401(cluster):
    import kubernetes
    from kubernetes.stream import stream

    server, _ = cluster
    with server.client(identity=None) as api_client:
        core = kubernetes.client.CoreV1Api(api_client)
        with pytest.raises(kubernetes.client.ApiException) as refused:
            stream(core.connect_get_namespaced_pod_exec, "quiet", NS, command=["true"], stderr=True, stdin=False,
                   stdout=True, tty=False)
    assert "401 Unauthorized" in str(refused.value)
    done = kubectl(cluster, server.anonymous_kubeconfig(), "logs", "quiet")
    assert done.returncode != 0  # kubectl asks for a user name when the server says 401, and gets none


def test_a_pod_reader_may_not_exec(cluster):
    server, _ = cluster
    config = server.token_kubeconfig(server.lab.token_of("reader"))
    assert can_i(cluster, config, "create", "pods", "--subresource=exec") == "no"
    done = kubectl(cluster, config, "exec", "quiet", "--", "true")
    assert done.returncode != 0
    # kubectl's last word comes from its SPDY fallback (a POST: create), as against upstream
    assert ('pods "quiet" is forbidden: User "reader" cannot create resource "pods/exec" in API group "" '
            'in the namespace "streams"') in done.stderr  # upstream names the resource, not the subresource
    done = kubectl(cluster, config, "logs", "quiet")
    assert done.returncode != 0 and 'cannot get resource "pods/log"' in done.stderr


def test_exec_over_websocket_needs_create_as_upstream(cluster):
    """get on pods/exec opens no WebSocket exec (upstream 1.35+): can-i create predicts what works."""
    server, _ = cluster
    getter = server.token_kubeconfig(server.lab.token_of("getter"))
    assert can_i(cluster, getter, "get", "pods", "--subresource=exec") == "yes"
    assert can_i(cluster, getter, "create", "pods", "--subresource=exec") == "no"
    done = kubectl(cluster, getter, "exec", "quiet", "--", "true")
    assert done.returncode != 0
    assert 'User "getter" cannot create resource "pods/exec"' in done.stderr
    assert kubectl(cluster, getter, "logs", "quiet", "--tail=1").returncode == 0  # get pods/log is enough

    execer = server.token_kubeconfig(server.lab.token_of("execer"))
    assert can_i(cluster, execer, "create", "pods", "--subresource=exec") == "yes"
    done = kubectl(cluster, execer, "exec", "quiet", "--", "echo", "allowed")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "allowed\n"


def can_i(cluster, config: Path, *args: str) -> str:
    """``kubectl auth can-i``: a subresource is --subresource=exec (``pods/exec`` would be a pod named exec)."""
    return kubectl(cluster, config, "auth", "can-i", *args).stdout.strip()


def _kubelet_get(port: int, path: str, pki: Path, identity: str | None) -> tuple[int, str]:
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if identity:
        context.load_cert_chain(str(pki / f"{identity}.crt"), str(pki / f"{identity}.key"))
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}{path}", context=context, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def test_the_kubelet_checks_who_asks(cluster):
    server, kubelet = cluster
    pki = server.lab.pki
    path = f"/containerLogs/{NS}/quiet/main?tailLines=1"
    assert _kubelet_get(kubelet.port, path, pki, None) == (401, "Unauthorized\n")
    assert _kubelet_get(kubelet.port, path, pki, "kube-proxy") == (
        403, "Forbidden (user=system:kube-proxy, verb=get, resource=nodes, subresource=proxy)\n")
    status, text = _kubelet_get(kubelet.port, path, pki, "apiserver-kubelet-client")
    assert status == 200 and text == "err-line\n"
