"""invoke cluster.*: a lab as a cluster.

    invoke cluster.kubeconfig --lab ha [--use] [--remove]
        merge the lab's admin credentials into $KUBECONFIG or ~/.kube/config as
        context labkit-ha (labkit.pki.contexts), or take them out again
    invoke cluster.ssh NAME [--lab ha] [--command CMD]
        log into one of the lab's machines (the same as machines.ssh)
"""

from __future__ import annotations

from invoke import Exit, task
from rich.console import Console

from labkit.pki.state import PkiError
from labkit.tasks import load_lab


@task(help={"lab": "the lab (default: ha)",
            "inventory": "an inventory file to read instead of inventory/<lab>.yaml",
            "remove": "take the lab's context, cluster and user out instead",
            "use": "also make it the current context",
            "kubeconfig": "the kubeconfig to edit (default: $KUBECONFIG's first file or ~/.kube/config)"})
def kubeconfig(c, lab="ha", inventory=None, remove=False, use=False, kubeconfig=None):
    """Merge (or --remove) the lab's admin context labkit-<lab> into your kubeconfig."""
    from labkit.pki import contexts

    if remove and inventory is None:
        name, state = lab, None  # taking a context out needs no inventory (the lab may be gone)
    else:
        inv, state = load_lab(lab, inventory)
        name = inv.name
    try:
        result = contexts.remove(name, kubeconfig) if remove else contexts.merge(name, state, kubeconfig, use=use)
    except PkiError as exc:
        raise Exit(f"error: {exc}", code=1) from None
    console = Console(highlight=False, soft_wrap=True)
    context = f"labkit-{name}"
    if not result.changed:
        console.print(f"{result.path}: already {'without' if remove else 'with'} context {context}; nothing changed")
        return
    console.print(f"{result.path}: context {context} {'removed' if remove else 'merged'}"
                  + (f" (previous file saved as {result.backup})" if result.backup else ""))
    console.print(f"current context: {result.current_context or '(none)'}")


@task(help={"name": "the machine (an inventory host name)", "lab": "the lab (default: the inventory's)",
            "inventory": "an inventory file to read instead of inventory/<lab>.yaml",
            "provider": "nspawn or vagrant (default: the inventory's)", "command": "run this instead of a shell"})
def ssh(c, name, lab=None, inventory=None, provider=None, command=None):
    """Log into a lab machine with the lab's SSH key (or run --command there)."""
    from labkit.tasks import machines

    machines.ssh(c, name, lab=lab, inventory=inventory, provider=provider, command=command)
