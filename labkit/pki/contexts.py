"""One kubeconfig for every lab: merge a lab's admin context into the user's kubeconfig.

``invoke cluster.kubeconfig --lab ha`` copies the cluster, user and context
named ``labkit-ha`` from the lab's admin.kubeconfig into $KUBECONFIG (its
first existing file) or ~/.kube/config, the file kubectl reads. Entries of
other clusters are kept as they are, an existing ``labkit-ha`` entry is
replaced, and current-context is left alone unless asked (``--use``) or
unset. ``kubectl config get-contexts`` then lists every lab next to any other
cluster, and ``kubectl config use-context labkit-ha`` switches between them.
``--remove`` takes the three entries out again.

Before the file changes it is copied to ``<file>.labkit-backup``; the new
file is written atomically, mode 0600, in a 0700 directory when labkit
creates it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml

from labkit.client.kubeconfig import default_kubeconfig_path
from labkit.pki.kubeconfigs import ADMIN, context_name, kubeconfig_path
from labkit.pki.state import PRIVATE_DIR, PRIVATE_FILE, PkiError, write_atomic

SECTIONS = ("clusters", "users", "contexts")


@dataclass
class Result:
    path: Path
    changed: bool
    backup: Path | None
    current_context: str | None


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".labkit-backup")


def _load(path: Path) -> dict:
    """The user's kubeconfig (an empty one when the file does not exist yet)."""
    if not path.exists():
        return {"apiVersion": "v1", "kind": "Config", "preferences": {}, "clusters": [], "users": [],
                "contexts": [], "current-context": ""}
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise PkiError(f"cannot read kubeconfig {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise PkiError(f"kubeconfig {path} is not valid YAML ({exc.__class__.__name__}"
                       f"{' at line ' + str(exc.problem_mark.line + 1) if getattr(exc, 'problem_mark', None) else ''}); "
                       "it was left as it is") from None
    doc = doc or {}
    if not isinstance(doc, dict):
        raise PkiError(f"kubeconfig {path} is not a mapping; it was left as it is")
    doc.setdefault("apiVersion", "v1")
    doc.setdefault("kind", "Config")
    for section in SECTIONS:
        if doc.get(section) is None:
            doc[section] = []
        elif not isinstance(doc[section], list):
            raise PkiError(f"kubeconfig {path}: {section} is not a list; it was left as it is")
    return doc


def _write(path: Path, before: dict, after: dict) -> Result:
    existed = path.exists()
    if existed and before == after:
        return Result(path, False, None, after.get("current-context") or None)
    backup = None
    try:
        if not path.parent.exists():
            path.parent.mkdir(parents=True, mode=PRIVATE_DIR)
        if existed:
            backup = backup_path(path)
            shutil.copyfile(path, backup)
            backup.chmod(PRIVATE_FILE)
    except OSError as exc:
        raise PkiError(f"cannot back up or create {path}: {exc.strerror or exc}; it was left as it is") from None
    write_atomic(path, yaml.safe_dump(after, sort_keys=False).encode(), PRIVATE_FILE)
    return Result(path, True, backup, after.get("current-context") or None)


def _target(kubeconfig: str | Path | None) -> Path:
    return Path(kubeconfig).expanduser() if kubeconfig else Path(default_kubeconfig_path())


def merge(lab: str, lab_dir: Path, kubeconfig: str | Path | None = None, use: bool = False) -> Result:
    """Put context/cluster/user ``labkit-<lab>`` from the lab's admin.kubeconfig into the user's kubeconfig."""
    source = kubeconfig_path(lab_dir, ADMIN)
    if not source.exists():
        raise PkiError(f"{source} does not exist: run `invoke pki.generate --lab {lab}` first")
    name = context_name(lab)
    try:
        admin = yaml.safe_load(source.read_text())
        ours = {section: next(e for e in admin[section] if e["name"] == name) for section in SECTIONS}
    except (yaml.YAMLError, OSError, KeyError, TypeError, StopIteration):
        # no details: the file holds the admin's key, and a YAML error quotes the line it stopped at
        raise PkiError(f"{source} is not the admin kubeconfig of lab {lab}: run `invoke pki.generate --lab {lab}` "
                       "to rewrite it") from None
    path = _target(kubeconfig)
    before = _load(path)
    after = yaml.safe_load(yaml.safe_dump(before))  # a deep copy
    for section in SECTIONS:
        entry = ours[section]
        entries = after[section]
        for i, existing in enumerate(entries):
            if isinstance(existing, dict) and existing.get("name") == name:
                entries[i] = entry
                break
        else:
            entries.append(entry)
    if use or not after.get("current-context"):
        after["current-context"] = name
    return _write(path, before, after)


def remove(lab: str, kubeconfig: str | Path | None = None) -> Result:
    """Take context/cluster/user ``labkit-<lab>`` out of the user's kubeconfig; nothing else."""
    name = context_name(lab)
    path = _target(kubeconfig)
    if not path.exists():
        return Result(path, False, None, None)
    before = _load(path)
    after = yaml.safe_load(yaml.safe_dump(before))
    for section in SECTIONS:
        after[section] = [e for e in after[section] if not (isinstance(e, dict) and e.get("name") == name)]
    if after.get("current-context") == name:
        after["current-context"] = ""  # kubectl then asks for a context instead of using a removed one
    return _write(path, before, after)
