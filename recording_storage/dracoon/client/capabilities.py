"""Detect what the server supports (once per client; the answers do not change at runtime)."""

from __future__ import annotations

import logging
from typing import Any

from .auth import AuthorizedApi
from .errors import DracoonApiError
from .models import ServerCapabilities, answer_object

log = logging.getLogger(__name__)


VERSION = "/v4/public/software/version"
SYSTEM_INFO = "/v4/public/system/info"
GENERAL = "/v4/config/info/general"


def _object(answer: object, endpoint: str) -> dict[str, Any]:
    """An empty answer counts as no information; anything but an object is a broken one."""
    return {} if answer is None else answer_object(answer, "GET", endpoint)


def detect_capabilities(api: AuthorizedApi) -> ServerCapabilities:
    """Ask the public version/system-info endpoints and the general config.

    ``useS3Storage`` and ``s3EnforceDirectUpload`` come from ``/public/system/info`` (what the
    official Python and Rust SDKs use); ``/config/info/general`` is the fallback for
    ``useS3Storage`` (the Java SDK's source) and gives ``cryptoEnabled``.
    """
    transport = api.transport
    version = _object(transport.request_json("GET", VERSION), VERSION)
    try:
        system = _object(transport.request_json("GET", SYSTEM_INFO), SYSTEM_INFO)
    except DracoonApiError as exc:
        log.info("public system info unavailable (%s); using general config only", exc.status)
        system = {}
    general = _object(api.call("GET", GENERAL), GENERAL)
    use_s3 = system.get("useS3Storage", general.get("useS3Storage", False))
    return ServerCapabilities(
        api_version=str(version.get("restApiVersion", "unknown")),
        s3_direct_upload=bool(use_s3),
        s3_enforce_direct_upload=bool(system.get("s3EnforceDirectUpload", False)),
        crypto_enabled=bool(general.get("cryptoEnabled", False)),
    )
