"""Conversion between API versions of one stored kind.

An object is stored once, in the version it was written with, and served in
whichever version the request names. Today one kind has two versions:
``Event`` of core/v1 (what ``kubectl describe`` reads) and of events.k8s.io/v1
(what newer components write), whose fields differ only in name. Both are
the same events in etcd (``/registry/events/...``), as upstream.
"""

from __future__ import annotations

# events.k8s.io/v1 field  <->  core/v1 field
_EVENT_FIELDS = (
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
)


def _rename(obj: dict, pairs) -> dict:
    out = dict(obj)
    for old, new in pairs:
        if old in out:
            out[new] = out.pop(old)
    return out


def convert(obj: dict, api_version: str, kind: str) -> dict:
    """``obj`` as ``api_version``/``kind`` (returned unchanged when it already is)."""
    if obj.get("apiVersion") == api_version or kind != "Event":
        return obj
    source = obj.get("apiVersion")
    if source == "events.k8s.io/v1" and api_version == "v1":
        out = _rename(obj, _EVENT_FIELDS)
    elif source == "v1" and api_version == "events.k8s.io/v1":
        out = _rename(obj, [(new, old) for old, new in _EVENT_FIELDS])
    else:
        return obj
    out["apiVersion"] = api_version
    return out
