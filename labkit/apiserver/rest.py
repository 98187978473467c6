"""The REST verbs of every resource: get, list, watch, create, update, patch, delete.

This is the apiserver's generic registry: one implementation for all kinds,
driven by the resource table (labkit/api/registry.py), the kind's strategy
(strategy.py), defaulting and validation (labkit/api/validation.py) and the
storage on etcd (storage.py). The HTTP layer (server.py) parses requests into
calls of ``Registry``; nothing here knows about HTTP.

A write goes through the same steps upstream's does::

    decode -> check kind/name/namespace -> admission (namespace lifecycle)
    -> strategy (server-owned fields) -> defaults -> validation
    -> etcd transaction (with allocator updates) -> answer

and a ``dryRun=All`` request takes every step but the last write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable

from labkit.api import apply, errors, registry
from labkit.api.errors import Cause, StatusError
from labkit.api.patch import apply_patch
from labkit.api.registry import Resource
from labkit.api.schema import drop_unknown_fields
from labkit.api.selectors import FieldSelector, LabelSelector, selector_from_label_selector_dict
from labkit.api.validation import default, path_segment_name, unknown_field_warnings, unknown_fields, validate, \
    well_formed, wrong_types
from labkit.apiserver import codec, strategy
from labkit.apiserver.admission import CREATE, DELETE, UPDATE, Attributes, Chain, NamespaceLifecycle
from labkit.apiserver.allocators import ServiceAllocations
from labkit.apiserver.storage import NO_EXTRAS, Change, Extras, ListResult, RetryWrite, Storage, StoredEvent, \
    retries

PODS = registry.lookup("", "v1", "pods")
PDBS = registry.lookup("policy", "v1", "poddisruptionbudgets")


@dataclass
class Options:
    """What a write request says besides its body (query parameters of upstream's CreateOptions & co)."""

    dry_run: bool = False
    field_validation: str = "Warn"  # Strict | Warn | Ignore
    warnings: list[str] = field(default_factory=list)  # filled in: the answer's Warning headers
    user: Any = None  # who asks (labkit.apiserver.auth.UserInfo); None on the insecure port
    # Keys the request body had twice (server.py), reported like unknown fields. duplicates_kind says what
    # the entries are: "json": paths of an object body ("spec.paused"); "yaml": go-yaml's messages
    # ('line 5: key "name" already set in map'); "patch": messages about a patch body ('duplicate field "x"').
    duplicate_fields: list[str] = field(default_factory=list)
    duplicates_kind: str = "json"
    # Who writes, for metadata.managedFields (?fieldManager=, else the User-Agent's product name). The
    # default names the apiserver's own writes (the namespaces, Service and RBAC it makes at start), as upstream's.
    field_manager: str = "kube-apiserver"
    force: bool = False  # apply: take over fields other managers own (?force=true)
    applying: bool = False  # a server-side apply: its own managedFields entry, no Update entry


@dataclass
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None  # Orphan | Background | Foreground
    preconditions: dict = field(default_factory=dict)
    dry_run: bool = False
    user: Any = None

    # The body's fields and the JSON types upstream's Go struct takes (a wrong type is a decoding 400).
    FIELD_TYPES = {"kind": (str, "string"), "apiVersion": (str, "string"), "gracePeriodSeconds": (int, "int64"),
                   "propagationPolicy": (str, "v1.DeletionPropagation"), "orphanDependents": (bool, "bool"),
                   "dryRun": (list, "[]string"), "preconditions": (dict, "v1.Preconditions")}
    PRECONDITION_TYPES = {"uid": (str, "types.UID"), "resourceVersion": (str, "string")}

    @classmethod
    def from_body(cls, body: Any, query: dict[str, str]) -> "DeleteOptions":
        if body is not None and not isinstance(body, dict):
            raise errors.bad_request(f"json: cannot unmarshal {errors.go_json_type(body)} into Go value of type "
                                     "v1.DeleteOptions")
        body = body or {}
        _check_types("DeleteOptions", body, cls.FIELD_TYPES)
        _check_types("DeleteOptions.preconditions", body.get("preconditions") or {}, cls.PRECONDITION_TYPES)
        if any(not isinstance(v, str) for v in body.get("dryRun") or []):
            raise errors.bad_request("json: cannot unmarshal non-string into Go struct field DeleteOptions.dryRun "
                                     "of type string")
        if body and body.get("kind") not in (None, "DeleteOptions"):
            raise errors.bad_request(f'a DeleteOptions body was expected, got kind "{body.get("kind")}"')
        grace = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        policy = body.get("propagationPolicy") or query.get("propagationPolicy")
        orphan = body.get("orphanDependents", query.get("orphanDependents"))
        if orphan is not None and policy:
            raise errors.invalid("DeleteOptions", "", [Cause(
                "propagationPolicy", "Invalid value: \"{}\": orphanDependents and deletionPropagation cannot be "
                "both set".format(policy))])
        if orphan is not None:
            policy = "Orphan" if str(orphan).lower() == "true" else "Background"
        if policy not in (None, "Orphan", "Background", "Foreground"):
            raise errors.invalid("DeleteOptions", "", [Cause(
                "propagationPolicy", f'Unsupported value: "{policy}": supported values: "Foreground", '
                '"Background", "Orphan", "nil"', "FieldValueNotSupported")])
        dry = body.get("dryRun") or ([query["dryRun"]] if query.get("dryRun") else [])
        try:
            grace_int = None if grace is None else int(grace)
        except (TypeError, ValueError):
            raise errors.bad_request(f"gracePeriodSeconds: {grace!r} is not an integer") from None
        return cls(grace_int, policy, body.get("preconditions") or {}, "All" in dry)


def _check_types(struct: str, body: dict, types: dict[str, tuple[type, str]]) -> None:
    """Fields of a wrong JSON type are a 400 with Go's words; null is "not set", as for Go."""
    for name, (wanted, go_type) in types.items():
        value = body.get(name)
        if value is None:
            continue
        ok = isinstance(value, wanted) and not (wanted is int and isinstance(value, bool))
        if not ok:
            raise errors.bad_request(f"json: cannot unmarshal {errors.go_json_type(value)} into Go struct field "
                                     f"{struct}.{name} of type {go_type}")


def check_name(resource: Resource, name: str) -> None:
    """A name in a URL must be one path segment (no "..", "/" or "%")."""
    problems = path_segment_name(name)
    if problems:
        raise errors.bad_request(f'{resource.kind} "{name}" is invalid: metadata.name: Invalid value: '
                                 f'"{name}": {problems[0]}')


class Registry:
    """All resources' verbs over one storage."""

    def __init__(self, storage: Storage, services: ServiceAllocations, admission: Chain | None = None):
        self.storage = storage
        self.services = services
        self.admission = admission if admission is not None else Chain([NamespaceLifecycle(storage)])
        # Resources that are not stored but computed per request (SubjectAccessReview, TokenReview ...):
        # (group, plural) -> async (body, options) -> answer; and computed subresources
        # (group, plural, subresource) -> async (namespace, name, body, options) -> answer.
        self.virtual: dict[tuple[str, str], Callable[..., Awaitable[dict]]] = {}
        self.subresource_handlers: dict[tuple[str, str, str], Callable[..., Awaitable[dict]]] = {}

    # -- reads -----------------------------------------------------------------

    async def get(self, resource: Resource, namespace: str | None, name: str) -> dict:
        check_name(resource, name)
        return await self.storage.get(resource, namespace, name)

    def matcher(self, resource: Resource, label_selector: str | None, field_selector: str | None):
        labels = LabelSelector.parse(label_selector)
        fields = FieldSelector.parse(field_selector, resource)
        if labels.empty and fields.empty:
            return None
        return lambda obj: labels.matches((obj.get("metadata") or {}).get("labels")) and fields.matches(obj)

    async def list(self, resource: Resource, namespace: str | None, *, label_selector: str | None = None,
                   field_selector: str | None = None, limit: int = 0, continue_token: str | None = None,
                   resource_version: str | None = None, resource_version_match: str | None = None) -> ListResult:
        match = self.matcher(resource, label_selector, field_selector)
        if resource_version_match not in (None, "", "NotOlderThan", "Exact"):
            raise errors.bad_request(f'resourceVersionMatch: Unsupported value: "{resource_version_match}"')
        if resource_version_match and not resource_version:
            raise errors.invalid("ListOptions", "", [Cause(
                "resourceVersionMatch", "Forbidden: resourceVersionMatch is forbidden unless resourceVersion "
                "is provided", "FieldValueForbidden")])
        if continue_token and resource_version not in (None, "", "0"):
            raise errors.bad_request('specifying resource version is not allowed when using continue')
        if resource_version not in (None, ""):
            try:
                wanted = int(resource_version)
            except ValueError:
                raise errors.bad_request(f'invalid resource version: "{resource_version}"') from None
            if wanted > 0 and resource_version_match != "Exact":
                current = await self.storage.current_revision()
                if wanted > current:
                    raise StatusError(504, "Timeout", f"Too large resource version: {wanted}, current: {current}")
        result = await self.storage.list(resource, namespace, match=match, limit=max(0, limit),
                                         continue_token=continue_token, resource_version=resource_version,
                                         exact=resource_version_match == "Exact")
        return result

    # -- create ----------------------------------------------------------------

    def check_body(self, resource: Resource, obj: Any, namespace: str | None, name: str | None = None) -> dict:
        """The body is an object of this resource's kind, for this namespace (and name)."""
        if not isinstance(obj, dict):
            raise errors.bad_request(f"the body of the request must be a JSON object ({resource.kind})")
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        for key, value in (("apiVersion", api_version), ("kind", kind)):
            if value is not None and not isinstance(value, str):  # upstream's TypeMeta decoding fails first
                raise errors.bad_request(f"couldn't get version/kind; json parse error: json: cannot unmarshal "
                                         f"{errors.go_json_type(value)} into Go struct field .{key} of type string")
        if kind is None and api_version is None:
            obj = {"apiVersion": resource.api_version, "kind": resource.kind, **obj}
        elif kind != resource.kind or api_version != resource.api_version:
            if kind is None or api_version is None:
                raise errors.bad_request(f"Object '{'Kind' if kind is None else 'apiVersion'}' is missing in "
                                         f"'{_short(obj)}'")
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({resource.api_version})" if kind == resource.kind else
                f"{kind} in version \"{api_version.rpartition('/')[2]}\" cannot be handled as a {resource.kind}: "
                f"the object kind {kind} does not match the resource {resource.plural}")
        meta = obj.get("metadata")
        if meta is None:
            obj["metadata"] = meta = {}
        if not isinstance(meta, dict):
            raise errors.bad_request(f"{resource.kind} in version \"{resource.version}\" cannot be handled as a "
                                     f"{resource.kind}: metadata must be an object")
        if resource.namespaced:
            body_ns = meta.get("namespace")
            if body_ns and namespace and body_ns != namespace:
                raise errors.bad_request("the namespace of the provided object does not match the namespace sent "
                                         "on the request")
            meta["namespace"] = namespace or body_ns
        elif meta.get("namespace"):
            meta.pop("namespace")  # cluster-scoped: upstream drops it
        if name is not None:
            if meta.get("name") and meta["name"] != name:
                raise errors.bad_request("the name of the object "
                                         f"({meta['name']}) does not match the name on the URL ({name})")
            meta["name"] = name
        return obj

    def unknown_field_check(self, resource: Resource, obj: dict, options: Options) -> None:
        """fieldValidation: unknown and repeated fields are a 400 (Strict), warnings (Warn) or dropped (Ignore)."""
        if options.field_validation == "Ignore":
            drop_unknown_fields(resource.api_version, resource.kind, obj)
            return
        paths = unknown_fields(resource, obj)
        if not paths and not options.duplicate_fields:
            return
        problems = strict_decoding_problems(obj, paths, options)
        if options.field_validation == "Strict":
            raise errors.bad_request(f'{resource.kind} in version "{resource.version}" cannot be handled as a '
                                     f'{resource.kind}: strict decoding error: {", ".join(problems)}')
        options.warnings.extend(problems)
        drop_unknown_fields(resource.api_version, resource.kind, obj)

    def check_fields(self, resource: Resource, obj: dict, options: Options) -> None:
        """Unknown, repeated and wrongly typed fields: ``unknown_field_check`` then ``check_types``."""
        if not options.duplicate_fields and well_formed(resource, obj):
            return  # the usual case, found in one walk: nothing to report, nothing to drop
        self.unknown_field_check(resource, obj, options)
        self.check_types(resource, obj)

    def check_types(self, resource: Resource, obj: dict) -> None:
        """JSON types first (``spec: true``), as upstream's decoder: admission and defaulting may trust them."""
        causes = wrong_types(resource, obj)
        if causes:
            raise errors.invalid(resource.kind, _name_of(obj), causes, resource.group)

    def check_valid(self, resource: Resource, obj: dict, old: dict | None = None, types_checked: bool = False) -> None:
        causes = validate(resource, obj, old, types_checked=types_checked)
        if causes:
            raise errors.invalid(resource.kind, _name_of(obj), causes, resource.group)

    async def create(self, resource: Resource, namespace: str | None, body: Any, options: Options) -> dict:
        obj = self.check_body(resource, codec.copy(body), namespace)
        meta = obj["metadata"]
        if meta.get("resourceVersion"):
            raise errors.bad_request("resourceVersion should not be set on objects to be created")
        self.check_fields(resource, obj, options)
        generated = not meta.get("name") and meta.get("generateName")
        for attempt in retries():
            if generated:
                meta["name"] = strategy.generate_name(meta["generateName"])
            if not meta.get("name"):
                raise errors.invalid(resource.kind, "", [Cause(
                    "metadata.name", "Required value: name or generateName is required", "FieldValueRequired")],
                    resource.group)
            prepared = codec.copy(obj)
            strategy.prepare_for_create(resource, prepared)
            default(resource, prepared)
            self.record_manager(resource, None, prepared, None, options)
            attrs = Attributes(CREATE, resource, meta.get("namespace"), meta["name"], prepared, user=options.user,
                               dry_run=options.dry_run)
            try:
                await self.admission.admit(attrs)
                self.check_valid(resource, prepared, types_checked=True)  # check_fields did the types
                await self.admission.validate(attrs)
                # admission may add writes of its own (ResourceQuota: the quota's status.used)
                extras = await self.side_effects(resource, prepared, None) + attrs.extra.get("extras", NO_EXTRAS)
                if options.dry_run:
                    return prepared
                return await self.storage.create(resource, prepared, extras)
            except RetryWrite:
                continue
            except StatusError as exc:
                if generated and exc.reason == "AlreadyExists" and attempt < 8:
                    continue
                raise
            finally:
                # what admission holds until the write is done (ResourceQuota: its namespace's turn)
                for release in attrs.extra.pop("after_write", []):
                    release()
        raise errors.conflict(resource.plural, meta.get("name", ""), resource.group,
                              detail="too many concurrent writers; please try again")

    async def side_effects(self, resource: Resource, new: dict | None, old: dict | None) -> Extras:
        """Writes to other keys that go with this one (a Service's IP and ports)."""
        if resource.kind == "Service":
            return await self.services.on_write(new, old)
        return NO_EXTRAS

    # -- update and patch ------------------------------------------------------

    async def update(self, resource: Resource, namespace: str | None, name: str, body: Any, options: Options,
                     subresource: str | None = None) -> dict:
        check_name(resource, name)
        obj = self.check_body(resource, codec.copy(body), namespace, name)
        self.unknown_field_check(resource, obj, options)
        wanted_rv = obj["metadata"].get("resourceVersion") or None

        async def try_update(current: dict) -> Change:
            return await self.updated(resource, current, obj, subresource, options)

        stored, _ = await self.storage.update(resource, namespace, name, try_update,
                                              precondition_rv=wanted_rv, dry_run=options.dry_run)
        return stored

    async def patch(self, resource: Resource, namespace: str | None, name: str, body: bytes, content_type: str,
                    options: Options, subresource: str | None = None) -> dict:
        check_name(resource, name)
        warned_before = len(options.warnings)

        async def try_update(current: dict) -> Change:
            del options.warnings[warned_before:]  # each attempt warns afresh: a retry would say it all again
            patched = apply_patch(resource, current, body, content_type)
            patched = self.check_body(resource, patched, namespace, name)
            # A resourceVersion in the patch is a precondition (kubectl apply sends none).
            rv = (patched.get("metadata") or {}).get("resourceVersion")
            if rv and rv != current["metadata"]["resourceVersion"]:
                raise errors.conflict(resource.plural, name, resource.group)
            self.unknown_field_check(resource, patched, options)
            return await self.updated(resource, current, patched, subresource, options)

        stored, _ = await self.storage.update(resource, namespace, name, try_update, dry_run=options.dry_run)
        return stored

    async def apply(self, resource: Resource, namespace: str | None, name: str, body: Any, options: Options,
                    subresource: str | None = None) -> tuple[dict, bool]:
        """Server-side apply of the configuration ``body`` by ``options.field_manager`` (labkit/api/apply.py).

        Like a patch, the merged object then goes through ``updated`` (strategy,
        defaults, admission, validation); a missing object is created through
        ``create``. Returns (object, created).
        """
        check_name(resource, name)
        if not isinstance(body, dict):
            raise errors.bad_request(f"the body of an apply must be a {resource.kind} object, got "
                                     f"{errors.go_json_type(body)}")
        for key, missing in (("kind", "Kind"), ("apiVersion", "apiVersion")):
            if body.get(key) is None:  # an apply names its kind (a create or update may leave both out)
                raise errors.bad_request(f"Object '{missing}' is missing in '{_short(body)}'")
        if isinstance(body.get("metadata"), dict) and body["metadata"].get("managedFields") is not None:
            raise errors.bad_request("metadata.managedFields must be nil")  # ownership is the server's to record
        if subresource == "scale":
            return await self.apply_scale(resource, namespace, name, body, options), False
        config = self.check_body(resource, codec.copy(body), namespace, name)
        self.unknown_field_check(resource, config, options)
        options.duplicate_fields = []  # reported once: create() and updated() check the merged object again
        options.applying = True
        wanted_rv = config["metadata"].get("resourceVersion")

        def applied(current: dict) -> dict:
            if wanted_rv and current and wanted_rv != current["metadata"]["resourceVersion"]:
                raise errors.conflict(resource.plural, name, resource.group)
            return apply.apply(resource.api_version, resource.kind, current, config, options.field_manager,
                               force=options.force, now=strategy.now_rfc3339(),
                               status_is_separate=strategy.has_status(resource), subresource=subresource)

        async def try_apply(current: dict) -> Change:
            return await self.updated(resource, current, applied(current), subresource, options)

        for _ in retries():
            try:
                stored, _ = await self.storage.update(resource, namespace, name, try_apply, dry_run=options.dry_run)
                return stored, False
            except StatusError as exc:
                if exc.code != 404 or exc.reason != "NotFound" or subresource is not None or wanted_rv:
                    raise
            new = applied({})
            new["metadata"].pop("resourceVersion", None)
            try:
                return await self.create(resource, namespace, new, options), True
            except StatusError as exc:
                if exc.reason != "AlreadyExists":  # created meanwhile: apply to it
                    raise
        raise errors.conflict(resource.plural, name, resource.group,
                              detail="too many concurrent writers; please try again")

    async def apply_scale(self, resource: Resource, namespace: str | None, name: str, body: dict,
                          options: Options) -> dict:
        """An apply of a Scale (``/scale``): its spec.replicas is the workload's, owned through ``scale``."""
        scale = self.check_body(_SCALE_RESOURCE, codec.copy(body), namespace, name)
        config: dict = {"apiVersion": resource.api_version, "kind": resource.kind, "metadata": {"name": name}}
        if (scale.get("spec") or {}).get("replicas") is not None:
            config["spec"] = {"replicas": scale["spec"]["replicas"]}
        options.applying = True

        async def try_apply(current: dict) -> Change:
            merged = apply.apply(resource.api_version, resource.kind, current, config, options.field_manager,
                                 force=options.force, now=strategy.now_rfc3339(),
                                 status_is_separate=strategy.has_status(resource), subresource="scale")
            return await self.updated(resource, current, merged, None, options)

        stored, _ = await self.storage.update(resource, namespace, name, try_apply, dry_run=options.dry_run)
        return to_scale(resource, stored)

    def record_manager(self, resource: Resource, current: dict | None, new: dict, subresource: str | None,
                       options: Options) -> None:
        """The writer's ``Update`` entry in ``new``'s managedFields (an apply made its own)."""
        if not options.applying:
            apply.record_update(resource.api_version, resource.kind, current, new, options.field_manager,
                                now=strategy.now_rfc3339(), status_is_separate=strategy.has_status(resource),
                                subresource=subresource)

    async def updated(self, resource: Resource, current: dict, requested: dict, subresource: str | None,
                      options: Options, written_through: str | None = None) -> Change:
        """The Change an update of ``current`` to ``requested`` makes (or none when nothing changes).

        ``written_through``: the subresource the managedFields entry names when it is not ``subresource``
        (``scale`` writes the main resource's spec.replicas).
        """
        self.check_types(resource, requested)
        new = strategy.prepare_for_update(resource, requested, current, subresource)
        default(resource, new)
        self.record_manager(resource, current, new, written_through or subresource, options)
        meta = current["metadata"]
        attrs = Attributes(UPDATE, resource, meta.get("namespace"), meta["name"], new, current, subresource,
                           options.user, options.dry_run)
        await self.admission.admit(attrs)
        self.check_valid(resource, new, current)
        await self.admission.validate(attrs)
        if _same(new, current) or (options.applying and apply.same_but_times(new, current)):
            return Change.none()
        if strategy.finished_deleting(resource, new):
            return Change(obj=new, delete=True, extras=await self.side_effects(resource, None, current)
                          + attrs.extra.get("extras", NO_EXTRAS))
        extras = await self.side_effects(resource, new, current) if resource.kind == "Service" else NO_EXTRAS
        return Change(obj=new, extras=extras + attrs.extra.get("extras", NO_EXTRAS))

    # -- delete ----------------------------------------------------------------

    async def delete(self, resource: Resource, namespace: str | None, name: str,
                     options: DeleteOptions) -> tuple[dict, bool]:
        """Delete now, or start deleting (finalizers, graceful pods). Returns (object, deleted now)."""
        check_name(resource, name)
        if resource.kind == "Namespace" and name in strategy.IMMORTAL_NAMESPACES:
            raise errors.forbidden("namespaces", name, "this namespace may not be deleted")

        async def try_delete(current: dict) -> Change:
            meta = current["metadata"]
            pre = options.preconditions
            if pre.get("uid") and pre["uid"] != meta.get("uid"):
                raise errors.conflict(resource.plural, name, resource.group, detail=(
                    f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {meta.get('uid')}"))
            if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
                raise errors.conflict(resource.plural, name, resource.group, detail=(
                    f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                    f"ResourceVersion in object meta: {meta.get('resourceVersion')}"))
            attrs = Attributes(DELETE, resource, meta.get("namespace"), name, None, current, user=options.user,
                               dry_run=options.dry_run)
            await self.admission.admit(attrs)
            await self.admission.validate(attrs)
            finalizers = list(meta.get("finalizers") or [])
            policy = options.propagation_policy
            if policy == "Orphan" and "orphan" not in finalizers:
                finalizers.append("orphan")
                if "foregroundDeletion" in finalizers:
                    finalizers.remove("foregroundDeletion")
            elif policy == "Foreground" and "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
                if "orphan" in finalizers:
                    finalizers.remove("orphan")
            elif policy == "Background":
                finalizers = [f for f in finalizers if f not in ("orphan", "foregroundDeletion")]
            grace = strategy.deletion_grace_seconds(resource, current, options.grace_period_seconds)
            if meta.get("deletionTimestamp"):
                # Already terminating: a shorter grace period or a new policy may still apply.
                updated = codec.copy(current)
                updated["metadata"]["finalizers"] = finalizers
                old_grace = int(meta.get("deletionGracePeriodSeconds") or 0)
                if grace < old_grace:
                    updated = strategy.mark_deleting(updated, grace)
                if not finalizers:
                    updated["metadata"].pop("finalizers", None)
                if strategy.finished_deleting(resource, updated):
                    return Change(obj=current, delete=True, extras=await self.side_effects(resource, None, current)
                                  + attrs.extra.get("extras", NO_EXTRAS))
                return Change(obj=updated) if not _same(updated, current) else Change.none()
            namespace_held = resource.kind == "Namespace" and (current.get("spec") or {}).get("finalizers")
            if finalizers or grace > 0 or namespace_held:
                updated = strategy.mark_deleting(current, grace)
                if finalizers:
                    updated["metadata"]["finalizers"] = finalizers
                return Change(obj=updated)
            return Change(obj=current, delete=True, extras=await self.side_effects(resource, None, current)
                          + attrs.extra.get("extras", NO_EXTRAS))

        obj, what = await self.storage.update(resource, namespace, name, try_delete, dry_run=options.dry_run)
        return obj, what == "deleted"

    async def delete_collection(self, resource: Resource, namespace: str | None, options: DeleteOptions, *,
                                label_selector: str | None, field_selector: str | None) -> ListResult:
        listed = await self.list(resource, namespace, label_selector=label_selector, field_selector=field_selector)
        deleted = []
        for obj in listed.items:
            meta = obj["metadata"]
            try:
                gone, _ = await self.delete(resource, meta.get("namespace"), meta["name"], options)
                deleted.append(gone)
            except StatusError as exc:
                if exc.code != 404:
                    raise
        return ListResult(deleted, listed.resource_version)

    # -- subresources ----------------------------------------------------------

    async def bind(self, namespace: str, name: str, binding: Any, options: Options) -> dict:
        """pods/binding: the scheduler's decision, written once."""
        if not isinstance(binding, dict) or binding.get("kind") not in (None, "Binding"):
            raise errors.bad_request("the body of pods/binding must be a Binding")
        target = binding.get("target") or {}
        node = target.get("name")
        if not node:
            raise errors.invalid("Binding", name, [Cause("target.name", "Required value", "FieldValueRequired")])
        if (binding.get("metadata") or {}).get("name") not in (None, name):
            raise errors.bad_request("the name of the Binding does not match the pod's name")

        async def try_bind(pod: dict) -> Change:
            if pod["metadata"].get("deletionTimestamp"):
                raise errors.conflict("pods", name, detail="pod is being deleted, cannot be assigned to a host")
            current = (pod.get("spec") or {}).get("nodeName")
            if current:
                raise errors.conflict("pods/binding", name, detail=f"pod {name} is already assigned to node "
                                                                   f'"{current}"')
            bound = codec.copy(pod)
            bound["spec"]["nodeName"] = node
            for key in ("annotations",):
                extra = (binding.get("metadata") or {}).get(key)
                if extra:
                    bound["metadata"].setdefault(key, {}).update(extra)
            status = bound.setdefault("status", {})
            conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
            conditions.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                               "lastTransitionTime": strategy.now_rfc3339()})
            status["conditions"] = conditions
            attrs = Attributes(CREATE, PODS, namespace, name, binding, pod, "binding", options.user, options.dry_run)
            await self.admission.admit(attrs)
            await self.admission.validate(attrs)
            return Change(obj=bound)

        await self.storage.update(PODS, namespace, name, try_bind, dry_run=options.dry_run)
        return errors.success_status()

    async def evict(self, namespace: str, name: str, eviction: Any, options: Options) -> dict:
        """pods/eviction: a delete that respects PodDisruptionBudgets (what ``kubectl drain`` sends)."""
        if not isinstance(eviction, dict) or eviction.get("kind") not in (None, "Eviction"):
            raise errors.bad_request("the body of pods/eviction must be an Eviction")
        pod = await self.storage.get(PODS, namespace, name)
        attrs = Attributes(CREATE, PODS, namespace, name, eviction, pod, "eviction", options.user, options.dry_run)
        await self.admission.admit(attrs)
        await self.admission.validate(attrs)
        phase = (pod.get("status") or {}).get("phase")
        if phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp"):
            labels = pod["metadata"].get("labels") or {}
            budgets = await self.storage.list(PDBS, namespace)
            for pdb in budgets.items:
                selector = (pdb.get("spec") or {}).get("selector")
                if selector is None or not selector_from_label_selector_dict(selector).matches(labels):
                    continue
                pdb_name = pdb["metadata"]["name"]
                status = pdb.get("status") or {}
                if int(status.get("observedGeneration") or 0) < int(pdb["metadata"].get("generation") or 1):
                    raise _pdb_refusal(f"DisruptionBudget: The disruption budget {pdb_name} is still being "
                                       "processed by the server.")
                if int(status.get("disruptionsAllowed") or 0) <= 0:
                    raise _pdb_refusal(f"The disruption budget {pdb_name} needs {status.get('desiredHealthy', 0)} "
                                       f"healthy pods and has {status.get('currentHealthy', 0)} currently")
                # Take one disruption from the budget before deleting (upstream does the same).
                async def take(current: dict) -> Change:
                    st = current.setdefault("status", {})
                    allowed = int(st.get("disruptionsAllowed") or 0)
                    if allowed <= 0:
                        raise _pdb_refusal(f"The disruption budget {pdb_name} needs more healthy pods")
                    st["disruptionsAllowed"] = allowed - 1
                    st.setdefault("disruptedPods", {})[name] = strategy.now_rfc3339()
                    return Change(obj=current)
                await self.storage.update(PDBS, namespace, pdb_name, take, dry_run=options.dry_run)
        delete_options = DeleteOptions.from_body(eviction.get("deleteOptions"), {})
        delete_options.dry_run = delete_options.dry_run or options.dry_run
        delete_options.user = options.user
        await self.delete(PODS, namespace, name, delete_options)
        return {**errors.success_status(), "code": 201}

    async def get_scale(self, resource: Resource, namespace: str, name: str) -> dict:
        return to_scale(resource, await self.storage.get(resource, namespace, name))

    async def update_scale(self, resource: Resource, namespace: str, name: str, body: bytes | None,
                           scale_body: Any, content_type: str | None, options: Options) -> dict:
        """PUT or PATCH of /scale: the Scale is a view of spec.replicas."""
        async def try_scale(current: dict) -> Change:
            scale = to_scale(resource, current)
            if content_type is not None:  # a patch of the Scale
                wanted = apply_patch(_SCALE_RESOURCE, scale, body, content_type)
            else:
                wanted = scale_body
            if not isinstance(wanted, dict):
                raise errors.bad_request("the body of /scale must be a Scale")
            rv = (wanted.get("metadata") or {}).get("resourceVersion")
            if rv and rv != current["metadata"]["resourceVersion"]:
                raise errors.conflict(resource.plural, name, resource.group)
            replicas = (wanted.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise errors.invalid("Scale", name, [Cause(
                    "spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")],
                    "autoscaling")
            new = codec.copy(current)
            new.setdefault("spec", {})["replicas"] = replicas
            return await self.updated(resource, current, new, None, options, written_through="scale")

        stored, _ = await self.storage.update(resource, namespace, name, try_scale, dry_run=options.dry_run)
        return to_scale(resource, stored)

    # -- watch -----------------------------------------------------------------

    def watch(self, resource: Resource, namespace: str | None, *, label_selector: str | None,
              field_selector: str | None, resource_version: str | None, send_initial_events: bool | None,
              bookmarks: bool, progress_every: float = 5.0) -> AsyncIterator[tuple[str, dict]]:
        """The events of a watch request, as (type, object): ADDED, MODIFIED, DELETED, BOOKMARK.

        The request is checked here, before anything streams, so a bad selector or
        resourceVersion is an ordinary Status answer; a 410 from etcd comes later, as
        an ERROR event in the stream, like upstream's.
        """
        match = self.matcher(resource, label_selector, field_selector)
        rv = resource_version or ""
        since = None
        if rv not in ("", "0"):
            try:
                since = int(rv)
            except ValueError:
                raise errors.bad_request(f'invalid resource version: "{rv}"') from None
        initial = send_initial_events if send_initial_events is not None else since is None
        return self._watch_events(resource, namespace, match, since, initial, bool(send_initial_events),
                                  progress_every if bookmarks else None)

    async def _watch_events(self, resource: Resource, namespace: str | None, match, since: int | None,
                            initial: bool, initial_events_end: bool,
                            progress_every: float | None) -> AsyncIterator[tuple[str, dict]]:
        if initial:
            # The current state first, as synthetic ADDED events, then what changes after it.
            listed = await self.storage.list(resource, namespace, match=match)
            since = int(listed.resource_version)
            for obj in listed.items:
                yield "ADDED", obj
            if initial_events_end:
                yield "BOOKMARK", bookmark(resource, since, initial_events_end=True)
        elif since is None:
            since = await self.storage.current_revision()  # no initial state asked for: from now on
        async for event in self.storage.watch(resource, namespace, since, progress_every):
            if isinstance(event, int):
                yield "BOOKMARK", bookmark(resource, event)
                continue
            translated = translate(event, match)
            if translated is not None:
                yield translated


def strict_decoding_problems(obj: dict, unknown: list[str], options: Options) -> list[str]:
    """Upstream's strict decoding errors, one text each: unknown and repeated fields.

    JSON: in document order, a field both unknown and repeated named once, as
    unknown (upstream's typed decoder skips unknown fields). YAML: go-yaml's
    repeated-key lines first, as one entry when strict, then the unknown fields.
    A patch: its repeated keys first, then the patched object's unknown fields.
    """
    unknown_texts = unknown_field_warnings(unknown)
    repeated = options.duplicate_fields
    if not repeated:
        return unknown_texts
    if options.duplicates_kind == "patch":
        return repeated + unknown_texts
    if options.duplicates_kind == "yaml":
        if options.field_validation == "Strict":
            return ["yaml: unmarshal errors:\n  " + "\n  ".join(repeated)] + unknown_texts
        return repeated + unknown_texts
    unknown_set, repeated_set = set(unknown), set(repeated)
    problems: list[str] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                child = f"{path}.{key}" if path else key
                if child in unknown_set:
                    problems.append(f'unknown field "{child}"')
                    continue  # nothing below an unknown field is looked at
                if child in repeated_set:
                    problems.append(f'duplicate field "{child}"')
                walk(sub, child)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(item, f"{path}[{i}]")

    walk(obj, "")
    return problems


def translate(event: StoredEvent, match: Callable[[dict], bool] | None) -> tuple[str, dict] | None:
    """A stored change as the watch event a client with this selector sees (None: not its business).

    An object entering the selection is ADDED, one leaving it DELETED.
    """
    if event.type == "DELETE":
        if match is None or match(event.prev):
            return "DELETED", event.obj
        return None
    now_in = match is None or match(event.obj)
    was_in = event.prev is not None and (match is None or match(event.prev))
    if now_in and was_in:
        return "MODIFIED", event.obj
    if now_in:
        return "ADDED", event.obj
    if was_in:
        return "DELETED", event.obj
    return None


def bookmark(resource: Resource, revision: int, initial_events_end: bool = False) -> dict:
    meta: dict[str, Any] = {"resourceVersion": str(revision)}
    if initial_events_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"kind": resource.kind, "apiVersion": resource.api_version, "metadata": meta}


_SCALE_RESOURCE = Resource(group="autoscaling", version="v1", kind="Scale", plural="scale", namespaced=True,
                           storage="-")


def to_scale(resource: Resource, obj: dict) -> dict:
    """autoscaling/v1 Scale: spec.replicas and the label selector of a workload."""
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    selector = spec.get("selector")
    selector_text = str(selector_from_label_selector_dict(selector)) if isinstance(selector, dict) else ""
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": meta["name"], "namespace": meta.get("namespace"), "uid": meta.get("uid"),
                     "resourceVersion": meta.get("resourceVersion"),
                     "creationTimestamp": meta.get("creationTimestamp")},
        "spec": {"replicas": spec.get("replicas", 1)},
        "status": {"replicas": status.get("replicas", 0), "selector": selector_text},
    }


def _pdb_refusal(cause: str) -> StatusError:
    err = errors.too_many_requests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
    err.causes = [Cause("", cause, "DisruptionBudget")]
    err.retry_after_seconds = None
    return err


def _same(a: dict, b: dict) -> bool:
    """Equal but for resourceVersion (a no-op write is not written: nothing changes, no event)."""
    def strip(o):
        meta = {k: v for k, v in (o.get("metadata") or {}).items() if k != "resourceVersion"}
        return {**o, "metadata": meta}
    return strip(a) == strip(b)


def _name_of(obj: dict) -> str:
    meta = obj.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else ""


def _short(obj: dict) -> str:
    text = json.dumps(obj, separators=(",", ":"))
    return text if len(text) < 200 else text[:200] + "..."
