"""The ``filter`` and ``sort`` query grammar of the node listing and search endpoints.

``filter=type:eq:room:folder|name:cn:rec`` — filters joined by ``|`` are ANDed; several
values inside one filter are ORed. Unknown fields or operators give 400 like DRACOON.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .errors import ApiError
from .model import FILE, FOLDER, ROOM, Node, User, parse_datetime
from .permissions import effective
from .state import State

Predicate = Callable[[State, Node, User], bool]

_TYPE_ORDER = {ROOM: 0, FOLDER: 1, FILE: 2}
_DATE_FIELDS = {
    "timestampCreation": "timestamp_creation",
    "timestampModification": "timestamp_modification",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "expireAt": "expire_at",
}
_SORT_KEYS: dict[str, Callable[[Node], object]] = {
    "name": lambda n: n.name.casefold(),
    "createdAt": lambda n: n.created_at,
    "updatedAt": lambda n: n.updated_at or n.created_at,
    "size": lambda n: n.size,
    "fileType": lambda n: n.name.rsplit(".", 1)[-1].lower() if "." in n.name else "",
    "classification": lambda n: n.classification,
    "timestampCreation": lambda n: n.timestamp_creation or n.created_at,
    "timestampModification": lambda n: n.timestamp_modification or n.created_at,
    "createdBy": lambda n: n.created_by,
    "updatedBy": lambda n: n.updated_by or n.created_by,
    "cntDeletedVersions": lambda n: 0,
}


def _bad(message: str) -> ApiError:
    return ApiError(400, -80000, f"Invalid filter: {message}")


def parse_filter(raw: str | None, *, search: bool = False) -> list[Predicate]:
    if not raw:
        return []
    predicates = []
    for clause in raw.split("|"):
        parts = clause.split(":")
        if len(parts) < 3:
            raise _bad(f"{clause!r} is not FIELD:OPERATOR:VALUE")
        field, op, values = parts[0], parts[1], parts[2:]
        predicates.append(_predicate(field, op, values, search))
    return predicates


def _predicate(field: str, op: str, values: list[str], search: bool) -> Predicate:
    if field == "type" and op == "eq":
        wanted = set(values)
        if not wanted <= {ROOM, FOLDER, FILE}:
            raise _bad("type takes room, folder or file")
        return lambda s, n, u: n.type in wanted
    if field == "name" and op in ("eq", "cn"):
        texts = [v.casefold() for v in values]
        if op == "eq":
            return lambda s, n, u: n.name.casefold() in texts
        return lambda s, n, u: any(t in n.name.casefold() for t in texts)
    if field == "encrypted" and op == "eq" and values[0] in ("true", "false"):
        flag = values[0] == "true"
        return lambda s, n, u: s.is_encrypted(n) == flag
    if field == "parentPath" and op in ("eq", "cn"):
        text = ":".join(values)
        if op == "eq":
            wanted_path = _normalise_path(text).casefold()
            return lambda s, n, u: s.parent_path(n).casefold() == wanted_path
        return lambda s, n, u: text.casefold() in s.parent_path(n).casefold()
    if field == "referenceId" and op == "eq":
        ids = {_int(v, field) for v in values}
        return lambda s, n, u: (n.reference_id or n.id) in ids
    if field in ("perm", "childPerm") and op == "eq":
        perms = set(values)
        return lambda s, n, u: bool(effective(s, n, u.id) & perms)
    if field == "fileType" and op in ("eq", "cn"):
        exts = [v.lower() for v in values]

        def file_type(s: State, n: Node, u: User) -> bool:
            ext = n.name.rsplit(".", 1)[-1].lower() if "." in n.name else ""
            return any(ext == e if op == "eq" else e in ext for e in exts)

        return file_type
    if field == "size" and op in ("ge", "le"):
        limit = _int(values[0], field)
        if op == "ge":
            return lambda s, n, u: n.size >= limit
        return lambda s, n, u: n.size <= limit
    if field in _DATE_FIELDS and op in ("ge", "le"):
        bound = _date(":".join(values), field)
        attr = _DATE_FIELDS[field]

        def by_date(s: State, n: Node, u: User) -> bool:
            value = getattr(n, attr) or (n.created_at if attr.startswith("timestamp") else None)
            if value is None:
                return False
            moment = parse_datetime(value)
            return moment >= bound if op == "ge" else moment <= bound

        return by_date
    if field in ("isFavorite", "branchVersion", "classification", "createdBy", "updatedBy"):
        return lambda s, n, u: field != "isFavorite" or values[0] == "false"
    raise _bad(f"field {field!r} with operator {op!r} is not supported")


def _normalise_path(path: str) -> str:
    path = "/" + path.strip("/")
    return path if path == "/" else path + "/"


def _int(value: str, field: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise _bad(f"{field} needs an integer") from None


def _date(value: str, field: str) -> datetime:
    try:
        return parse_datetime(value)
    except ValueError:
        raise _bad(f"{field} needs an ISO-8601 date") from None


def matches(predicates: list[Predicate], state: State, node: Node, user: User) -> bool:
    return all(p(state, node, user) for p in predicates)


def sort_nodes(nodes: list[Node], raw: str | None) -> list[Node]:
    """Sort by the requested fields; nodes are always grouped by type first."""
    ordered = sorted(nodes, key=lambda n: (n.name.casefold(), n.id))
    if raw:
        for clause in reversed(raw.split("|")):
            field, _, direction = clause.partition(":")
            key = _SORT_KEYS.get(field)
            if key is None or direction not in ("", "asc", "desc"):
                raise ApiError(400, -80000, f"Invalid sort: {clause!r}")
            ordered.sort(key=key, reverse=direction == "desc")
    ordered.sort(key=lambda n: _TYPE_ORDER[n.type])
    return ordered
