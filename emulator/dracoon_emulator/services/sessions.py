"""OAuth sessions: access and refresh tokens with a real expiry, and who a token belongs to.

Tokens are random strings: once ``token_lifetime_seconds`` have passed, API calls answer
401, so clients' refresh logic is exercised for real. The wire side (auth.py) reads the
form and the headers and formats OAuth answers.
"""

from __future__ import annotations

import secrets
import time

from ..errors import ApiError, OAuthError
from ..model import Token, User
from ..seed import Settings
from ..state import State

FORGET_EXPIRED_AFTER_SECONDS = 3600


class Sessions:
    def __init__(self, state: State, settings: Settings) -> None:
        self._state = state
        self._settings = settings

    def login(self, client_id: str, username: str, password: str) -> tuple[Token, Token]:
        """Password grant: a new refresh and access token (400 invalid_grant otherwise)."""
        state, now = self._state, time.time()
        with state.lock:
            user = state.user_by_login(username)
            if user is None or not secrets.compare_digest(user.password, password):
                raise OAuthError(400, "invalid_grant", "Bad credentials")
            refresh = Token(
                secrets.token_urlsafe(32),
                user.id,
                client_id,
                now + self._settings.refresh_token_lifetime_seconds,
            )
            state.refresh_tokens[refresh.value] = refresh
            return refresh, self._new_access(user, client_id, now)

    def refresh(self, client_id: str, value: str) -> tuple[Token, Token]:
        """Refresh grant: the refresh token (its lifetime renewed) and a new access token."""
        state, now = self._state, time.time()
        with state.lock:
            refresh = state.refresh_tokens.get(value)
            if refresh is None or refresh.client_id != client_id or refresh.expires_at <= now:
                raise OAuthError(400, "invalid_grant", "Invalid refresh token")
            user = state.users.get(refresh.user_id)
            if user is None:
                raise OAuthError(400, "invalid_grant", "Invalid refresh token")
            refresh.expires_at = now + self._settings.refresh_token_lifetime_seconds
            return refresh, self._new_access(user, client_id, now)

    def _new_access(self, user: User, client_id: str, now: float) -> Token:
        state = self._state
        access = Token(
            secrets.token_urlsafe(32),
            user.id,
            client_id,
            now + self._settings.token_lifetime_seconds,
        )
        state.access_tokens[access.value] = access
        for table in (state.access_tokens, state.refresh_tokens):
            old = now - FORGET_EXPIRED_AFTER_SECONDS
            for expired in [v for v, t in table.items() if t.expires_at <= old]:
                del table[expired]
        return access

    def revoke(self, value: str) -> None:
        with self._state.lock:
            self._state.access_tokens.pop(value, None)
            self._state.refresh_tokens.pop(value, None)

    def user_of(self, access_token: str) -> User:
        """The user behind an access token; 401 when it is unknown, expired or orphaned."""
        state = self._state
        with state.lock:
            access = state.access_tokens.get(access_token)
            if access is None:
                raise ApiError(401, None, "Unauthorized", "Access token is invalid or revoked")
            if access.expires_at <= time.time():
                raise ApiError(401, None, "Unauthorized", "Access token has expired")
            user = state.users.get(access.user_id)
        if user is None:
            raise ApiError(401, None, "Unauthorized", "User of this token no longer exists")
        return user

    def expire_all(self) -> int:
        """Expire every access token (admin): the number of tokens."""
        now = time.time()
        with self._state.lock:
            for access in self._state.access_tokens.values():
                access.expires_at = min(access.expires_at, now - 0.001)
            return len(self._state.access_tokens)
