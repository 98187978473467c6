"""pki.generate: bring a lab's PKI and kubeconfigs in line with its inventory.

Three steps, so bad input never leaves a half-written state:
1. read everything already on disk; a corrupt file or half a CA is an error
   before anything is written;
2. make sure the state directories exist (0700) and can be written;
3. create what is missing and reissue what no longer fits (labkit.pki.issue
   .problems: wrong key, wrong CA, expiring, subject/SANs/usages that differ
   from the inventory), rewrite only the kubeconfigs whose content changed,
   and remove the certificates, keys and kubeconfigs of hosts no longer in
   the inventory (the CAs, sa.key and the encryption config are never removed).

Every change is returned with its reason; a second run returns none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from labkit.pki import encryption, serviceaccount
from labkit.pki.ca import new_ca, read_ca, read_pair
from labkit.pki.identities import CAS, Identity, endpoint, lab_identities
from labkit.pki.issue import RENEW_BEFORE, issue, problems
from labkit.pki.kubeconfigs import build, kubeconfig_path, render
from labkit.pki.state import PRIVATE_FILE, PkiError, ensure_private_dir, write_atomic
from labkit.provision.inventory import Inventory


@dataclass
class Change:
    path: str  # relative to the lab's state directory, e.g. "pki/apiserver.crt"
    action: str  # created | reissued | rewritten | written | removed
    reason: str


def generate(inventory: Inventory, lab_dir: Path, now: datetime | None = None,
             renew_before: timedelta = RENEW_BEFORE) -> list[Change]:
    """Create or update ``lab_dir``/pki and ``lab_dir``/kubeconfigs; return what changed and why."""
    now = now or datetime.now(timezone.utc)
    identities = lab_identities(inventory)
    pki = lab_dir / "pki"

    # 1. read what exists (raises on anything corrupt, before a single write)
    cas = {name: read_ca(pki, name) for name in CAS}
    pairs = {i.name: read_pair(pki, i.name) for i in identities}
    sa_key = serviceaccount.read_key(pki)
    encryption.check_existing(pki)
    kubeconfig_files = {i.name: kubeconfig_path(lab_dir, i.name) for i in identities if i.kubeconfig}
    existing_kubeconfigs = {}
    for name, path in kubeconfig_files.items():
        try:
            existing_kubeconfigs[name] = path.read_bytes() if path.exists() else None
        except OSError as exc:
            raise PkiError(f"cannot read {path}: {exc.strerror or exc}") from None

    # 2. directories
    for directory in (lab_dir, pki, pki / "etcd", lab_dir / "kubeconfigs"):
        ensure_private_dir(directory)

    # 3. certificate authorities, then leaves, then the rest
    changes: list[Change] = []
    for name, common_name in CAS.items():
        if cas[name] is None:
            cas[name] = new_ca(name, common_name, now)
            cas[name].save(pki)
            changes.append(Change(f"pki/{name}.crt", "created", "missing"))

    for identity in identities:
        ca = cas[identity.ca]
        pair = pairs[identity.name]
        if pair is None:
            action, reason = "created", "missing"
        else:
            found = problems(identity, pair, ca, now, renew_before)
            if not found:
                continue
            action, reason = "reissued", "; ".join(found)
        pairs[identity.name] = issue(identity, ca, now)
        pairs[identity.name].save(pki)
        changes.append(Change(f"pki/{identity.name}.crt", action, reason))

    for file, done in ((serviceaccount.KEY, serviceaccount.ensure(pki, sa_key)),
                       (encryption.FILE, encryption.ensure(pki))):
        if done:
            changes.append(Change(f"pki/{file}", *done))

    for identity in identities:
        if not identity.kubeconfig:
            continue
        doc = build(inventory.name, identity, endpoint(inventory, identity.kubeconfig),
                    pairs[identity.name], cas[identity.ca])
        data = render(doc)
        old = existing_kubeconfigs[identity.name]
        if old != data:
            write_atomic(kubeconfig_files[identity.name], data, PRIVATE_FILE)
            changes.append(Change(str(kubeconfig_files[identity.name].relative_to(lab_dir)),
                                  "created" if old is None else "written",
                                  "missing" if old is None else "certificate or endpoint changed"))

    for path in leftover_files(identities, lab_dir):
        try:
            path.unlink()
        except OSError as exc:
            raise PkiError(f"cannot remove {path}: {exc.strerror or exc}") from None
        changes.append(Change(str(path.relative_to(lab_dir)), "removed", "not in the inventory any more"))
    return changes


def leftover_files(identities: list[Identity], lab_dir: Path) -> list[Path]:
    """Certificates, keys and kubeconfigs in the lab's state that no identity of the inventory owns."""
    pki = lab_dir / "pki"
    wanted = {pki / f"{name}{suffix}" for name in [*CAS, *(i.name for i in identities)] for suffix in (".crt", ".key")}
    wanted |= {pki / serviceaccount.KEY} | {kubeconfig_path(lab_dir, i.name) for i in identities if i.kubeconfig}
    found = [*pki.rglob("*.crt"), *pki.rglob("*.key"), *(lab_dir / "kubeconfigs").glob("*.kubeconfig")]
    return sorted(path for path in found if path not in wanted)

