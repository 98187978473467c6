"""pki.check: every certificate, key and kubeconfig of a lab, checked and tabulated.

Like ``kubeadm certs check-expiration``, plus what a lab gets wrong more
often: a key that does not match its certificate, a certificate its CA did
not sign, SANs or subjects that no longer match the inventory, kubeconfigs
that embed an old certificate, files readable by others. Each problem is
named in the row; nothing secret is ever shown.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from rich.table import Table

from labkit.client.kubeconfig import ConfigError, load_kubeconfig
from labkit.pki import encryption, serviceaccount
from labkit.pki.ca import Pair, cert_pem, key_path, key_pem, public_der, read_ca, read_pair
from labkit.pki.generate import leftover_files
from labkit.pki.identities import CAS, endpoint, lab_identities
from labkit.pki.issue import RENEW_BEFORE, days_left, problems, sans, signed_by, validity_problem
from labkit.pki.kubeconfigs import kubeconfig_path
from labkit.pki.state import PRIVATE_DIR, PRIVATE_FILE, PkiError
from labkit.provision.inventory import Inventory


@dataclass
class Row:
    name: str  # e.g. "apiserver", "etcd/master-1-peer", "kubeconfigs/admin.kubeconfig"
    kind: str  # CA | certificate | key pair | config | kubeconfig | directory | leftover
    subject: str = ""
    sans: str = ""
    issuer: str = ""
    expires: datetime | None = None
    days_left: int | None = None
    key_match: bool | None = None
    chain_ok: bool | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _mode_problem(path: Path, want: int) -> str | None:
    mode = stat.S_IMODE(path.stat().st_mode)
    return f"{path.name} has mode {mode:04o}, expected {want:04o}" if mode != want else None


def _describe(row: Row, cert: x509.Certificate, now: datetime) -> None:
    row.subject = cert.subject.rfc4514_string()
    dns, ips = sans(cert)
    row.sans = ", ".join(dns + ips)
    row.issuer = cert.issuer.rfc4514_string()
    row.expires = cert.not_valid_after_utc
    row.days_left = int(days_left(cert, now))


def _read(pki: Path, name: str, reader, row: Row) -> Pair | None:
    try:
        pair = reader(pki, name)
    except PkiError as exc:
        row.problems.append(str(exc))
        return None
    if pair is None:
        row.problems.append("missing: run `invoke pki.generate`")
    else:
        mode = _mode_problem(key_path(pki, name), PRIVATE_FILE)
        if mode:
            row.problems.append(mode)
    return pair


def check(inventory: Inventory, lab_dir: Path, now: datetime | None = None,
          renew_before: timedelta = RENEW_BEFORE) -> list[Row]:
    """One Row per CA, certificate, key pair, config and kubeconfig of the lab."""
    now = now or datetime.now(timezone.utc)
    identities = lab_identities(inventory)
    pki = lab_dir / "pki"
    rows: list[Row] = []

    directories = Row("state directories", "directory")
    for directory in (lab_dir, pki, pki / "etcd", lab_dir / "kubeconfigs"):
        if not directory.is_dir():
            directories.problems.append(f"{directory} is missing")
        elif stat.S_IMODE(directory.stat().st_mode) != PRIVATE_DIR:
            directories.problems.append(f"{directory} has mode {stat.S_IMODE(directory.stat().st_mode):04o}, "
                                        f"expected {PRIVATE_DIR:04o}")
    rows.append(directories)

    cas: dict[str, Pair | None] = {}
    for name in CAS:
        row = Row(name, "CA")
        ca = cas[name] = _read(pki, name, read_ca, row)
        if ca is not None:
            _describe(row, ca.cert, now)
            row.key_match = True  # read_ca refuses a CA whose key does not match
            row.chain_ok = signed_by(ca.cert, ca.cert)
            if not row.chain_ok:
                row.problems.append("not self-signed")
            problem = validity_problem(ca.cert, now, renew_before)
            if problem:
                row.problems.append(f"{problem}; labkit does not rotate CAs: remove pki/ to start a new PKI")
        rows.append(row)

    pairs: dict[str, Pair | None] = {}
    for identity in identities:
        row = Row(identity.name, "certificate")
        pair = pairs[identity.name] = _read(pki, identity.name, read_pair, row)
        ca = cas[identity.ca]
        if pair is not None:
            _describe(row, pair.cert, now)
            row.key_match = public_der(pair.cert) == public_der(pair.key)
            if ca is None:
                row.chain_ok = False
                row.problems.append(f"its CA {identity.ca} is unavailable")
            else:
                row.chain_ok = signed_by(pair.cert, ca.cert)
                row.problems.extend(problems(identity, pair, ca, now, renew_before))
        rows.append(row)

    for name, module, secret in (("sa.key / sa.pub", serviceaccount, serviceaccount.KEY),
                                 ("encryption-config.yaml", encryption, encryption.FILE)):
        row = Row(name, "key pair" if module is serviceaccount else "config")
        try:
            row.problems.extend(module.problems(pki))
        except PkiError as exc:
            row.problems.append(str(exc))
        if (pki / secret).exists():
            mode = _mode_problem(pki / secret, PRIVATE_FILE)
            if mode:
                row.problems.append(mode)
        rows.append(row)

    for identity in identities:
        if not identity.kubeconfig:
            continue
        path = kubeconfig_path(lab_dir, identity.name)
        row = Row(str(path.relative_to(lab_dir)), "kubeconfig")
        rows.append(row)
        if not path.exists():
            row.problems.append("missing: run `invoke pki.generate`")
            continue
        try:
            config = load_kubeconfig(path)
        except ConfigError:
            # the reader's message may quote the broken line, and this file holds a key: say what, not the text
            row.problems.append("not a valid kubeconfig: `invoke pki.generate` rewrites it")
            continue
        mode = _mode_problem(path, PRIVATE_FILE)
        if mode:
            row.problems.append(mode)
        row.subject = config.server
        pair, ca = pairs[identity.name], cas[identity.ca]
        want = endpoint(inventory, identity.kubeconfig)
        if config.server != want:
            row.problems.append(f"server is {config.server}, expected {want}")
        if pair is not None:
            row.key_match = config.client_key_data == key_pem(pair.key)
            if config.client_cert_data != cert_pem(pair.cert) or not row.key_match:
                row.problems.append(f"embeds another certificate or key than pki/{identity.name}.crt")
        if ca is not None:
            row.chain_ok = config.ca_data == cert_pem(ca.cert)
            if not row.chain_ok:
                row.problems.append(f"embeds another CA than pki/{identity.ca}.crt")

    for path in leftover_files(identities, lab_dir):
        rows.append(Row(str(path.relative_to(lab_dir)), "leftover",
                        problems=["not in the inventory any more: `invoke pki.generate` removes it"]))
    return rows


def _mark(value: bool | None) -> str:
    return "" if value is None else ("[green]yes[/]" if value else "[red]no[/]")


def table(rows: list[Row], lab: str) -> Table:
    """The rows as a rich table; problems in red in the last column."""
    out = Table(title=f"PKI of lab {lab}", show_lines=False)
    for column in ("Name", "Subject / server", "SANs", "Issuer", "Expires", "Days left", "Key", "Chain", "Status"):
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(
            row.name, row.subject, row.sans, row.issuer,
            f"{row.expires:%Y-%m-%d}" if row.expires else "",
            "" if row.days_left is None else str(row.days_left),
            _mark(row.key_match), _mark(row.chain_ok),
            "[green]ok[/]" if row.ok else "[red]" + "\n".join(row.problems).replace("[", r"\[") + "[/]",
        )
    return out
