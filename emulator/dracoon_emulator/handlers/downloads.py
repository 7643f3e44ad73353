"""Downloads on the wire: a download URL (no auth needed to use it) streamed from disk with
Range. Who may read what, and the URL tokens, are the backend's (services/downloads.py)."""

from __future__ import annotations

import re

from ..backend import Backend
from ..errors import ApiError
from ..messages import FileSlice, Request, Response
from ..model import Node
from ..routing import Router

V4 = "/api/v4"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def create_download_url(backend: Backend, req: Request) -> Response:
    token = backend.downloads.new_url_token(req.user, req.path_params["file_id"])
    url = f"{req.base_url}{V4}/downloads/{token}"
    return Response(200, {"downloadUrl": url, "token": token})  # token: deprecated, required


def download_by_token(backend: Backend, req: Request) -> Response:
    return stream_file(backend, req, backend.downloads.file_of_token(req.path_params["token"]))


def download_direct(backend: Backend, req: Request) -> Response:
    node = backend.downloads.readable_file(req.user, req.path_params["file_id"])
    return stream_file(backend, req, node)


def stream_file(backend: Backend, req: Request, node: Node) -> Response:
    content = backend.downloads.content(node)
    path, size = content.path, content.size
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(content.name)}",
    }
    raw = req.header("range")
    if raw:
        match = _RANGE.match(raw.strip())
        if not match or (not match.group(1) and not match.group(2)):
            raise ApiError(416, None, f"Unsupported Range {raw[:60]!r}", headers=_unsatisfied(size))
        first, last = match.group(1), match.group(2)
        if first:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        else:  # suffix range: the last N bytes
            start = max(size - int(last), 0)
            end = size - 1
        if start >= size or end < start:
            raise ApiError(416, None, "Range not satisfiable", headers=_unsatisfied(size))
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return Response(
            206, FileSlice(path, start, end - start + 1), headers, "application/octet-stream"
        )
    return Response(200, FileSlice(path, 0, size), headers, "application/octet-stream")


def _unsatisfied(size: int) -> dict[str, str]:
    return {"Content-Range": f"bytes */{size}"}


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def register(router: Router) -> None:
    router.add("POST", f"{V4}/nodes/files/{{file_id:int}}/downloads", create_download_url)
    router.add("GET", f"{V4}/nodes/files/{{file_id:int}}/downloads", download_direct)
    router.add("GET", f"{V4}/downloads/{{token}}", download_by_token, auth=False, secret=("token",))
