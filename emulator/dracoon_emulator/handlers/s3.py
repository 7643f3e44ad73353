"""S3 direct upload: presigned part URLs (served by the emulator itself, like an S3 bucket),
part PUTs with quoted ETags, and the asynchronous completion that clients poll.

The rules S3 enforces are enforced here too: each part must be exactly the size its URL
was signed for, and every part but the last must be at least 5 MiB.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time

from ..backend import Backend
from ..errors import ApiError, upload_channel_closed
from ..files import create_file, parse_completion
from ..messages import Request, Response
from ..model import Upload
from ..routing import Router
from .common import body_int, body_list
from .uploads import _by_id

V4 = "/api/v4"
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_NUMBER = 10_000
S3_PREFIX = "/emulator/s3"


def _s3_channel(backend: Backend, req: Request) -> Upload:
    """The caller's S3 channel: unknown or cancelled 404 -20501, a classic channel 404 -90034
    (it has no S3 upload), completion accepted 400 -20503 (closed)."""
    upload = _by_id(backend, req, need_open=False)
    if not upload.direct_s3:
        raise ApiError(404, -90034, "This upload channel has no S3 upload (not a direct upload)")
    if not upload.open:
        raise upload_channel_closed()
    return upload


def presigned_urls(backend: Backend, req: Request) -> Response:
    upload = _s3_channel(backend, req)
    body = req.json()
    size = body_int(body, "size")
    first = body_int(body, "firstPartNumber")
    last = body_int(body, "lastPartNumber")
    assert size is not None and first is not None and last is not None
    if size < 0:
        raise ApiError(400, -80046, "size must be >= 0")
    if not 1 <= first <= last <= MAX_PART_NUMBER:
        raise ApiError(
            400, -80000, f"Part numbers must satisfy 1 <= first <= last <= {MAX_PART_NUMBER}"
        )
    if last > first and size < MIN_PART_SIZE:
        raise ApiError(
            400,
            -80000,
            "Every part except the last must be at least 5 MiB; request the last part separately",
        )
    with backend.state.lock:
        for number in range(first, last + 1):
            upload.s3_sizes[number] = size
    urls = [
        {
            "url": f"{req.base_url}{S3_PREFIX}/{upload.token}/{number}"
            f"?X-Amz-Signature={secrets.token_hex(16)}",
            "partNumber": number,
        }
        for number in range(first, last + 1)
    ]
    return Response(201, {"urls": urls})


def _s3_error(status: int, code: str, message: str) -> Response:
    xml = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return Response(status, xml, content_type="application/xml")


def put_part(backend: Backend, req: Request) -> Response:
    """What S3 does for ``PUT <presigned url>``: store the part, answer with a quoted ETag."""
    number = req.path_params["part"]
    with backend.state.lock:
        upload = backend.state.upload_by_token(req.path_params["token"])
        if upload is None or not upload.open or not upload.direct_s3:
            return _s3_error(404, "NoSuchUpload", "The specified upload does not exist.")
        expected = upload.s3_sizes.get(number)
    if expected is None:
        return _s3_error(403, "SignatureDoesNotMatch", "No URL was signed for this part.")
    length = req.header("content-length")
    if length is None or not length.isdigit() or int(length) != expected:
        return _s3_error(
            403,
            "SignatureDoesNotMatch",
            f"Content-Length must be exactly {expected}, the size the URL was signed for.",
        )
    md5 = hashlib.md5(usedforsecurity=False)
    blob_id = backend.store.create()

    def hashed():
        for data in req.iter_body():
            md5.update(data)
            yield data

    backend.store.append(blob_id, hashed())
    etag = md5.hexdigest()
    with backend.upload_lock(upload.id), backend.state.lock:
        if not upload.open:
            backend.store.delete(blob_id)
            return _s3_error(404, "NoSuchUpload", "The specified upload does not exist.")
        old = upload.s3_parts.get(number)
        if old:
            backend.store.delete(old["blob"])
        upload.s3_parts[number] = {"blob": blob_id, "size": expected, "etag": etag}
    return Response(200, b"", headers={"ETag": f'"{etag}"'})


def complete_s3(backend: Backend, req: Request) -> Response:
    upload = _s3_channel(backend, req)
    body = req.json()
    parts = body_list(body, "parts")
    state = backend.state
    with backend.upload_lock(upload.id), state.lock:
        if not upload.open:
            raise upload_channel_closed()
        parent = state.nodes.get(upload.parent_id)
        encrypted = parent is not None and state.is_encrypted(parent)
        completion = parse_completion(body, encrypted)
        numbers = []
        for part in parts:
            if not isinstance(part, dict):
                raise ApiError(400, -80000, "parts must be objects {partNumber, partEtag}")
            number = body_int(part, "partNumber")
            etag = part.get("partEtag")
            stored = upload.s3_parts.get(number)
            if stored is None:
                raise ApiError(400, -80045, f"Part {number} was never uploaded")
            if not isinstance(etag, str) or etag.strip('"') != stored["etag"]:
                raise ApiError(400, -80045, f"partEtag of part {number} does not match")
            numbers.append(number)
        if numbers != sorted(set(numbers)):
            raise ApiError(400, -80000, "parts must be in ascending partNumber order, no repeats")
        upload.status = "finishing"
        upload.s3_sizes.clear()
        upload.transfer_polls_left = backend.settings.s3_transfer_polls
    if backend.settings.s3_finish_inline:
        _finish(backend, upload, numbers, completion, req.finish_error, delay=False)
        return Response(202, b"")
    threading.Thread(
        target=_finish,
        args=(backend, upload, numbers, completion, req.finish_error),
        name="s3-finish",
        daemon=True,
    ).start()
    return Response(202, b"")


def _finish(
    backend: Backend, upload: Upload, numbers: list[int], completion, injected=None, delay=True
) -> None:
    """Assemble the parts and create the node, as DRACOON does after ``PUT .../s3``.

    ``injected``: an ApiError from fault injection (``finish_error``) that this finish ends in.
    """
    if delay:
        time.sleep(backend.settings.s3_finishing_seconds)
    state = backend.state
    try:
        if injected is not None:
            raise injected
        too_small = [n for n in numbers[:-1] if upload.s3_parts[n]["size"] < MIN_PART_SIZE]
        if too_small:
            raise ApiError(400, -80000, f"Parts {too_small} are below the 5 MiB S3 minimum")
        blob_id = backend.store.create()
        backend.store.concat(blob_id, [upload.s3_parts[n]["blob"] for n in numbers])
        blob = backend.store.finish(blob_id)
        with backend.upload_lock(upload.id), state.lock:
            if upload.status != "finishing":
                backend.store.delete(blob_id)
                return
            upload.blob_id = blob_id
            try:
                node = create_file(state, backend.store, upload, completion, blob)
            except ApiError:
                upload.blob_id = None
                backend.store.delete(blob_id)
                raise
            upload.status, upload.node_id = "done", node.id
    except ApiError as exc:
        with state.lock:
            upload.status, upload.error = "error", exc.body()
    except Exception as exc:  # never leave a poller waiting forever
        with state.lock:
            upload.status = "error"
            upload.error = ApiError(500, None, f"Emulator failed to finish: {exc}").body()
    finally:
        for part in upload.s3_parts.values():
            backend.store.delete(part["blob"])
        backend.state_changed()


def register(router: Router) -> None:
    router.add("POST", f"{V4}/nodes/files/uploads/{{upload_id}}/s3_urls", presigned_urls)
    router.add("PUT", f"{V4}/nodes/files/uploads/{{upload_id}}/s3", complete_s3)
    router.add(
        "PUT", f"{S3_PREFIX}/{{token}}/{{part:int}}", put_part, auth=False, secret=("token",)
    )
