"""meta.k8s.io/v1 types every kind shares: ObjectMeta, ListMeta, Status, DeleteOptions, WatchEvent, Table."""

from __future__ import annotations

from .types import (BOOL, INT32, INT64, MICRO_TIME, STRING, TIME, MapOf, Struct, atomic_list, f, merge_list,
                    string_map, struct)

META = "io.k8s.apimachinery.pkg.apis.meta.v1."

FIELDS_V1 = struct(META + "FieldsV1", "The set of fields a manager owns, in the FieldsV1 format.", {}, open=True)
RAW_EXTENSION = struct("io.k8s.apimachinery.pkg.runtime.RawExtension",
                       "An embedded object of any kind, kept as it was sent.", {}, open=True)

OWNER_REFERENCE = struct(META + "OwnerReference", "Identifies the object that owns this one (garbage collection follows it).", {
    "apiVersion": f(STRING, "API version of the owner.", required=True),
    "kind": f(STRING, "Kind of the owner.", required=True),
    "name": f(STRING, "Name of the owner.", required=True),
    "uid": f(STRING, "UID of the owner.", required=True),
    "controller": f(BOOL, "True if the owner is the managing controller (at most one owner may say so)."),
    "blockOwnerDeletion": f(BOOL, "With foreground deletion, the owner is not deleted until this object is gone."),
}, map_type="atomic")

MANAGED_FIELDS_ENTRY = struct(META + "ManagedFieldsEntry", "Which manager owns which fields, and through which operation.", {
    "apiVersion": f(STRING, "Version of the fields' schema."),
    "fieldsType": f(STRING, "Format of fieldsV1; only \"FieldsV1\"."),
    "fieldsV1": f(FIELDS_V1, "The owned fields."),
    "manager": f(STRING, "Name of the manager (the client's field manager)."),
    "operation": f(STRING, "Apply or Update."),
    "subresource": f(STRING, "Subresource the write went through, if any."),
    "time": f(TIME, "When the entry was last changed."),
})

OBJECT_META = struct(META + "ObjectMeta", "Metadata every persisted object has: name, namespace, labels, ownership, versions.", {
    "name": f(STRING, "Name, unique within the namespace (and kind). Cannot be updated."),
    "generateName": f(STRING, "Prefix the server completes with a random suffix when name is empty."),
    "namespace": f(STRING, "Namespace the object lives in; empty for cluster-scoped kinds."),
    "selfLink": f(STRING, "Deprecated, always empty."),
    "uid": f(STRING, "Unique id the server gives the object at creation."),
    "resourceVersion": f(STRING, "Opaque version of the object (etcd's modification revision); used for optimistic concurrency and watches."),
    "generation": f(INT64, "Sequence number of the desired state (bumped when spec changes)."),
    "creationTimestamp": f(TIME, "When the object was created (set by the server)."),
    "deletionTimestamp": f(TIME, "When deletion was requested; the object stays while finalizers remain."),
    "deletionGracePeriodSeconds": f(INT64, "Seconds allowed for a graceful deletion."),
    "labels": string_map("Key/value pairs selectors match against."),
    "annotations": string_map("Key/value pairs for tools and people; not selectable."),
    "ownerReferences": merge_list(OWNER_REFERENCE, "uid", "Objects this one depends on (garbage collection)."),
    "finalizers": merge_list(STRING, None, "Keys that must be removed before the object is deleted."),
    "managedFields": atomic_list(MANAGED_FIELDS_ENTRY, "Field ownership for server-side apply."),
})

LIST_META = struct(META + "ListMeta", "Metadata of a list: its resourceVersion and the continue token.", {
    "selfLink": f(STRING, "Deprecated, always empty."),
    "resourceVersion": f(STRING, "Version of the list (a watch can start from it)."),
    "continue": f(STRING, "Token for the next page when the list was limited."),
    "remainingItemCount": f(INT64, "Items left after this page, when known."),
})

LABEL_SELECTOR_REQUIREMENT = struct(META + "LabelSelectorRequirement", "One set-based requirement: key, operator, values.", {
    "key": f(STRING, "The label key.", required=True),
    "operator": f(STRING, "In, NotIn, Exists or DoesNotExist.", required=True),
    "values": atomic_list(STRING, "Values for In/NotIn; empty for Exists/DoesNotExist."),
})

LABEL_SELECTOR = struct(META + "LabelSelector", "Selects objects by labels: every matchLabels pair and every expression must hold.", {
    "matchLabels": string_map("Exact key=value pairs."),
    "matchExpressions": atomic_list(LABEL_SELECTOR_REQUIREMENT, "Set-based requirements."),
}, map_type="atomic")

CONDITION = struct(META + "Condition", "One aspect of an object's current state.", {
    "type": f(STRING, "Type of the condition, in CamelCase.", required=True),
    "status": f(STRING, "True, False or Unknown.", required=True, enum=["False", "True", "Unknown"]),
    "observedGeneration": f(INT64, "The generation the condition was set for."),
    "lastTransitionTime": f(TIME, "When status last changed.", required=True),
    "reason": f(STRING, "Machine-readable CamelCase reason.", required=True),
    "message": f(STRING, "Human-readable details.", required=True),
})

STATUS_CAUSE = struct(META + "StatusCause", "One cause of an error (for Invalid: a field and what is wrong).", {
    "reason": f(STRING, "Machine-readable cause, e.g. FieldValueRequired."),
    "message": f(STRING, "Human-readable description."),
    "field": f(STRING, "Path of the field at fault, e.g. spec.containers[0].image."),
})

STATUS_DETAILS = struct(META + "StatusDetails", "Extra data about an error: the object and its causes.", {
    "name": f(STRING, "Name of the object concerned."),
    "group": f(STRING, "API group of the object."),
    "kind": f(STRING, "Kind (or resource) of the object."),
    "uid": f(STRING, "UID of the object."),
    "causes": atomic_list(STATUS_CAUSE, "The individual causes."),
    "retryAfterSeconds": f(INT32, "Seconds to wait before retrying."),
})

STATUS = struct(META + "Status", "The result of a call that returns no object, and every error.", {
    "apiVersion": f(STRING, "Always v1."),
    "kind": f(STRING, "Always Status."),
    "metadata": f(LIST_META, "Standard list metadata."),
    "status": f(STRING, "Success or Failure."),
    "message": f(STRING, "Human-readable description."),
    "reason": f(STRING, "Machine-readable reason (NotFound, AlreadyExists, Conflict, Invalid, ...)."),
    "details": f(STATUS_DETAILS, "Extended data for the reason."),
    "code": f(INT32, "HTTP status code."),
})

PRECONDITIONS = struct(META + "Preconditions", "Conditions that must hold for a delete to happen.", {
    "uid": f(STRING, "The object's UID must be this."),
    "resourceVersion": f(STRING, "The object's resourceVersion must be this."),
})

DELETE_OPTIONS = struct(META + "DeleteOptions", "Options of a delete call.", {
    "apiVersion": f(STRING, "API version of this object."),
    "kind": f(STRING, "DeleteOptions."),
    "gracePeriodSeconds": f(INT64, "Seconds before the object is deleted; 0 deletes now."),
    "preconditions": f(PRECONDITIONS, "Must hold or the delete fails with 409 Conflict."),
    "orphanDependents": f(BOOL, "Deprecated: use propagationPolicy."),
    "propagationPolicy": f(STRING, "Orphan, Background or Foreground: what happens to dependents.",
                           enum=["Background", "Foreground", "Orphan"]),
    "dryRun": atomic_list(STRING, "All: validate and admit, persist nothing."),
    "ignoreStoreReadErrorWithClusterBreakingPotential": f(BOOL, "Delete even an object that cannot be decoded."),
})

WATCH_EVENT = struct(META + "WatchEvent", "One event of a watch stream.", {
    "type": f(STRING, "ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.", required=True),
    "object": f(RAW_EXTENSION, "The object (a Status for ERROR).", required=True),
})

PATCH = struct(META + "Patch", "A patch body: JSON patch, merge patch, strategic merge patch or apply configuration.", {}, open=True)

TABLE_COLUMN_DEFINITION = struct(META + "TableColumnDefinition", "A column of a Table.", {
    "name": f(STRING, "Column header.", required=True),
    "type": f(STRING, "OpenAPI type of the cells.", required=True),
    "format": f(STRING, "OpenAPI format of the cells.", required=True),
    "description": f(STRING, "What the column shows.", required=True),
    "priority": f(INT32, "0 for default columns, more for -o wide.", required=True),
})

TABLE_ROW = struct(META + "TableRow", "A row of a Table.", {
    "cells": atomic_list(RAW_EXTENSION, "One value per column.", required=True),
    "conditions": atomic_list(RAW_EXTENSION, "Extra row conditions."),
    "object": f(RAW_EXTENSION, "The object (or its metadata) the row shows."),
})

TABLE = struct(META + "Table", "Objects shown as rows and columns (what kubectl get prints).", {
    "apiVersion": f(STRING, "meta.k8s.io/v1."),
    "kind": f(STRING, "Table."),
    "metadata": f(LIST_META, "Standard list metadata."),
    "columnDefinitions": atomic_list(TABLE_COLUMN_DEFINITION, "The columns.", required=True),
    "rows": atomic_list(TABLE_ROW, "The rows.", required=True),
})


def object_meta_field() -> "object":
    return f(OBJECT_META, "Standard object metadata: name, namespace, labels, annotations, owners.")


def type_meta_fields() -> dict:
    return {
        "apiVersion": f(STRING, "The versioned schema of this representation, e.g. v1 or apps/v1."),
        "kind": f(STRING, "The kind of object, in CamelCase, e.g. Pod."),
    }


__all__ = [n for n in dir() if n.isupper()] + ["object_meta_field", "type_meta_fields", "MICRO_TIME", "MapOf", "Struct"]


def kind(name: str, group: str, version: str, kind_name: str, description: str,
         fields: dict, metadata_required: bool = False) -> Struct:
    """A top-level kind: apiVersion, kind and metadata, then its own fields, tagged with its GVK."""
    meta = object_meta_field()
    meta.required = metadata_required
    return struct(name, description, {**type_meta_fields(), "metadata": meta, **fields},
                  gvks=((group, version, kind_name),))


def list_kind(item: Struct) -> Struct:
    """``<Kind>List``: what a list call answers."""
    group, version, kind_name = item.gvks[0]
    return struct(item.name + "List", f"A list of {kind_name} objects.", {
        **type_meta_fields(),
        "metadata": f(LIST_META, "Standard list metadata: resourceVersion and continue token."),
        "items": atomic_list(item, f"The {kind_name} objects.", required=True),
    }, gvks=((group, version, kind_name + "List"),))
