"""``/user/account`` and the caller's key pairs on the wire (services/accounts.py keeps them)."""

from __future__ import annotations

from Crypto.PublicKey import RSA

from ..backend import Backend
from ..errors import ApiError
from ..messages import Request, Response, no_content
from ..model import KEY_PAIR_VERSIONS, User, now_iso
from ..routing import Router
from ..views import roles_json, user_info, without_nulls

V4 = "/api/v4"
_MODULUS_BITS = {"A": 2048, "RSA-4096": 4096}


def account(backend: Backend, req: Request) -> Response:
    user: User = req.user
    manageable = backend.accounts.manages_a_room(user)
    body = {
        **user_info(user),
        "phone": user.phone,
        "title": "",
        "gender": "n",
        "language": user.language,
        "isLocked": False,
        "lockStatus": 0,  # deprecated, but required by the description
        "customerId": 1,
        "hasManageableRooms": manageable,
        "needsToAcceptEULA": False,
        "mustSetEmail": False,
        "needsToChangePassword": False,
        "needsToChangeUserName": False,
        "isEncryptionEnabled": bool(user.key_pairs),
        "expireAt": None,
        "lastLoginSuccessAt": now_iso(),
        "lastLoginFailAt": None,
        "authData": {"method": "basic", "login": user.login, "mustChangePassword": False},
        "userRoles": roles_json(user),
        "userGroups": [],
        "homeRoomId": None,
    }
    return Response(body=without_nulls(body))


def _version_param(req: Request) -> str | None:
    version = req.query.get("version")
    if version is not None and version not in KEY_PAIR_VERSIONS:
        raise ApiError(400, -70022, f"Unknown key pair version {version[:40]!r}")
    return version


def get_key_pair(backend: Backend, req: Request) -> Response:
    return Response(body=backend.accounts.key_pair(req.user, _version_param(req)))


def list_key_pairs(backend: Backend, req: Request) -> Response:
    return Response(body=backend.accounts.key_pairs(req.user))


def set_key_pair(backend: Backend, req: Request) -> Response:
    backend.accounts.set_key_pair(req.user, validate_key_pair_container(req.json()))
    return no_content()


def delete_key_pair(backend: Backend, req: Request) -> Response:
    """Deleting a key pair also drops the user's file keys of that version (they are lost)."""
    backend.accounts.delete_key_pair(req.user, _version_param(req))
    return no_content()


def validate_key_pair_container(body: dict) -> dict:
    """Shape and key checks with DRACOON's codes (description 4.26.7): a missing part is
    -80000, a bad public key (or version) -70022 "Invalid public key format", a bad private
    key -70023 "Invalid private key format". The private key itself stays opaque."""
    try:
        private = body["privateKeyContainer"]
        public = body["publicKeyContainer"]
        version = public["version"]
        if not isinstance(private["privateKey"], str) or not isinstance(public["publicKey"], str):
            raise TypeError
    except (KeyError, TypeError):
        raise ApiError(
            400, -80000, "Key pair container needs privateKeyContainer and publicKeyContainer"
        ) from None
    if private.get("version") != version or version not in KEY_PAIR_VERSIONS:
        raise ApiError(400, -70022, f"Key pair version {str(version)[:20]!r} is not supported")
    if "PRIVATE KEY" not in private["privateKey"]:
        raise ApiError(400, -70023, "privateKey is not a PEM private key")
    try:
        key = RSA.import_key(public["publicKey"])
    except (ValueError, IndexError, TypeError):
        raise ApiError(400, -70022, "publicKey is not a PEM RSA public key") from None
    if key.has_private() or key.size_in_bits() != _MODULUS_BITS[version]:
        raise ApiError(400, -70022, f"publicKey does not match key pair version {version}")
    return {
        "privateKeyContainer": {k: private[k] for k in ("version", "privateKey")},
        "publicKeyContainer": {k: public[k] for k in ("version", "publicKey")},
    }


def register(router: Router) -> None:
    router.add("GET", f"{V4}/user/account", account)
    router.add("GET", f"{V4}/user/account/keypair", get_key_pair)
    router.add("POST", f"{V4}/user/account/keypair", set_key_pair)
    router.add("DELETE", f"{V4}/user/account/keypair", delete_key_pair)
    router.add("GET", f"{V4}/user/account/keypairs", list_key_pairs)
