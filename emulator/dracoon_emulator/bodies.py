"""Reading fields of a JSON request body, with DRACOON's answers for a missing or mistyped one.

Plain functions over dicts, used by the wire layer (handlers) and by backend operations that
check a list of items one by one (a part list, a key list), so the first bad item answers
the same error wherever it is found.
"""

from __future__ import annotations

from .errors import ApiError


def body_list(body: dict, name: str) -> list:
    """The non-empty JSON array ``name`` of a request body; 400 -80000 naming it otherwise."""
    value = body.get(name)
    if not isinstance(value, list) or not value:
        raise ApiError(400, -80000, f"Mandatory field '{name}' is missing or empty")
    return value


def body_ids(body: dict, name: str) -> list[int]:
    """The non-empty JSON array of integer ids ``name`` (400 -80000 naming it otherwise)."""
    ids = body_list(body, name)
    if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        raise ApiError(400, -80000, f"Field '{name}' must be a list of integer ids")
    return ids


def body_int(body: dict, name: str, *, required: bool = True) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise ApiError(400, -80000, f"Mandatory field '{name}' is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, -80000, f"Field '{name}' must be an integer")
    return value
