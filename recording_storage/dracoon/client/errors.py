"""Exceptions raised by the DRACOON client.

Every exception says what failed (HTTP method + endpoint, room or file name) so an operator
can act on the message alone. None of them ever carries a secret: access/refresh tokens,
passwords, upload tokens and presigned URL signatures are replaced by placeholders before a
message is built (see ``transport.endpoint_label``).
"""

from __future__ import annotations


class DracoonError(Exception):
    """Base class of everything this client raises on purpose."""


# DRACOON's errorCodes for an upload channel that no longer takes data (OpenAPI 4.26.7):
# -20501 upload not found (404), -20503 upload channel closed (400), -90034 S3 upload id not
# found (404).
UPLOAD_GONE_CODES = frozenset({-20501, -20503, -90034})


class DracoonApiError(DracoonError):
    """DRACOON answered with an HTTP error status.

    ``status`` is the HTTP status, ``error_code`` the (negative) DRACOON ``errorCode`` when the
    body carried one, ``method`` and ``path`` the request (path without query string, with
    opaque tokens masked). ``server_message`` is DRACOON's own ``message`` text, if any.
    """

    def __init__(
        self,
        method: str,
        path: str,
        status: int,
        *,
        error_code: int | None = None,
        server_message: str | None = None,
        context: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.error_code = error_code
        self.server_message = server_message
        self.context = context
        super().__init__(self._build_message())

    def _build_message(self) -> str:
        parts = []
        if self.context:
            parts.append(f"{self.context}: ")
        parts.append(f"{self.method} {self.path} failed with HTTP {self.status}")
        if self.error_code is not None:
            parts.append(f" (DRACOON errorCode {self.error_code})")
        if self.server_message:
            parts.append(f": {self.server_message}")
        hint = _HINTS.get(self.status)
        if hint:
            parts.append(f" - {hint}")
        return "".join(parts)

    def with_context(self, context: str) -> DracoonApiError:
        """Return a copy whose message starts with ``context`` (e.g. which room or file)."""
        error = type(self)(
            self.method,
            self.path,
            self.status,
            error_code=self.error_code,
            server_message=self.server_message,
            context=context,
        )
        error.__cause__ = self.__cause__
        return error

    @property
    def retryable(self) -> bool:
        """True when trying the whole operation again later may succeed.

        An upload channel that is gone or closed (``UPLOAD_GONE_CODES``: it expired, or was
        cancelled, while we used it) is retryable although its status is 404/400: a new
        channel later works, while a 404 on a room or file needs a human.
        """
        if self.error_code in UPLOAD_GONE_CODES:
            return True
        return self.status in (408, 429, 500, 502, 503, 504, 507) or self.status >= 520


class DracoonAuthError(DracoonApiError):
    """Login or token refresh failed (wrong user/password, unknown OAuth client...)."""


class DracoonConnectionError(DracoonError):
    """The server could not be reached or dropped the connection after every retry."""


class DracoonDeadlineError(DracoonConnectionError):
    """A call ran past its total deadline (e.g. an answer trickling in), or the job's
    deadline or cancel stopped a paged listing. Retryable: later the server may be fast."""


class DracoonAnswerError(DracoonError):
    """DRACOON answered, but the answer cannot be used: not JSON (an HTML error page),
    JSON of the wrong shape, nested too deep, larger than any legitimate answer, or a list
    whose paging lies (see ``paging``).

    Always retryable: a proxy's error page or a broken server usually recovers, and a job
    must not be dead-lettered on first sight of one bad answer. ``method`` and ``path`` name
    the endpoint (path with ids as ``{id}``); ``problem`` says what is wrong, never echoing
    the body.
    """

    retryable = True

    def __init__(self, method: str, path: str, status: int, problem: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.problem = problem
        super().__init__(
            f"{method} {path}: unusable answer (HTTP {status}): {problem} "
            "(DRACOON or a proxy in front of it misbehaves; retryable)"
        )


class RoomNameError(DracoonError, ValueError):
    """A room name (one part of a room path) breaks DRACOON's naming rules.

    ``name`` is the offending part, ``reason`` says which rule it breaks.
    """

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"invalid DRACOON name {name!r}: {reason}")


class RoomNotFoundError(DracoonError):
    """A room path could not be resolved and ``create=False`` was asked."""


class KeyPairError(DracoonError):
    """The account's key pair is missing or cannot be unlocked (wrong encryption password)."""


class UploadError(DracoonError):
    """An upload failed for a reason that is not a single HTTP error (short source, S3 error)."""


class UploadInterruptedError(UploadError):
    """A call that must not be repeated (classic chunk, completion, channel creation) went
    out, and its answer was lost or was a server error: DRACOON may have acted on it.

    The upload's channel was cancelled; the file has to be uploaded again on a new channel
    from its first byte (retryable). ``completion`` is True when the lost answer was the
    completion's: the file may exist in the room after all, so look for it first.
    """

    def __init__(self, message: str, *, completion: bool = False) -> None:
        super().__init__(message)
        self.completion = completion


class UploadCorruptedError(UploadError):
    """DRACOON stored other bytes than were sent: the ``hash`` it reports for the new file is
    not the MD5 of what the upload sent (same length -- e.g. a chunk altered on its way).

    The file was deleted again (``deleted``; False when that failed too and the broken file
    is still in the room); the recording has to be uploaded again (retryable).
    """

    def __init__(self, message: str, *, file_id: int, deleted: bool) -> None:
        super().__init__(message)
        self.file_id = file_id
        self.deleted = deleted


class UploadCancelledError(UploadError):
    """The caller asked to cancel the upload (``cancel`` event set); the channel was removed."""


class DownloadError(DracoonError):
    """A download could not be completed or failed its integrity check."""


_HINTS = {
    401: "the access token was refused; check user name, password and OAuth client",
    403: "the account lacks the permission for this node or action",
    404: "the node or upload does not exist (any more)",
    409: "a node with this name already exists",
    412: "the account must first complete a step in DRACOON (EULA, password change...)",
    429: "DRACOON rate-limited the request even after retries; try again later",
    507: "the room or tenant storage quota is exhausted",
}
