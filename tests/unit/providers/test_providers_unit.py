"""Providers without machines: input checks, identity files, image recipes, PID files, Vagrant's output.

Nothing here boots a machine (tests/lab/providers does); everything that can
be wrong in an inventory is found before anything is made, and is tested so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from labkit.provision.inventory import load_inventory
from labkit.providers.base import PidFile, ProviderError, choose_provider, get_provider, lab_dir
from labkit.providers.image import host_debian_mirror, image_path, recipe, recipe_hash
from labkit.providers.network import Bridge, interface_exists
from labkit.providers.nspawn import NspawnProvider
from labkit.providers.vagrant import (
    VagrantProvider, machine_states, parse_machine_readable, parse_ssh_config, vagrant_address,
)
from labkit.providers.wheelhouse import install_script

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """Lab state in a directory of this test's own."""
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "home"


def inventory(tmp_path: Path, hosts: str) -> Path:
    """A small nspawn lab; ``hosts`` is the YAML of its hosts, one a line."""
    path = tmp_path / "lab.yaml"
    host_lines = "".join(f"  {line}\n" for line in hosts.splitlines() if line.strip())
    path.write_text(
        "lab:\n  name: unit\n  provider: nspawn\n  network: 10.213.7.0/24\n  bridge: lkt-unit7\n"
        f"hosts:\n{host_lines}"
        "groups:\n  masters: {hosts: [m1], vars: {memory: 2048, cpus: 2}}\n")
    return path


# --- nspawn: bad input is refused before anything changes -----------------

@pytest.mark.parametrize("address, words", [
    ("10.99.0.5", ["m1", "10.99.0.5", "outside lab.network 10.213.7.0/24", "lkt-unit7"]),
    ("10.213.7.1", ["m1", "reserved", "10.213.7.1"]),          # the host's own bridge address
    ("10.213.7.255", ["m1", "reserved"]),
    ("m1.example", ["m1", "must be an IP address"]),
])
def test_nspawn_refuses_addresses_it_cannot_give(tmp_path, home, address, words):
    path = inventory(tmp_path, f"m1: {{address: {address}}}\nm2: {{address: 10.213.7.12}}\n")
    provider = NspawnProvider(load_inventory(path))
    with pytest.raises(ProviderError) as err:
        provider.up()
    message = str(err.value)
    for word in words:
        assert word in message
    assert f"{path}:" in message                     # file and line of the host
    assert not home.exists()                          # nothing made: no lab directory, no key
    assert not interface_exists("lkt-unit7")          # no bridge


def test_bridge_name_defaults_to_the_lab_and_is_checked(tmp_path, home):
    path = inventory(tmp_path, "m1: {address: 10.213.7.11}\n")
    text = path.read_text().replace("  bridge: lkt-unit7\n", "")
    path.write_text(text)
    assert NspawnProvider(load_inventory(path)).bridge.name == "lk-unit"
    too_long = Bridge("lk-a-very-long-name", NspawnProvider(load_inventory(path)).network)
    with pytest.raises(ProviderError, match="longer than 15"):
        too_long.check()
    assert Bridge("x", NspawnProvider(load_inventory(path)).network).address.compressed == "10.213.7.1/24"


def test_reserved_lab_name(tmp_path, home):
    path = inventory(tmp_path, "m1: {address: 10.213.7.11}\n")
    path.write_text(path.read_text().replace("name: unit", "name: cache"))
    with pytest.raises(ProviderError, match="reserved"):
        lab_dir(load_inventory(path))


def test_identity_files_make_each_copy_its_own_machine(tmp_path, home):
    path = inventory(tmp_path, "m1: {address: 10.213.7.11}\nm2: {address: 10.213.7.12}\n")
    provider = NspawnProvider(load_inventory(path))
    provider.dir.mkdir(parents=True)
    from labkit.providers.base import lab_ssh_key
    key = lab_ssh_key(provider.inventory)
    files = provider.identity_files(provider.inventory.hosts["m2"])
    assert files["etc/hostname"][0] == "m2\n"
    assert "10.213.7.11\tm1\n10.213.7.12\tm2\n" in files["etc/hosts"][0]
    assert files["etc/labkit/host0.env"][0] == "ADDRESS=10.213.7.12/24\n"      # no gateway anywhere
    assert files["root/.ssh/authorized_keys"] == (Path(f"{key}.pub").read_text(), 0o600)
    assert files["etc/apt/apt.conf.d/01labkit-proxy"][0] == 'Acquire::http::Proxy "http://10.213.7.1:3142";\n'
    assert provider.connections()["m2"] == {"address": "10.213.7.12", "port": 22, "user": "root", "key": str(key)}
    argv = provider.nspawn_argv(provider.inventory.hosts["m2"])
    for flag in ("--register=no", "--keep-unit", "--capability=all", "--network-bridge=lkt-unit7", "--boot",
                 "--system-call-filter=@keyring @privileged @mount bpf"):
        assert flag in argv
    assert argv[argv.index("-M") + 1] == "m2"
    ssh = provider.ssh_argv("m2", ["true"])
    assert ssh[-2:] == ["root@10.213.7.12", "true"] and "StrictHostKeyChecking=yes" in ssh
    with pytest.raises(ProviderError, match="no machine 'm9'"):
        provider.ssh_argv("m9")


def test_status_of_a_lab_never_made_is_missing(tmp_path, home):
    provider = NspawnProvider(load_inventory(inventory(tmp_path, "m1: {address: 10.213.7.11}\n")))
    assert [(m.name, m.state) for m in provider.status()] == [("m1", "missing")]
    assert provider.down() == []


def test_down_removes_only_what_the_provider_made(tmp_path, home):
    provider = NspawnProvider(load_inventory(inventory(tmp_path, "m1: {address: 10.213.7.11}\n")))
    from labkit.providers.base import lab_ssh_key
    lab_ssh_key(provider.inventory)
    (provider.dir / "pki").mkdir()
    (provider.dir / "pki" / "ca.crt").write_text("the lab's CA")      # another part's state
    removed = provider.down()
    assert removed == [f"{provider.dir / 'ssh'} removed"]
    assert (provider.dir / "pki" / "ca.crt").read_text() == "the lab's CA"
    (provider.dir / "pki" / "ca.crt").unlink()
    (provider.dir / "pki").rmdir()
    lab_ssh_key(provider.inventory)
    provider.down()
    assert not provider.dir.exists()                                   # nothing else left: gone


# --- the base image recipe --------------------------------------------------

def test_image_is_cached_by_recipe(home):
    base = recipe("bookworm", "http://deb.debian.org/debian")
    changed = {**base, "packages": base["packages"] + ["less"]}
    assert recipe_hash(base) == recipe_hash(recipe("bookworm", "http://deb.debian.org/debian"))
    assert recipe_hash(changed) != recipe_hash(base)
    assert image_path(base) != image_path(changed)
    assert str(image_path(base)).startswith(os.environ["LABKIT_CACHE"])
    assert "labkit-cgroup-rw.service" in base["enable"] and "ssh.service" in base["enable"]


def test_host_mirror_comes_from_this_hosts_apt_sources():
    mirror = host_debian_mirror()
    assert mirror.startswith("http") and "/debian" in mirror and "security" not in mirror


# --- supervised processes ---------------------------------------------------

def test_pid_file_follows_our_process_and_never_a_recycled_pid(tmp_path):
    proc = subprocess.Popen(["sleep", "60"])
    pidfile = PidFile(tmp_path / "sleep.pid")
    pidfile.record(proc.pid)
    assert pidfile.pid() == proc.pid
    pid, start = (tmp_path / "sleep.pid").read_text().split()
    other = PidFile(tmp_path / "recycled.pid")
    other.path.write_text(f"{pid} {int(start) + 1}\n")      # same PID, another process's start time
    assert other.pid() is None
    assert other.stop() is False and proc.poll() is None      # so it is never signalled
    assert pidfile.stop(timeout=5) is True
    proc.wait(timeout=5)        # PidFile.pid() may have reaped it already (it is our child)
    assert not Path(f"/proc/{proc.pid}").exists()
    assert pidfile.pid() is None and not pidfile.path.exists()


# --- provider choice --------------------------------------------------------

def test_auto_without_vagrant_or_nspawn_explains_both_ways(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))      # neither vagrant, VBoxManage nor systemd-nspawn
    with pytest.raises(ProviderError) as err:
        choose_provider()
    assert "VirtualBox" in str(err.value) and "systemd-nspawn" in str(err.value) and "--provider" in str(err.value)


def test_provider_from_inventory_or_flag(tmp_path, home):
    inv = load_inventory(inventory(tmp_path, "m1: {address: 10.213.7.11}\n"))
    assert get_provider(inv).name == "nspawn"
    assert get_provider(inv, "vagrant").name == "vagrant"
    with pytest.raises(ProviderError, match="'kvm' is not one of"):
        get_provider(inv, "kvm")


# --- Vagrant: addresses, machine-readable output, ssh-config ----------------

def test_vagrant_addresses_keep_their_host_number():
    assert vagrant_address("192.168.77.11", "192.168.77.0/24", "192.168.56.0/24") == "192.168.56.11"
    assert vagrant_address("10.1.2.3", "10.1.0.0/16", "192.168.56.0/21") == "192.168.58.3"
    with pytest.raises(ProviderError, match="outside lab.network"):
        vagrant_address("10.9.9.9", "192.168.77.0/24", "192.168.56.0/24")
    with pytest.raises(ProviderError, match="no place"):
        vagrant_address("10.1.200.3", "10.1.0.0/16", "192.168.56.0/24")
    inv = load_inventory(REPO / "inventory" / "ha.yaml")
    vp = VagrantProvider(inv)
    assert vp.connections()["master-1"]["address"] == "192.168.56.11"
    assert vp.connections()["master-1"]["user"] == "root"


def test_vagrant_lxc_machines_keep_the_inventory_addresses_on_the_lab_bridge(monkeypatch):
    monkeypatch.setenv("LABKIT_VAGRANT_PROVIDER", "lxc")
    vp = VagrantProvider(load_inventory(REPO / "inventory" / "single.yaml"))
    assert vp.connections()["master-1"]["address"] == "192.168.77.11"
    assert vp.bridge.name == "lk-single" and str(vp.bridge.address) == "192.168.77.1/24"
    assert vp.env()["VAGRANT_DEFAULT_PROVIDER"] == "lxc"


# Vagrant's documented machine-readable format (timestamp,target,type,data...),
# as `vagrant status --machine-readable` prints it for a running and a new machine.
STATUS_OUTPUT = """\
1764570000,master-1,metadata,provider,virtualbox
1764570000,worker-1,metadata,provider,virtualbox
1764570000,master-1,provider-name,virtualbox
1764570000,master-1,state,running
1764570000,master-1,state-human-short,running
1764570000,master-1,state-human-long,The VM is running. To stop this VM%!(VAGRANT_COMMA) you can run `vagrant halt` to\\nshut it down forcefully%!(VAGRANT_COMMA) or you can run `vagrant suspend` to simply\\nsuspend the virtual machine.
1764570000,worker-1,provider-name,virtualbox
1764570000,worker-1,state,not_created
1764570000,worker-1,state-human-short,not created
1764570000,,ui,info,Current machine states:\\n\\nmaster-1                  running (virtualbox)
"""


def test_vagrant_machine_readable_status():
    rows = parse_machine_readable("Vagrant warning: a plugin said something\n" + STATUS_OUTPUT)
    assert rows[0] == {"target": "master-1", "type": "metadata", "data": ["provider", "virtualbox"]}
    long = next(r for r in rows if r["type"] == "state-human-long")
    assert "To stop this VM, you can run" in long["data"][0] and "\n" in long["data"][0]
    assert machine_states(STATUS_OUTPUT) == {"master-1": "running", "worker-1": "not_created"}


def test_vagrant_ssh_config_parsed():
    text = textwrap.dedent("""\
        Host master-1
          HostName 127.0.0.1
          User vagrant
          Port 2222
          UserKnownHostsFile /dev/null
          StrictHostKeyChecking no
          PasswordAuthentication no
          IdentityFile "/home/me/labkit/.labkit/ha/vagrant/machines/master-1/virtualbox/private_key"
          IdentitiesOnly yes
          LogLevel FATAL
          PubkeyAcceptedKeyTypes +ssh-rsa
          HostKeyAlgorithms +ssh-rsa
        """)
    conf = parse_ssh_config(text)
    assert (conf["HostName"], conf["User"], conf["Port"]) == ("127.0.0.1", "vagrant", "2222")
    assert conf["IdentityFile"].endswith("/private_key")
    with pytest.raises(ProviderError, match="no HostName"):
        parse_ssh_config("The provider for this Vagrant-managed machine is reporting that it\nis not yet ready")


VAGRANT_ENV = {**os.environ, "VAGRANT_CHECKPOINT_DISABLE": "1", "VAGRANT_BOX_UPDATE_CHECK_DISABLE": "1"}


def test_vagrantfile_validates_with_debians_vagrant(tmp_path):
    """The repository's Vagrantfile, read by the real vagrant (VirtualBox itself cannot run here)."""
    env = {**VAGRANT_ENV, "LABKIT_LAB": "ha", "VAGRANT_DOTFILE_PATH": str(tmp_path / "vagrant")}
    proc = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Vagrantfile validated successfully" in proc.stdout
    for name in ("lb-1", "master-1", "worker-2"):
        assert f"{name}: Ignoring provider config" in proc.stdout


def test_vagrant_status_reports_vagrants_own_error(tmp_path, home):
    """Real `vagrant status --machine-readable` through python-vagrant: without VirtualBox its
    error-exit line becomes a ProviderError with Vagrant's words."""
    provider = VagrantProvider(load_inventory(REPO / "inventory" / "single.yaml"))
    with pytest.raises(ProviderError) as err:
        provider.status()
    assert "VirtualBox" in str(err.value)


def test_install_script_is_offline():
    script = install_script()
    assert "--no-index" in script and "/opt/labkit/venv" in script and "--find-links /opt/labkit/wheelhouse" in script


def test_machines_tasks_are_listed_and_bad_input_changes_nothing(tmp_path, home):
    listed = subprocess.run([sys.executable, "-m", "invoke", "--list"], cwd=REPO, capture_output=True, text=True)
    for name in ("machines.up", "machines.status", "machines.down", "machines.ssh", "machines.wheelhouse"):
        assert name in listed.stdout, listed.stdout + listed.stderr
    path = inventory(tmp_path, "m1: {address: 10.99.0.5}\n")
    proc = subprocess.run([sys.executable, "-m", "invoke", "machines.up", "--inventory", str(path)], cwd=REPO,
                          capture_output=True, text=True, env={**os.environ})
    assert proc.returncode == 1
    assert "outside lab.network" in proc.stderr + proc.stdout
    assert not home.exists()
