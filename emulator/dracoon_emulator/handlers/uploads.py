"""Upload channels on the wire: create, classic chunks, completion, cancel and status polling.
The rules (permissions, quota, name conflicts, file keys) are the backend's: services/uploads.py.

Chunks are appended in arrival order and ``Content-Range`` is ignored: the official Python
SDK sends malformed ranges (``bytes 0-0/size`` on every chunk), and every SDK uploads
sequentially, so arrival order is the only reliable order.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ..backend import Backend
from ..errors import ApiError
from ..messages import Request, Response, no_content
from ..model import Upload, iso, parse_datetime
from ..multipart import boundary_of, iter_file_part
from ..names import check_name
from ..routing import Router
from ..services.uploads import ChannelRequest
from .common import body_int

V4 = "/api/v4"


def create_channel(backend: Backend, req: Request) -> Response:
    body = req.json()
    parent_id = body_int(body, "parentId")
    name = check_name(body.get("name"))
    size = body_int(body, "size", required=False)
    if size is not None and size < 0:
        raise ApiError(400, -80001, "size must be >= 0")
    classification = body_int(body, "classification", required=False)
    if classification is not None and not 1 <= classification <= 4:
        raise ApiError(400, -80000, "classification must be 1, 2, 3 or 4")
    notes = body.get("notes")
    if notes is not None and (not isinstance(notes, str) or len(notes) > 255):
        raise ApiError(400, -80007, "notes must be a string of at most 255 characters")
    direct_s3 = body.get("directS3Upload", False)
    if not isinstance(direct_s3, bool):
        raise ApiError(400, -80000, "directS3Upload must be true or false")
    backend.uploads.check_mode(direct_s3)
    wanted = ChannelRequest(
        parent_id=parent_id,
        name=name,
        size=size,
        classification=classification,
        notes=notes,
        direct_s3=direct_s3,
        expire_at=_expiration(body.get("expiration")),
        timestamp_creation=_timestamp(body, "timestampCreation"),
        timestamp_modification=_timestamp(body, "timestampModification"),
    )
    upload = backend.uploads.open_channel(req.user, wanted)
    return Response(
        201,
        {
            "uploadId": upload.id,
            "token": upload.token,
            "uploadUrl": f"{req.base_url}{V4}/uploads/{upload.token}",
        },
    )


def _expiration(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ApiError(400, -80000, "expiration must be {enableExpiration, expireAt}")
    if not value.get("enableExpiration"):
        return None
    raw = value.get("expireAt")
    if not isinstance(raw, str):
        raise ApiError(400, -80000, "expiration.expireAt is required when enableExpiration")
    try:
        moment = parse_datetime(raw)
    except ValueError:
        raise ApiError(400, -80000, "expiration.expireAt is not an ISO-8601 date") from None
    if moment <= datetime.now(UTC):
        raise ApiError(400, -80006, "expiration.expireAt is in the past")
    return iso(moment)


def _timestamp(body: dict, field: str) -> str | None:
    raw = body.get(field)
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ApiError(400, -80000, f"{field} must be an ISO-8601 date")
    try:
        return iso(parse_datetime(raw))
    except ValueError:
        raise ApiError(400, -80000, f"{field} is not an ISO-8601 date") from None


def _by_token(backend: Backend, req: Request) -> Upload:
    return backend.uploads.by_token(req.path_params["token"])


def by_id(backend: Backend, req: Request, *, need_open: bool = True) -> Upload:
    """The caller's upload channel named by the path's ``upload_id``."""
    return backend.uploads.by_id(req.path_params["upload_id"], req.user, need_open=need_open)


def _append_chunk(backend: Backend, req: Request, upload: Upload) -> Response:
    if upload.direct_s3:  # before the body is read, which may be a multipart form
        raise ApiError(400, -80000, "This upload channel is for S3 direct upload; use s3_urls")
    content_type = req.header("content-type") or ""
    if content_type.lower().startswith("multipart/form-data"):
        boundary = boundary_of(content_type)
        if not boundary:
            raise ApiError(400, -80000, "multipart/form-data without a boundary")
        chunks = iter_file_part(req.iter_body(), boundary)
    else:
        chunks = req.iter_body()
    written, md5 = backend.uploads.append_chunk(upload, chunks)
    return Response(201, {"size": written, "hash": md5})


def chunk_by_token(backend: Backend, req: Request) -> Response:
    return _append_chunk(backend, req, _by_token(backend, req))


def chunk_by_id(backend: Backend, req: Request) -> Response:
    return _append_chunk(backend, req, by_id(backend, req))


def _complete(backend: Backend, req: Request, upload: Upload) -> Response:
    if upload.direct_s3:  # before the body is read
        raise ApiError(400, -80000, "This upload channel is for S3 direct upload; use /s3")
    node, uploader = backend.uploads.complete(upload, req.json(required=False))
    return Response(201, backend.node_json(node, uploader, detailed=True))


def complete_by_token(backend: Backend, req: Request) -> Response:
    return _complete(backend, req, _by_token(backend, req))


def complete_by_id(backend: Backend, req: Request) -> Response:
    return _complete(backend, req, by_id(backend, req))


def cancel_by_token(backend: Backend, req: Request) -> Response:
    backend.uploads.cancel(_by_token(backend, req))
    return no_content()


def cancel_by_id(backend: Backend, req: Request) -> Response:
    backend.uploads.cancel(by_id(backend, req))
    return no_content()


def upload_status(backend: Backend, req: Request) -> Response:
    status = backend.uploads.poll(by_id(backend, req, need_open=False))
    body: dict = {"status": status.status}
    if status.node is not None:
        body["node"] = backend.node_json(status.node, req.user)
    if status.status == "error":
        body["errorDetails"] = status.error
    return Response(body=body)


def register(router: Router) -> None:
    router.add("POST", f"{V4}/nodes/files/uploads", create_channel)
    router.add("GET", f"{V4}/nodes/files/uploads/{{upload_id}}", upload_status)
    router.add("POST", f"{V4}/nodes/files/uploads/{{upload_id}}", chunk_by_id)
    router.add("PUT", f"{V4}/nodes/files/uploads/{{upload_id}}", complete_by_id)
    router.add("DELETE", f"{V4}/nodes/files/uploads/{{upload_id}}", cancel_by_id)
    router.add("POST", f"{V4}/uploads/{{token}}", chunk_by_token, auth=False, secret=("token",))
    router.add("PUT", f"{V4}/uploads/{{token}}", complete_by_token, auth=False, secret=("token",))
    router.add("DELETE", f"{V4}/uploads/{{token}}", cancel_by_token, auth=False, secret=("token",))
