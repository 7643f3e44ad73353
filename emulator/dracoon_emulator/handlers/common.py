"""Helpers every handler family uses: query parameters, paging and the JSON body readers."""

from __future__ import annotations

from ..bodies import body_ids as body_ids  # the body readers, re-exported for handlers
from ..bodies import body_int as body_int
from ..bodies import body_list as body_list
from ..errors import ApiError
from ..messages import Request

MAX_LIMIT = 500


def query_int(
    req: Request, name: str, default: int | None = None, *, error_code: int = -80002
) -> int | None:
    """An integer query parameter; 400 -80002 "Invalid number" (DRACOON's code) otherwise."""
    raw = req.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, error_code, f"Query parameter {name} must be an integer") from None
    if not -(2**63) <= value < 2**63:
        raise ApiError(400, error_code, f"Query parameter {name} is out of range")
    return value


def query_bool(req: Request, name: str, default: bool = False) -> bool:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise ApiError(400, -80005, f"Query parameter {name} must be true or false")


def paging(req: Request, max_limit: int = MAX_LIMIT) -> tuple[int, int]:
    """``offset`` and ``limit`` (limit defaults to and is capped at ``max_limit``)."""
    offset = query_int(req, "offset", 0, error_code=-80024)
    limit = query_int(req, "limit", max_limit, error_code=-80024)
    assert offset is not None and limit is not None
    if offset < 0 or limit <= 0:
        raise ApiError(400, -80024, "Invalid offset or limit")
    return offset, min(limit, max_limit)
