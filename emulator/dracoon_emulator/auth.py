"""OAuth 2 (``/oauth/token``, ``/oauth/revoke``) and bearer-token authentication on the wire:
forms, client credentials and headers. Tokens and their expiry are the backend's
(services/sessions.py).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from urllib.parse import parse_qs

from .backend import Backend
from .errors import ApiError, OAuthError
from .messages import Request, Response
from .model import User


def _form(req: Request) -> dict[str, str]:
    raw = req.read_body(64 * 1024)
    try:
        parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise OAuthError(400, "invalid_request", "form body is not UTF-8") from None
    return {key: values[0] for key, values in parsed.items()}


def _client_credentials(req: Request, form: dict[str, str]) -> tuple[str | None, str]:
    header = req.header("authorization") or ""
    if header[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError(401, "invalid_client", "Malformed Basic authorization") from None
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return form.get("client_id"), form.get("client_secret", "")


def _check_client(backend: Backend, req: Request, form: dict[str, str]) -> str:
    client_id, secret = _client_credentials(req, form)
    expected = backend.settings.oauth_clients.get(client_id or "")
    if client_id is None or expected is None or not secrets.compare_digest(expected, secret):
        raise OAuthError(401, "invalid_client", "Client authentication failed")
    return client_id


def token(backend: Backend, req: Request) -> Response:
    form = _form(req)
    client_id = _check_client(backend, req, form)
    grant = form.get("grant_type")
    if grant == "password":
        username, password = form.get("username"), form.get("password")
        if not username or password is None:
            raise OAuthError(400, "invalid_request", "username and password are required")
        refresh, access = backend.sessions.login(client_id, username, password)
    elif grant == "refresh_token":
        refresh, access = backend.sessions.refresh(client_id, form.get("refresh_token") or "")
    elif not grant:
        raise OAuthError(400, "invalid_request", "grant_type is required")
    else:
        raise OAuthError(400, "unsupported_grant_type", f"grant_type {grant!r} not supported")
    body = {
        "access_token": access.value,
        "token_type": "bearer",
        "refresh_token": refresh.value,
        "expires_in": int(backend.settings.token_lifetime_seconds),
        "expires_in_inactive": int(backend.settings.refresh_token_lifetime_seconds),
        "scope": "all",
    }
    return Response(200, body, headers={"Cache-Control": "no-store"})


def revoke(backend: Backend, req: Request) -> Response:
    form = _form(req)
    _check_client(backend, req, form)
    value = form.get("token")
    if not value:
        raise OAuthError(400, "invalid_request", "token is required")
    backend.sessions.revoke(value)
    return Response(200, b"")


def authenticate(backend: Backend, req: Request) -> User:
    """The user behind ``Authorization: Bearer`` (or legacy ``X-Sds-Auth-Token``), else 401."""
    header = req.header("authorization") or ""
    value = (
        header[7:].strip() if header[:7].lower() == "bearer " else req.header("x-sds-auth-token")
    )
    if not value:
        raise ApiError(401, None, "Unauthorized", "No access token was sent")
    return backend.sessions.user_of(value)
