"""OAuth2 password grant with refresh, and the authorised request helper built on it.

One :class:`OAuthSession` per account and process: every thread shares its access token. The
token is renewed shortly *before* it expires (so long uploads never send a dead token) and
again when the server answers 401 anyway (server-side revocation, clock skew); the request
that got the 401 is repeated once with the new token.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus, urlencode

import urllib3

from recording_storage.redact import redact

from .errors import DracoonAnswerError, DracoonApiError, DracoonAuthError
from .transport import RetryKind, Transport, decode_json

log = logging.getLogger(__name__)

_FORM = "application/x-www-form-urlencoded"
_MAX_REFRESH_MARGIN = 60.0


class OAuthSession:
    """Holds and renews the access token of one account (thread-safe)."""

    def __init__(
        self,
        transport: Transport,
        username: str,
        password: str,
        *,
        client_id: str = "dracoon_legacy_scripting",
        client_secret: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self.username = username
        self._password = password
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._lock = threading.Lock()
        self._access_token: str | None = None
        self._refresh_token: str | None = None
        self._renew_at = 0.0
        self.logins = 0  # counters, handy for tests and debugging
        self.refreshes = 0

    def __repr__(self) -> str:  # never show tokens or the password
        return f"OAuthSession(user={self.username!r}, client_id={self._client_id!r})"

    def access_token(self) -> str:
        """A token valid for at least the refresh margin; logs in or refreshes when needed."""
        with self._lock:
            if self._access_token is None or self._clock() >= self._renew_at:
                self._renew()
            assert self._access_token is not None
            return self._access_token

    def invalidate(self, token: str) -> None:
        """The server refused ``token``: make the next :meth:`access_token` renew it.

        Only when it is still the current token, so many threads that got a 401 for the same
        token cause one renewal, not one each.
        """
        with self._lock:
            if self._access_token == token:
                self._renew_at = 0.0

    def revoke(self) -> None:
        """Best-effort logout: revoke both tokens so they cannot be replayed."""
        with self._lock:
            tokens = [(self._access_token, "access_token"), (self._refresh_token, "refresh_token")]
            self._access_token = self._refresh_token = None
        for token, hint in tokens:
            if not token:
                continue
            try:
                self._transport.request(
                    "POST",
                    self._transport.location.root + "/oauth/revoke",
                    body=urlencode({"token": token, "token_type_hint": hint}).encode(),
                    headers={"Content-Type": _FORM, "Authorization": self._basic()},
                    kind=RetryKind.REPEATABLE,
                    label="/oauth/revoke",
                )
            except Exception as exc:  # logout must never fail a shutdown
                log.debug("token revocation failed: %s", exc)

    # -- internals ---------------------------------------------------------------------------

    def _renew(self) -> None:
        if self._refresh_token is not None:
            try:
                self._token_request(
                    {"grant_type": "refresh_token", "refresh_token": self._refresh_token}
                )
                self.refreshes += 1
                return
            except DracoonAuthError as exc:
                log.info(
                    "token refresh for %s refused (%s); logging in again", self.username, exc.status
                )
        self._token_request(
            {"grant_type": "password", "username": self.username, "password": self._password}
        )
        self.logins += 1

    def _token_request(self, form: dict[str, str]) -> None:
        grant = form["grant_type"]
        sent_at = self._clock()
        try:
            answer = self._transport.request_json(
                "POST",
                self._transport.location.oauth_token,
                body=urlencode(form).encode(),
                headers={"Content-Type": _FORM, "Authorization": self._basic()},
                kind=RetryKind.REPEATABLE,
                label="/oauth/token",
            )
        except DracoonApiError as exc:
            what = "login" if grant == "password" else "token refresh"
            error_cls = DracoonAuthError if exc.status in (400, 401, 403) else DracoonApiError
            raise error_cls(
                exc.method,
                exc.path,
                exc.status,
                error_code=exc.error_code,
                # An OAuth server's error_description may repeat what it was sent.
                server_message=redact(exc.server_message or "", self._sent_secrets(form)) or None,
                context=f"{what} of DRACOON user {self.username!r} "
                f"(OAuth client {self._client_id!r}) failed",
            ) from None
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            # A 200 without a token is a broken answer (a proxy page, a server bug), not a
            # refused login: retryable, unlike DracoonAuthError.
            raise DracoonAnswerError("POST", "/oauth/token", 200, "the answer has no access_token")
        refresh = answer.get("refresh_token")
        expires_in = answer.get("expires_in")
        self._access_token = token
        self._refresh_token = (
            refresh if isinstance(refresh, str) and refresh else self._refresh_token
        )
        valid = isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
        lifetime = float(min(expires_in, 10**9)) if valid and expires_in > 0 else 3600.0
        margin = min(_MAX_REFRESH_MARGIN, lifetime * 0.1)
        self._renew_at = sent_at + lifetime - margin

    def _sent_secrets(self, form: dict[str, str]) -> list[str | None]:
        """Every secret a token request carries (form fields and the Basic credentials)."""
        values = [
            self._password,
            self._client_secret,
            self._access_token,
            self._refresh_token,
            form.get("password"),
            form.get("refresh_token"),
            self._basic().partition(" ")[2],
        ]
        return values + [quote_plus(value) for value in values if value]  # as sent in the form

    def _basic(self) -> str:
        raw = f"{self._client_id}:{self._client_secret}".encode()
        return "Basic " + base64.b64encode(raw).decode()


class AuthorizedApi:
    """Sends API requests with the session's bearer token; repeats once after a 401."""

    def __init__(self, transport: Transport, session: OAuthSession) -> None:
        self.transport = transport
        self.session = session

    def request(self, method: str, path: str, **kw: Any) -> urllib3.BaseHTTPResponse:
        extra = dict(kw.pop("headers", None) or {})
        token = self.session.access_token()
        try:
            return self.transport.request(method, path, headers=self._headers(token, extra), **kw)
        except DracoonApiError as exc:
            if exc.status != 401:
                raise
            log.info("%s %s answered 401; renewing the access token once", method, exc.path)
            self.session.invalidate(token)
            token = self.session.access_token()
            return self.transport.request(method, path, headers=self._headers(token, extra), **kw)

    def call(self, method: str, path: str, **kw: Any) -> Any:
        """Authorised request returning the decoded JSON body (or ``None`` when empty)."""
        response = self.request(method, path, **kw)
        return decode_json(response, method, self.transport._resolve(path, kw.get("label"))[1])

    @staticmethod
    def _headers(token: str, extra: dict[str, str]) -> dict[str, str]:
        headers = dict(extra)
        headers["Authorization"] = f"Bearer {token}"
        return headers
