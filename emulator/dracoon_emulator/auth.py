"""OAuth 2 (``/oauth/token``, ``/oauth/revoke``) and bearer-token authentication.

Tokens are random strings with a real expiry: once ``token_lifetime_seconds`` have passed,
API calls answer 401, so clients' refresh logic is exercised for real.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from urllib.parse import parse_qs

from .backend import Backend
from .errors import ApiError, OAuthError
from .messages import Request, Response
from .model import Token, User


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
    state = backend.state
    now = time.time()
    with state.lock:
        if grant == "password":
            username, password = form.get("username"), form.get("password")
            if not username or password is None:
                raise OAuthError(400, "invalid_request", "username and password are required")
            user = state.user_by_login(username)
            if user is None or not secrets.compare_digest(user.password, password):
                raise OAuthError(400, "invalid_grant", "Bad credentials")
            refresh = Token(
                secrets.token_urlsafe(32),
                user.id,
                client_id,
                now + backend.settings.refresh_token_lifetime_seconds,
            )
            state.refresh_tokens[refresh.value] = refresh
        elif grant == "refresh_token":
            refresh = state.refresh_tokens.get(form.get("refresh_token") or "")
            if refresh is None or refresh.client_id != client_id or refresh.expires_at <= now:
                raise OAuthError(400, "invalid_grant", "Invalid refresh token")
            user = state.users.get(refresh.user_id)
            if user is None:
                raise OAuthError(400, "invalid_grant", "Invalid refresh token")
            refresh.expires_at = now + backend.settings.refresh_token_lifetime_seconds
        elif not grant:
            raise OAuthError(400, "invalid_request", "grant_type is required")
        else:
            raise OAuthError(400, "unsupported_grant_type", f"grant_type {grant!r} not supported")
        access = Token(
            secrets.token_urlsafe(32),
            user.id,
            client_id,
            now + backend.settings.token_lifetime_seconds,
        )
        state.access_tokens[access.value] = access
        _forget_expired(backend, now)
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
    with backend.state.lock:
        backend.state.access_tokens.pop(value, None)
        backend.state.refresh_tokens.pop(value, None)
    return Response(200, b"")


def _forget_expired(backend: Backend, now: float) -> None:
    state = backend.state
    for table in (state.access_tokens, state.refresh_tokens):
        for value in [v for v, t in table.items() if t.expires_at <= now - 3600]:
            del table[value]


def authenticate(backend: Backend, req: Request) -> User:
    """The user behind ``Authorization: Bearer`` (or legacy ``X-Sds-Auth-Token``), else 401."""
    header = req.header("authorization") or ""
    value = (
        header[7:].strip() if header[:7].lower() == "bearer " else req.header("x-sds-auth-token")
    )
    if not value:
        raise ApiError(401, None, "Unauthorized", "No access token was sent")
    with backend.state.lock:
        access = backend.state.access_tokens.get(value)
        if access is None:
            raise ApiError(401, None, "Unauthorized", "Access token is invalid or revoked")
        if access.expires_at <= time.time():
            raise ApiError(401, None, "Unauthorized", "Access token has expired")
        user = backend.state.users.get(access.user_id)
    if user is None:
        raise ApiError(401, None, "Unauthorized", "User of this token no longer exists")
    return user


def expire_all_tokens(backend: Backend) -> int:
    now = time.time()
    with backend.state.lock:
        for access in backend.state.access_tokens.values():
            access.expires_at = min(access.expires_at, now - 0.001)
        return len(backend.state.access_tokens)
