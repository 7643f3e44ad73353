"""Plain HTTP to the world's own loopback servers (the emulator's admin API, /metrics)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def http_json(method: str, url: str, body: Any = None, timeout: float = 60) -> Any:
    """Send ``body`` as JSON; the decoded answer (None if empty). HTTP errors raise."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (loopback)
        text = response.read()
    return json.loads(text) if text else None


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    """(status, body) of a GET; an HTTP error status is an answer, not an exception."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
