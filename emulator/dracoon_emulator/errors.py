"""DRACOON-shaped errors. Every failure a handler raises becomes one of these bodies, so a
client under test sees exactly what the real API would send instead of a Python traceback."""

from __future__ import annotations

from http import HTTPStatus


class ApiError(Exception):
    """An API v4 error: ``{code, message, debugInfo, errorCode}`` with the HTTP status ``code``."""

    def __init__(
        self,
        status: int,
        error_code: int | None = None,
        message: str | None = None,
        debug_info: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.error_code = error_code
        self.message = message or _reason(status)
        self.debug_info = debug_info
        self.headers = headers or {}
        super().__init__(f"{status} {error_code}: {self.message}")

    def body(self) -> dict:
        body: dict = {"code": self.status, "message": self.message}
        body["debugInfo"] = self.debug_info or self.message
        if self.error_code is not None:
            body["errorCode"] = self.error_code
        return body


class OAuthError(Exception):
    """An ``/oauth/*`` error: ``{error, error_description}`` (OAuth 2 shape, not API v4)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        self.status = status
        self.error = error
        self.description = description
        super().__init__(f"{status} {error}: {description}")

    def body(self) -> dict:
        return {"error": self.error, "error_description": self.description}


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# Shorthands for the errors handlers raise most often (codes from dracoon-api.md §0.1).
def missing_field(field: str) -> ApiError:
    return ApiError(400, -80000, f"Mandatory field '{field}' is missing or empty")


def forbidden(message: str, error_code: int | None = None) -> ApiError:
    return ApiError(403, error_code, message)


def node_not_found(node_id: object) -> ApiError:
    return ApiError(404, -41000, f"Node {node_id} not found")


def room_not_found(room_id: object) -> ApiError:
    return ApiError(404, -40000, f"Room {room_id} not found")


def file_not_found(file_id: object) -> ApiError:
    return ApiError(404, -40751, f"File {file_id} not found")


def user_not_found(user_id: object) -> ApiError:
    return ApiError(404, -70501, f"User {user_id} not found")


def upload_not_found() -> ApiError:
    return ApiError(404, -20501, "Upload channel not found (unknown, completed or cancelled)")


def upload_channel_closed() -> ApiError:
    """An S3 channel whose completion was accepted: the description's 400 -20503 for
    ``s3_urls`` and ``/s3`` (classic calls on a closed channel stay 404 -20501)."""
    return ApiError(400, -20503, "Upload channel is closed (its completion was accepted)")


def no_key_pair() -> ApiError:
    return ApiError(404, -70020, "User has no key pair")
