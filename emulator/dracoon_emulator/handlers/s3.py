"""S3 direct upload: presigned part URLs (served by the emulator itself, like an S3 bucket),
part PUTs with quoted ETags, and the asynchronous completion that clients poll.

The rules S3 enforces are enforced too (services/uploads.py): each part must be exactly the
size its URL was signed for, and every part but the last must be at least 5 MiB.
"""

from __future__ import annotations

import secrets
import threading

from ..backend import Backend
from ..errors import ApiError
from ..files import Completion
from ..messages import Request, Response
from ..model import Upload
from ..routing import Router
from .common import body_int, body_list

V4 = "/api/v4"
MAX_PART_NUMBER = 10_000
S3_PREFIX = "/emulator/s3"


def _s3_channel(backend: Backend, req: Request) -> Upload:
    return backend.uploads.s3_channel(req.path_params["upload_id"], req.user)


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
    backend.uploads.sign_parts(upload, size, first, last)
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
    upload, expected = backend.uploads.signed_part_size(req.path_params["token"], number)
    if upload is None:
        return _s3_error(404, "NoSuchUpload", "The specified upload does not exist.")
    if expected is None:
        return _s3_error(403, "SignatureDoesNotMatch", "No URL was signed for this part.")
    length = req.header("content-length")
    if length is None or not length.isdigit() or int(length) != expected:
        return _s3_error(
            403,
            "SignatureDoesNotMatch",
            f"Content-Length must be exactly {expected}, the size the URL was signed for.",
        )
    stored = backend.uploads.store_part(upload, number, expected, req.iter_body())
    if stored.error is not None:
        return _s3_error(*stored.error)
    return Response(200, b"", headers={"ETag": f'"{stored.etag}"'})


def complete_s3(backend: Backend, req: Request) -> Response:
    upload = _s3_channel(backend, req)
    body = req.json()
    parts = body_list(body, "parts")
    numbers, completion = backend.uploads.accept_s3_completion(upload, body, parts)
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
    backend: Backend,
    upload: Upload,
    numbers: list[int],
    completion: Completion,
    injected: ApiError | None = None,
    delay: bool = True,
) -> None:
    """Finish in the background as DRACOON does; the change reaches ``state.json`` after."""
    backend.uploads.finish_s3(upload, numbers, completion, injected, delay=delay)
    backend.state_changed()


def register(router: Router) -> None:
    router.add("POST", f"{V4}/nodes/files/uploads/{{upload_id}}/s3_urls", presigned_urls)
    router.add("PUT", f"{V4}/nodes/files/uploads/{{upload_id}}/s3", complete_s3)
    router.add(
        "PUT", f"{S3_PREFIX}/{{token}}/{{part:int}}", put_part, auth=False, secret=("token",)
    )
