"""JSON shapes of the API v4 responses (Node, UserInfo, RoomUser, Range...)."""

from __future__ import annotations

from .model import FILE, FOLDER, KEY_PAIR_VERSIONS, PERMISSIONS, ROLE_IDS, ROOM, Node, User
from .permissions import effective
from .state import State


def permissions_json(perms: set[str]) -> dict[str, bool]:
    return {name: name in perms for name in PERMISSIONS}


def user_info(user: User | None, user_id: int | None = None) -> dict:
    if user is None:
        return {
            "id": user_id or 0,
            "userType": "deleted",
            "userName": "",
            "firstName": "",
            "lastName": "",
            "avatarUuid": "",
        }
    return {
        "id": user.id,
        "userType": "internal",
        "userName": user.login,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "email": user.email,
        "avatarUuid": f"avatar-{user.id}",
    }


def roles_json(user: User) -> dict:
    return {
        "items": [
            {"id": ROLE_IDS.get(name, 99), "name": name, "description": name.replace("_", " ")}
            for name in user.roles
        ]
    }


def public_key_container(user: User, version: str | None = None) -> dict | None:
    """The user's preferred (or the given version's) public key container."""
    versions = [version] if version else list(KEY_PAIR_VERSIONS)
    for candidate in versions:
        pair = user.key_pairs.get(candidate)
        if pair:
            return pair["publicKeyContainer"]
    return None


def node_json(state: State, node: Node, user: User, *, detailed: bool = False) -> dict:
    """A Node as the API returns it; ``permissions`` are the caller's effective ones."""
    perms = effective(state, node, user.id)
    children = state.children(node.id) if node.type != FILE else []
    body: dict = {
        "id": node.id,
        "referenceId": node.reference_id or node.id,
        "type": node.type,
        "name": node.name,
        "parentId": node.parent_id,
        "parentPath": state.parent_path(node),
        "size": _size(state, node),
        "isEncrypted": state.is_encrypted(node),
        "permissions": permissions_json(perms),
        "createdAt": node.created_at,
        "createdBy": user_info(state.users.get(node.created_by), node.created_by),
        "updatedAt": node.updated_at or node.created_at,
        "updatedBy": user_info(
            state.users.get(node.updated_by or node.created_by), node.updated_by
        ),
        "timestampCreation": node.timestamp_creation or node.created_at,
        "timestampModification": node.timestamp_modification or node.created_at,
        "classification": node.classification,
        "notes": node.notes or "",
        "expireAt": node.expire_at,
        "isFavorite": node.id in user.favorites,
        "isBrowsable": bool(perms),
        "cntDeletedVersions": _deleted_versions(state, node),
        "cntComments": sum(
            1 for c in state.comments.values() if c.node_id == node.id and not c.is_deleted
        ),
        "cntDownloadShares": 0,
        "cntUploadShares": 0,
        "hasActivitiesLog": True,
    }
    if node.type == ROOM:
        body.update(
            {
                "inheritPermissions": node.inherit_permissions,
                "quota": node.quota or 0,
                "recycleBinRetentionPeriod": 30,
                "cntRooms": sum(1 for c in children if c.type == ROOM),
                "cntFolders": sum(1 for c in children if c.type == FOLDER),
                "cntFiles": sum(1 for c in children if c.type == FILE),
            }
        )
    elif node.type == FOLDER:
        body.update(
            {
                "cntFolders": sum(1 for c in children if c.type == FOLDER),
                "cntFiles": sum(1 for c in children if c.type == FILE),
            }
        )
    else:
        body.update(
            {
                "hash": node.md5 or "",
                "fileType": node.name.rsplit(".", 1)[1].lower() if "." in node.name else "",
                "mediaType": "application/octet-stream",
                "branchVersion": 1,
            }
        )
    if detailed:
        body["encryptionInfo"] = _encryption_info(state, node, user)
    return without_nulls(body)


def without_nulls(body: dict) -> dict:
    """DRACOON's description marks no field nullable: an unset field is left out, not null
    (a top-level room has no ``parentId``, a file without expiry no ``expireAt``)."""
    return {key: value for key, value in body.items() if value is not None}


def _deleted_versions(state: State, node: Node) -> int:
    """Files: overwritten or deleted versions of the same name in the same parent."""
    if node.type != FILE:
        return 0
    name = node.name.casefold()
    return sum(
        1
        for entry in state.recycle_bin.values()
        if entry.node.type == FILE
        and entry.node.parent_id == node.parent_id
        and entry.node.name.casefold() == name
    )


def _size(state: State, node: Node) -> int:
    if node.type == FILE:
        return node.size
    return sum(d.size for d in state.descendants(node) if d.type == FILE)


def _encryption_info(state: State, node: Node, user: User) -> dict:
    if not state.is_encrypted(node):
        return {"userKeyState": "none", "roomKeyState": "none", "dataSpaceKeyState": "none"}
    if node.type == FILE:
        user_state = "available" if node.file_keys.get(user.id) else "pending"
    else:
        user_state = "available" if user.key_pairs else "none"
    return {"userKeyState": user_state, "roomKeyState": "none", "dataSpaceKeyState": "none"}


def page(items: list, offset: int, limit: int) -> dict:
    return {
        "range": {"offset": offset, "limit": limit, "total": len(items)},
        "items": items[offset : offset + limit],
    }
