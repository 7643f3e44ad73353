"""Remove credentials from text before it leaves the process (logs, errors, CLI output).

The service's own messages are built without secrets. But some text comes from elsewhere:
a URL someone configured with ``user:password@`` in it, an OAuth server's
``error_description`` that repeats what it was sent, a library message that names a
presigned URL or prints request headers. ``redact`` is the one place that knows what a
credential looks like. The log formatter (``logs.py``), the CLI's output and the exceptions
built from foreign text all go through it:

- the user-info part of a URL: ``https://user:pw@host`` -> ``https://********@host``;
- values of credential parameters in query strings and form bodies (presigned S3 URLs'
  ``X-Amz-Signature``/``X-Amz-Credential``/``X-Amz-Security-Token``, ``Signature``,
  ``access_token``, ``refresh_token``, ``password``, ``client_secret``...);
- ``Authorization``/``X-Sds-Auth-Token`` header values, and ``Bearer``/``Basic`` credentials;
- ``"password": "..."``-style fields in JSON or reprs (escaped quotes inside included), and
  unquoted ``password: ...`` for names that are never ordinary words;
- any exact value the caller knows is secret (``secrets``), such as the password it just sent.

What stays: hosts, paths, S3 keys, status codes, DRACOON's own messages - what an operator
needs to act on the error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

REDACTED = "********"

# Names of credential parameters and fields (not secrets themselves).
_SECRET_NAMES = "|".join((
    "x-amz-signature", "x-amz-credential", "x-amz-security-token", "signature",
    "awsaccesskeyid", "access_token", "refresh_token", "id_token", "token", "password",
    "passwd", "pwd", "client_secret", "secret", "api_key", "apikey", "sig",
))  # fmt: skip
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@'\"<>?#]+@")
_PARAMETER = re.compile(rf"(?i)((?:^|(?<=[?&;\s\"'(,]))(?:{_SECRET_NAMES})=)[^&#\s'\"<>]*")
_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization|x-sds-auth-token|x-amz-security-token)"
    r"([\"']?\s*:\s*[\"']?)(?:(bearer|basic|token|aws4-hmac-sha256)\s+)?[^\"'\r\n,}]+"
)
_SCHEME_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic)\s+[a-z0-9\-._~+/]{6,}=*")
_FIELD_NAME = rf"[\"']?\b(?:{_SECRET_NAMES}|encryption[_-]?password)[\"']?\s*[:=]\s*"
# Quoted values end at the closing quote, not at an escaped one inside (\" in JSON).
_FIELD = re.compile(rf"(?i)({_FIELD_NAME}\")(?:[^\"\\]|\\.)*|({_FIELD_NAME}')(?:[^'\\]|\\.)*")
# Unquoted ``password: hunter2`` (YAML, reprs, free text) for names that are never ordinary
# words; "token", "signature" and "sig" are left to the quoted and parameter forms.
_BARE_FIELD = re.compile(
    r"(?i)(\b(?:password|passwd|pwd|client_secret|secret|api_?key|access_token|"
    r"refresh_token|id_token|encryption[_-]?password)\s*:\s*)(?![\"'\s*])[^\s,;}&)]+"
)
_MIN_SECRET = 4  # shorter values would blank out ordinary words


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every credential it contains replaced by ``********``."""
    if not text:
        return text
    for secret in sorted({s for s in secrets if s and len(s) >= _MIN_SECRET}, key=len)[::-1]:
        text = text.replace(secret, REDACTED)
    text = _USERINFO.sub(rf"\1{REDACTED}@", text)
    text = _HEADER.sub(_header_value, text)
    text = _SCHEME_CREDENTIAL.sub(rf"\1 {REDACTED}", text)
    text = _FIELD.sub(lambda m: f"{m.group(1) or m.group(2)}{REDACTED}", text)
    text = _BARE_FIELD.sub(rf"\1{REDACTED}", text)
    return _PARAMETER.sub(rf"\1{REDACTED}", text)


def strip_userinfo(url: str) -> str:
    """``url`` without its ``user:password@`` part (urllib3 never sends it anyway)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def has_userinfo(url: str) -> bool:
    try:
        return "@" in urlsplit(url).netloc
    except ValueError:
        return False


def _header_value(match: re.Match[str]) -> str:
    scheme = f"{match.group(3)} " if match.group(3) else ""
    return f"{match.group(1)}{match.group(2)}{scheme}{REDACTED}"
