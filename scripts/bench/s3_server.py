"""A small, fast S3-compatible server for benchmarks: objects are files, ranges are sendfile.

Why not moto: moto loads the whole object for every ranged GET, so 20 MiB ranges of a 1 GiB
object come out at ~100 MiB/s - slower than our transfer, which would then only measure moto.
This server answers ranged GETs with ``sendfile`` from the page cache (no Python copies).

Enough of S3 for boto3 and the service: CreateBucket/HeadBucket (``PUT/HEAD /bucket``),
ListObjectsV2 (first 1000 keys, no paging), PutObject (plain, chunked and ``aws-chunked``
bodies), HeadObject, GetObject with ``Range`` and ``If-Match``, DeleteObject. Path-style URLs
only; signatures are not checked. Objects live in ``ROOT/<bucket>/<quoted key>``; a benchmark
may also write files there directly. The ETag is derived from size, mtime and inode (opaque,
like a web server's), so no object is ever hashed. ``GET /_bench/counts`` answers the number
of requests so far by S3 operation (the bench's request table).

Run: ``python -m scripts.bench.s3_server --root DIR [--addr 127.0.0.1:0]`` prints
``listening on http://HOST:PORT``. Not for production: no auth, no durability guarantees.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import json
import os
import re
import socket
import sys
import tempfile
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import escape

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_COPY = 1024 * 1024


def object_path(root: Path, bucket: str, key: str) -> Path:
    """Where ``key`` of ``bucket`` is stored (one flat file per key, no traversal possible)."""
    return root / bucket / quote(key, safe="")


def etag_of(stat: os.stat_result) -> str:
    return hashlib.md5(  # noqa: S324 - an identifier, not security
        f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}".encode()
    ).hexdigest()


def operation_name(method: str, key: str, query: dict) -> str:
    """The S3 operation of a request, as the bench's request table names it."""
    if not key:
        if method == "GET":
            return "ListObjectsV2"
        return {"PUT": "CreateBucket", "HEAD": "HeadBucket"}.get(method, f"{method} bucket")
    return {
        "GET": "GetObject",
        "HEAD": "HeadObject",
        "PUT": "PutObject",
        "DELETE": "DeleteObject",
    }.get(method, f"{method} object")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    root: Path
    counts: collections.Counter
    counts_lock: threading.Lock


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bench-s3/1"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.counts_lock:
            self.server.counts["(new TCP connections)"] += 1

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    # -- dispatch -------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch()

    do_PUT = do_HEAD = do_DELETE = do_POST = do_GET

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        parts = split.path.lstrip("/").split("/", 1)
        bucket = unquote(parts[0])
        key = unquote(parts[1]) if len(parts) > 1 else ""
        query = parse_qs(split.query, keep_blank_values=True)
        if bucket == "_bench" and key == "counts":  # not a valid bucket name: no clash
            with self.server.counts_lock:
                body = json.dumps(dict(self.server.counts)).encode()
            return self._reply(200, body, content_type="application/json")
        with self.server.counts_lock:
            self.server.counts[operation_name(self.command, key, query)] += 1
        try:
            if not bucket or "/" in bucket or bucket in (".", ".."):
                return self._error(400, "InvalidBucketName", "bad bucket")
            if not key:
                return self._bucket(bucket, query)
            if self.command in ("GET", "HEAD"):
                return self._get(bucket, key)
            if self.command == "PUT":
                return self._put(bucket, key)
            if self.command == "DELETE":
                object_path(self.server.root, bucket, key).unlink(missing_ok=True)
                return self._reply(204)
            return self._error(405, "MethodNotAllowed", self.command)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- buckets --------------------------------------------------------------------------

    def _bucket(self, bucket: str, query: dict) -> None:
        directory = self.server.root / bucket
        self._drain()
        if self.command == "PUT":
            directory.mkdir(parents=True, exist_ok=True)
            return self._reply(200, headers={"Location": f"/{bucket}"})
        if not directory.is_dir():
            return self._error(404, "NoSuchBucket", bucket)
        if self.command == "HEAD":
            return self._reply(200)
        if self.command == "DELETE":
            with contextlib.suppress(OSError):
                directory.rmdir()
            return self._reply(204)
        prefix = query.get("prefix", [""])[0]
        entries = []
        for path in sorted(directory.iterdir()):
            name = unquote(path.name)
            if path.is_file() and not path.name.startswith(".") and name.startswith(prefix):
                stat = path.stat()
                entries.append(
                    f"<Contents><Key>{escape(name)}</Key><Size>{stat.st_size}</Size>"
                    f'<ETag>"{etag_of(stat)}"</ETag>'
                    f"<LastModified>{_iso(stat.st_mtime)}</LastModified></Contents>"
                )
            if len(entries) == 1000:
                break
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix>"
            f"<KeyCount>{len(entries)}</KeyCount><MaxKeys>1000</MaxKeys>"
            f"<IsTruncated>false</IsTruncated>{''.join(entries)}</ListBucketResult>"
        ).encode()
        self._reply(200, body, content_type="application/xml")

    # -- objects --------------------------------------------------------------------------

    def _get(self, bucket: str, key: str) -> None:
        path = object_path(self.server.root, bucket, key)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            if self.command == "HEAD":
                return self._reply(404)
            return self._error(404, "NoSuchKey", key)
        with handle:
            stat = os.fstat(handle.fileno())
            etag = etag_of(stat)
            wanted = self.headers.get("If-Match")
            if wanted and wanted.strip() not in (f'"{etag}"', etag, "*"):
                return self._error(412, "PreconditionFailed", "If-Match")
            size, start, length, status = stat.st_size, 0, stat.st_size, 200
            headers = {
                "ETag": f'"{etag}"',
                "Last-Modified": formatdate(stat.st_mtime, usegmt=True),
                "Accept-Ranges": "bytes",
            }
            requested = self.headers.get("Range")
            if requested:
                match = _RANGE.match(requested.strip())
                if not match or (not match[1] and not match[2]):
                    return self._error(416, "InvalidRange", requested)
                if match[1]:
                    start = int(match[1])
                    end = min(int(match[2]), size - 1) if match[2] else size - 1
                else:  # suffix range: the last N bytes
                    start, end = max(0, size - int(match[2])), size - 1
                if start >= size or end < start:
                    return self._error(416, "InvalidRange", requested)
                length, status = end - start + 1, 206
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.flush()
            if self.command == "GET" and length:
                self.connection.sendfile(handle, start, length)

    def _put(self, bucket: str, key: str) -> None:
        directory = self.server.root / bucket
        if not directory.is_dir():
            self._drain()
            return self._error(404, "NoSuchBucket", bucket)
        fd, temp = tempfile.mkstemp(dir=directory, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                for data in self._body():
                    out.write(data)
            path = object_path(self.server.root, bucket, key)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        self._reply(200, headers={"ETag": f'"{etag_of(path.stat())}"'})

    # -- bodies ---------------------------------------------------------------------------

    def _body(self):
        """The request body decoded: Content-Length, chunked, and/or S3's aws-chunked."""
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        aws_chunked = "aws-chunked" in self.headers.get("Content-Encoding", "") or self.headers.get(
            "x-amz-content-sha256", ""
        ).startswith("STREAMING-")
        raw = self._chunked(self.rfile) if chunked else self._sized(self.rfile)
        if aws_chunked:
            yield from self._chunked(_Stream(raw))
        else:
            yield from raw

    def _sized(self, stream):
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining:
            data = stream.read(min(_COPY, remaining))
            if not data:
                raise ConnectionResetError("body ended early")
            remaining -= len(data)
            yield data

    @staticmethod
    def _chunked(stream):
        while True:
            line = stream.readline(4096)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while stream.readline(4096).strip():  # trailers
                    pass
                return
            while size:
                data = stream.read(min(_COPY, size))
                if not data:
                    raise ConnectionResetError("chunk ended early")
                size -= len(data)
                yield data
            stream.readline(16)

    def _drain(self) -> None:
        for _ in self._body():
            pass

    # -- answers --------------------------------------------------------------------------

    def _reply(
        self,
        status: int,
        body: bytes = b"",
        *,
        content_type: str | None = None,
        headers: dict | None = None,
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        if status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{escape(message)}</Message></Error>"
        ).encode()
        self._reply(status, body, content_type="application/xml")


class _Stream:
    """A file-like view (read/readline) over an iterator of byte strings."""

    def __init__(self, pieces) -> None:
        self._pieces = iter(pieces)
        self._buffer = bytearray()

    def _fill(self, wanted: int) -> None:
        while len(self._buffer) < wanted:
            piece = next(self._pieces, b"")
            if not piece:
                return
            self._buffer += piece

    def read(self, size: int) -> bytes:
        self._fill(size)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def readline(self, limit: int) -> bytes:
        while b"\n" not in self._buffer and len(self._buffer) < limit:
            before = len(self._buffer)
            self._fill(before + 1)
            if len(self._buffer) == before:
                break
        end = self._buffer.find(b"\n")
        end = min(limit, end + 1 if end >= 0 else len(self._buffer))
        data = bytes(self._buffer[:end])
        del self._buffer[:end]
        return data


def _iso(timestamp: float) -> str:
    import datetime

    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class LocalS3Server:
    """The server in a background thread of this process (tests); see ``main`` for a process."""

    def __init__(self, root: str | Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._httpd = _Server((host, port), _Handler)
        self._httpd.root = self.root
        self._httpd.counts, self._httpd.counts_lock = collections.Counter(), threading.Lock()
        self.url = f"http://{host}:{self._httpd.server_address[1]}"
        self._thread: threading.Thread | None = None

    def start(self) -> LocalS3Server:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> LocalS3Server:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="directory holding the buckets")
    parser.add_argument("--addr", default="127.0.0.1:0", help="host:port (port 0 = any free)")
    options = parser.parse_args(argv)
    host, _, port = options.addr.rpartition(":")
    httpd = _Server((host or "127.0.0.1", int(port)), _Handler)
    httpd.root = Path(options.root)
    httpd.counts, httpd.counts_lock = collections.Counter(), threading.Lock()
    httpd.root.mkdir(parents=True, exist_ok=True)
    print(f"listening on http://{host or '127.0.0.1'}:{httpd.server_address[1]}", flush=True)
    try:
        httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
