"""``PUT /user/account``: the caller changes their own name, e-mail, phone or language.

Fields are limited to 150 characters (DRACOON's description). A new ``userName`` must be
free (the emulator answers 409 -80000 naming the field: our assumption, documented).
The answer is the updated account, the same shape ``GET /user/account`` returns.
"""

from __future__ import annotations

from ..backend import Backend
from ..errors import ApiError
from ..messages import Request, Response
from ..model import User
from ..routing import Router
from .account import account

V4 = "/api/v4"
MAX_FIELD = 150
_FIELDS = {
    "userName": "login",
    "firstName": "first_name",
    "lastName": "last_name",
    "email": "email",
    "phone": "phone",
    "language": "language",
}


def update_account(backend: Backend, req: Request) -> Response:
    body = req.json()
    user: User = req.user
    changes: dict[str, str] = {}
    for field, attr in _FIELDS.items():
        value = body.get(field)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > MAX_FIELD:
            raise ApiError(400, -80000, f"{field} must be a string of at most {MAX_FIELD} chars")
        if attr in ("login", "first_name", "last_name") and not value.strip():
            raise ApiError(400, -80000, f"{field} must not be empty")
        changes[attr] = value
    accept = body.get("acceptEULA")
    if accept is not None and accept is not True:
        raise ApiError(400, -80000, "acceptEULA can only be true")
    backend.accounts.update(user, changes)
    return account(backend, req)


def register(router: Router) -> None:
    router.add("PUT", f"{V4}/user/account", update_account)
