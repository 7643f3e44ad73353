"""Upload channels: create, classic chunks, completion, cancel and status polling.

Chunks are appended in arrival order and ``Content-Range`` is ignored: the official Python
SDK sends malformed ranges (``bytes 0-0/size`` on every chunk), and every SDK uploads
sequentially, so arrival order is the only reliable order.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from ..backend import Backend
from ..errors import ApiError, upload_not_found
from ..files import create_file, parse_completion
from ..messages import Request, Response, no_content
from ..model import FILE, Upload, User, iso, now_iso, parse_datetime
from ..multipart import boundary_of, iter_file_part
from ..names import check_name
from ..quota import check_room_quota
from ..routing import Router
from ..views import node_json
from .common import body_int, require, visible_node

V4 = "/api/v4"


def create_channel(backend: Backend, req: Request) -> Response:
    body = req.json()
    user: User = req.user
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
    settings = backend.settings
    if direct_s3 and not settings.s3_direct_upload:
        raise ApiError(412, -90030, "S3 direct upload is not available (useS3Storage is false)")
    if not direct_s3 and settings.s3_enforce_direct_upload:
        raise ApiError(400, -90033, "S3 direct upload is enforced; set directS3Upload=true")
    expire_at = _expiration(body.get("expiration"))
    state = backend.state
    with state.lock:
        parent = visible_node(state, parent_id, user)
        if parent.type == FILE:
            raise ApiError(400, -80000, f"Parent {parent_id} is a file; upload into a room/folder")
        require(state, parent, user, "create", "upload files")
        check_room_quota(state, parent, size or 0)  # the declared size, when given
        if state.is_encrypted(parent) and not user.key_pairs:
            raise ApiError(
                403, -70020, "User has no key pair; needed to upload into an encrypted room"
            )
        upload = Upload(
            id=secrets.token_urlsafe(12),
            token=secrets.token_urlsafe(24),
            user_id=user.id,
            parent_id=parent.id,
            name=name,
            direct_s3=direct_s3,
            created_at=now_iso(),
            notes=notes,
            expire_at=expire_at,
            classification=classification,
            timestamp_creation=_timestamp(body, "timestampCreation"),
            timestamp_modification=_timestamp(body, "timestampModification"),
            blob_id=None if direct_s3 else backend.store.create(),
        )
        state.uploads[upload.id] = upload
        state.upload_tokens[upload.token] = upload.id
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
    with backend.state.lock:
        upload = backend.state.upload_by_token(req.path_params["token"])
        if upload is None or not upload.open:
            raise upload_not_found()
        return upload


def _by_id(backend: Backend, req: Request, *, need_open: bool = True) -> Upload:
    with backend.state.lock:
        upload = backend.state.uploads.get(req.path_params["upload_id"])
        if upload is None or upload.user_id != req.user.id or upload.status == "cancelled":
            raise upload_not_found()
        if need_open and not upload.open:
            raise upload_not_found()
        return upload


def _append_chunk(backend: Backend, req: Request, upload: Upload) -> Response:
    if upload.direct_s3:
        raise ApiError(400, -80000, "This upload channel is for S3 direct upload; use s3_urls")
    content_type = req.header("content-type") or ""
    if content_type.lower().startswith("multipart/form-data"):
        boundary = boundary_of(content_type)
        if not boundary:
            raise ApiError(400, -80000, "multipart/form-data without a boundary")
        chunks = iter_file_part(req.iter_body(), boundary)
    else:
        chunks = req.iter_body()
    with backend.upload_lock(upload.id):
        if not upload.open or upload.blob_id is None:
            raise upload_not_found()
        digest = hashlib.md5(usedforsecurity=False)
        written = backend.store.append(upload.blob_id, _hashed(chunks, digest))
    return Response(201, {"size": written, "hash": digest.hexdigest()})


def _hashed(chunks: Iterator[bytes], digest: Any) -> Iterator[bytes]:
    """Pass the chunk through while hashing it: DRACOON answers each chunk with its MD5."""
    for data in chunks:
        digest.update(data)
        yield data


def chunk_by_token(backend: Backend, req: Request) -> Response:
    return _append_chunk(backend, req, _by_token(backend, req))


def chunk_by_id(backend: Backend, req: Request) -> Response:
    return _append_chunk(backend, req, _by_id(backend, req))


def _complete(backend: Backend, req: Request, upload: Upload) -> Response:
    if upload.direct_s3:
        raise ApiError(400, -80000, "This upload channel is for S3 direct upload; use /s3")
    body = req.json(required=False)
    state = backend.state
    with backend.upload_lock(upload.id), state.lock:
        if not upload.open or upload.blob_id is None:
            raise upload_not_found()
        parent = state.nodes.get(upload.parent_id)
        encrypted = parent is not None and state.is_encrypted(parent)
        completion = parse_completion(body, encrypted)
        blob = backend.store.finish(upload.blob_id)
        node = create_file(state, backend.store, upload, completion, blob)
        upload.status, upload.node_id = "done", node.id
        user = state.users[upload.user_id]
        return Response(201, node_json(state, node, user, detailed=True))


def complete_by_token(backend: Backend, req: Request) -> Response:
    return _complete(backend, req, _by_token(backend, req))


def complete_by_id(backend: Backend, req: Request) -> Response:
    return _complete(backend, req, _by_id(backend, req))


def _cancel(backend: Backend, upload: Upload) -> Response:
    with backend.upload_lock(upload.id), backend.state.lock:
        if not upload.open:
            raise upload_not_found()
        upload.status = "cancelled"
        for blob_id in [upload.blob_id, *(p["blob"] for p in upload.s3_parts.values())]:
            if blob_id:
                backend.store.delete(blob_id)
        upload.blob_id = None
        upload.s3_parts.clear()
    return no_content()


def cancel_by_token(backend: Backend, req: Request) -> Response:
    return _cancel(backend, _by_token(backend, req))


def cancel_by_id(backend: Backend, req: Request) -> Response:
    return _cancel(backend, _by_id(backend, req))


def upload_status(backend: Backend, req: Request) -> Response:
    upload = _by_id(backend, req, need_open=False)
    state = backend.state
    with state.lock:
        upload.status_polls += 1
        if upload.transfer_polls_left > 0 and upload.status != "cancelled":
            upload.transfer_polls_left -= 1
            return Response(body={"status": "transfer"})  # seed knob s3_transfer_polls
        body: dict = {"status": upload.status}
        if upload.status == "done" and upload.node_id in state.nodes:
            body["node"] = node_json(state, state.nodes[upload.node_id], req.user)
        if upload.status == "error":
            body["errorDetails"] = upload.error
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
