"""Turning a finished upload into a file node: completion body rules, name conflicts
(autorename / overwrite / fail) and the uploader's file key. Shared by classic and S3."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from .errors import ApiError, node_not_found
from .model import FILE, FILE_KEY_VERSION_FOR, Node, Upload, now_iso
from .names import autorename_candidates, check_name
from .quota import check_room_quota
from .recycle import move_to_bin
from .state import State
from .storage import BlobInfo, ContentStore

RESOLUTIONS = ("autorename", "overwrite", "fail")
_FILE_KEY_VERSIONS = set(FILE_KEY_VERSION_FOR.values())


@dataclass(frozen=True)
class Completion:
    resolution: str
    file_name: str | None
    file_key: dict | None


def parse_resolution(body: dict) -> tuple[str, bool]:
    """``resolutionStrategy`` (default autorename) and ``keepShareLinks`` of a request that
    may meet a name conflict: completion, copy/move, restore."""
    resolution = body.get("resolutionStrategy") or "autorename"
    if resolution not in RESOLUTIONS:
        raise ApiError(400, -80000, f"resolutionStrategy must be one of {', '.join(RESOLUTIONS)}")
    keep = body.get("keepShareLinks", False)
    if not isinstance(keep, bool):
        raise ApiError(400, -80000, "keepShareLinks must be true or false")
    return resolution, keep


def parse_completion(body: dict, encrypted: bool) -> Completion:
    resolution, keep = parse_resolution(body)
    if keep and resolution != "overwrite":
        raise ApiError(
            400, -80034, "keepShareLinks is only allowed with resolutionStrategy overwrite"
        )
    file_name = body.get("fileName")
    if file_name is not None:
        file_name = check_name(file_name, "fileName")
    file_key = body.get("fileKey")
    if encrypted:
        if file_key is None:
            raise ApiError(
                400, -40763, "A file key is required for an upload into an encrypted room"
            )
        file_key = validate_file_key(file_key)
    else:
        file_key = None  # plain rooms keep no keys
    return Completion(resolution, file_name, file_key)


def validate_file_key(value: object) -> dict:
    """Check an encrypted FileKey's shape: known version, base64 key, 12-byte IV, 16-byte tag."""
    if not isinstance(value, dict):
        raise ApiError(400, -80000, "fileKey must be an object {version, key, iv, tag}")
    version = value.get("version")
    if not isinstance(version, str) or version not in _FILE_KEY_VERSIONS:  # {} is unhashable
        raise ApiError(400, -80000, f"fileKey.version must be one of {sorted(_FILE_KEY_VERSIONS)}")
    sizes = {"key": None, "iv": 12, "tag": 16}
    for field, size in sizes.items():
        raw = value.get(field)
        if field == "tag" and raw is None:
            continue  # only valid for empty files; clients decide
        if not isinstance(raw, str):
            raise ApiError(400, -80000, f"fileKey.{field} must be a base64 string")
        try:
            decoded = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, -80000, f"fileKey.{field} is not valid base64") from None
        if size is not None and len(decoded) != size:
            raise ApiError(400, -80000, f"fileKey.{field} must be {size} bytes")
    return {"version": version, "key": value["key"], "iv": value["iv"], "tag": value.get("tag")}


def create_file(
    state: State, store: ContentStore, upload: Upload, completion: Completion, blob: BlobInfo
) -> Node:
    """Create the file node (call with ``state.lock`` held); raises 409 on a conflict."""
    parent = state.nodes.get(upload.parent_id)
    if parent is None:
        raise node_not_found(upload.parent_id)
    check_room_quota(state, parent, blob.size)
    name = completion.file_name or upload.name
    reference_id = None
    existing = state.child_named(parent.id, name)
    if existing is not None:
        if completion.resolution == "fail":
            raise ApiError(409, -41001, f"A node named {name!r} already exists in {parent.id}")
        if completion.resolution == "overwrite":
            if existing.type != FILE:
                raise ApiError(
                    409, -40010, f"{name!r} is a {existing.type}; it cannot be overwritten"
                )
            reference_id = existing.reference_id or existing.id
            move_to_bin(state, existing, upload.user_id)  # the old version, restorable
        else:
            name = next(
                c for c in autorename_candidates(name) if not state.child_named(parent.id, c)
            )
    node = Node(
        id=state.new_node_id(),
        type=FILE,
        name=name,
        parent_id=parent.id,
        created_at=now_iso(),
        created_by=upload.user_id,
        classification=upload.classification or state.room_of(parent).classification,
        notes=upload.notes,
        expire_at=upload.expire_at,
        timestamp_creation=upload.timestamp_creation,
        timestamp_modification=upload.timestamp_modification,
        blob_id=upload.blob_id,
        size=blob.size,
        sha256=blob.sha256,
        md5=blob.md5,
    )
    node.reference_id = reference_id or node.id
    if completion.file_key is not None:
        node.file_keys[upload.user_id] = {completion.file_key["version"]: completion.file_key}
    state.nodes[node.id] = node
    return node
