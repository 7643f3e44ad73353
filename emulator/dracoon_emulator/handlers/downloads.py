"""Downloads: a download URL (no auth needed to use it) streamed from disk with Range."""

from __future__ import annotations

import re
import secrets
import time

from ..backend import Backend
from ..errors import ApiError, file_not_found, forbidden
from ..messages import FileSlice, Request, Response
from ..model import FILE, DownloadToken, Node
from ..permissions import effective, is_visible
from ..routing import Router

V4 = "/api/v4"
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def create_download_url(backend: Backend, req: Request) -> Response:
    state = backend.state
    with state.lock:
        node = _readable_file(backend, req)
        token = DownloadToken(
            secrets.token_urlsafe(24),
            node.id,
            time.time() + backend.settings.download_url_lifetime_seconds,
        )
        state.download_tokens[token.value] = token
    url = f"{req.base_url}{V4}/downloads/{token.value}"
    return Response(200, {"downloadUrl": url, "token": token.value})  # token: deprecated, required


def _readable_file(backend: Backend, req: Request) -> Node:
    state = backend.state
    file_id = req.path_params["file_id"]
    node = state.nodes.get(file_id)
    if node is None or node.type != FILE or not is_visible(state, node, req.user.id):
        raise file_not_found(file_id)
    if "read" not in effective(state, node, req.user.id):
        raise forbidden(f"User has no read permission on file {file_id}")
    return node


def download_by_token(backend: Backend, req: Request) -> Response:
    with backend.state.lock:
        token = backend.state.download_tokens.get(req.path_params["token"])
        if token is None or token.expires_at <= time.time():
            raise ApiError(404, -40751, "Download URL is unknown or has expired")
        node = backend.state.nodes.get(token.node_id)
        if node is None:
            raise file_not_found(token.node_id)
    return stream_file(backend, req, node)


def download_direct(backend: Backend, req: Request) -> Response:
    with backend.state.lock:
        node = _readable_file(backend, req)
    return stream_file(backend, req, node)


def stream_file(backend: Backend, req: Request, node: Node) -> Response:
    path = backend.store.path(node.blob_id) if node.blob_id else None
    if path is None:
        raise ApiError(404, -40751, f"Content of file {node.id} is not stored (storage: discard)")
    size = node.size
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(node.name)}",
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
