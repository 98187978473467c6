"""Lab machines: the inventory's hosts as running Debian machines the engine reaches over SSH.

    base.py        the provider interface (up, status, down, ssh, connections), lab
                   directories, provider choice, supervised PID files
    nspawn.py      systemd-nspawn machines on a bridge (Linux, root, no hypervisor)
    vagrant.py     Vagrant VMs from the repository's Vagrantfile (VirtualBox on a laptop)
    image.py       the Debian base image (debootstrap), cached by its recipe's hash
    network.py     the lab bridge (never NATed)
    aptproxy.py    apt-cacher-ng on the bridge address: packages for machines without Internet
    wheelhouse.py  labkit and its dependencies as wheels, installed offline on machines

Entry points: ``get_provider(load_inventory(path), provider=None)`` and
``invoke machines.up|status|down|ssh|wheelhouse`` (labkit/tasks/machines.py).
The engine takes ``provider.connections()`` as ``Runner(..., connections=...)``.
"""

from labkit.providers.base import Machine, Provider, ProviderError, UpReport, get_provider

__all__ = ["Machine", "Provider", "ProviderError", "UpReport", "get_provider"]
