"""Every configuration key the service knows: default, validation, secrecy, meaning.

One table drives parsing, environment overrides, ``config check`` output and the key list in
docs/configuration.md, so a key cannot be documented in one place and forgotten in another.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from recording_storage.numbers import plain_int
from recording_storage.redact import redact, strip_userinfo

MIB = 1024 * 1024


@dataclass(frozen=True)
class KeySpec:
    """One app.conf key. ``default`` is a raw string (as if written in app.conf) or None."""

    key: str
    default: str | None
    parse: Callable[[str], Any]
    help: str
    secret: bool = False

    @property
    def env_var(self) -> str:
        return env_var_for(self.key)


ENV_PREFIX = "RS_"


def env_var_for(key: str) -> str:
    """``s3.chunkSize`` -> ``RS_S3_CHUNKSIZE``: prefix, dots to underscores, upper case."""
    return ENV_PREFIX + key.replace(".", "_").replace("-", "_").upper()


# --- value parsers: each raises ValueError with a message that completes "must be ..." ---


def text(value: str) -> str:
    return value


def optional_text(value: str) -> str | None:
    return value or None


def integer(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    def parse(value: str) -> int:
        number = plain_int(value)  # ValueError: "must be a whole number ... 0-9 only"
        if minimum is not None and number < minimum:
            raise ValueError(f"must be at least {minimum}, got {number}")
        if maximum is not None and number > maximum:
            raise ValueError(f"must be at most {maximum}, got {number}")
        return number

    return parse


def optional_integer(minimum: int = 1) -> Callable[[str], int | None]:
    parse_int = integer(minimum)

    def parse(value: str) -> int | None:
        return parse_int(value) if value.strip() else None

    return parse


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"must be true or false, got {value!r}")


def choice(*allowed: str, aliases: dict[str, str] | None = None) -> Callable[[str], str]:
    def parse(value: str) -> str:
        lowered = value.strip().lower()
        lowered = (aliases or {}).get(lowered, lowered)
        if lowered not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, got {value!r}")
        return lowered

    return parse


_SIZE = re.compile(r"[ \t]*([0-9]{1,18})[ \t]*(b|k|kb|kib|m|mb|mib|g|gb|gib)?[ \t]*", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": MIB, "mb": MIB, "mib": MIB}
_UNITS.update({"g": 1024 * MIB, "gb": 1024 * MIB, "gib": 1024 * MIB})


def size(minimum: int, maximum: int) -> Callable[[str], int]:
    """Bytes, as a plain number (the original form) or with a binary unit: ``20MiB``, ``512k``."""

    def parse(value: str) -> int:
        match = _SIZE.fullmatch(value)
        if not match:
            raise ValueError(f"must be a size in bytes such as 20971520 or 20MiB, got {value!r}")
        number = int(match.group(1)) * _UNITS[(match.group(2) or "").lower()]
        if not minimum <= number <= maximum:
            raise ValueError(f"must be between {minimum} and {maximum} bytes, got {number}")
        return number

    return parse


def url(*schemes: str, optional: bool = False) -> Callable[[str], str | None]:
    def parse(value: str) -> str | None:
        value = value.strip()
        if not value:
            if optional:
                return None
            raise ValueError("must not be empty")
        parts = urlsplit(value)
        if parts.scheme not in schemes:
            raise ValueError(f"must be a URL starting with {' or '.join(s + ':' for s in schemes)}")
        if parts.scheme in ("http", "https") and not parts.hostname:
            raise ValueError(f"must name a host, got {redact(value)!r}")
        if parts.scheme == "file" and not (parts.path or parts.netloc):
            raise ValueError(f"must name a file, got {redact(value)!r}")
        # user:password@ is never sent (urllib3 ignores it): keep it out of every message.
        return strip_userinfo(value).rstrip("/") if parts.scheme != "file" else value

    return parse


def address(value: str) -> str:
    host, sep, port = value.strip().rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not 0 <= int(port) <= 65535:
        raise ValueError(f"must be host:port such as 127.0.0.1:8080, got {value!r}")
    return f"{host or '0.0.0.0'}:{int(port)}"


def word_list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


_BUCKET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]")


def bucket_names(value: str) -> tuple[str, ...]:
    """Comma-separated S3 bucket names; a typo must fail loudly, not silently match nothing."""
    names = word_list(value)
    bad = [name for name in names if not _BUCKET_NAME.fullmatch(name)]
    if bad:
        raise ValueError(
            f"must be comma-separated S3 bucket names, got {', '.join(map(repr, bad))}"
        )
    return names


_AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-\d+$")


def region(value: str) -> str:
    value = value.strip()
    if not _AWS_REGION.match(value):
        raise ValueError(f"must be an AWS region such as eu-central-1, got {value!r}")
    return value


def _dracoon_keys(prefix: str, what: str) -> list[KeySpec]:
    return [
        KeySpec(f"{prefix}.baseUrl", "https://dracoon.team/api/v4" if prefix == "dracoon" else "",
                url("https", "http", optional=True),
                f"Base URL of the DRACOON API ({what}), in the original form "
                "https://host/api/v4; OAuth is derived from it. Instances may override it "
                "with recordings.dracoon.base-url."),
        KeySpec(f"{prefix}.login", "", text,
                f"DRACOON user name ({what}). Tests only: never used for an instance."),
        KeySpec(f"{prefix}.password", "", text,
                f"DRACOON password ({what}). Tests only.", secret=True),
        KeySpec(f"{prefix}.encryptionPassword", "", text,
                f"Password of the account's private key ({what}). Tests only.", secret=True),
        KeySpec(f"{prefix}.parentRoomId", "", optional_integer(),
                f"Parent room id ({what}). Tests only."),
    ]  # fmt: skip


KEYS: tuple[KeySpec, ...] = (
    KeySpec("logger.level", "INFO", choice("debug", "info", "warning", "error", "critical"),
            "Lowest level that is logged."),
    KeySpec("logger.format", "json", choice("json", "text"),
            "json: one JSON object per line (production); text: for humans."),
    KeySpec("configurator.url", "file:instances.yaml", url("http", "https", "file"),
            "Where per-instance configuration comes from: the configurator's base URL "
            "(http/https) or file:///path/instances.yaml (relative file: paths are resolved "
            "against the directory of app.conf)."),
    KeySpec("configurator.cacheTtlSeconds", "300", integer(0, 86400),
            "How long an instance's configuration is reused before it is fetched again."),
    KeySpec("configurator.timeoutSeconds", "10", integer(1, 300),
            "Connect and read timeout of one configurator request."),
    KeySpec("configurator.retries", "3", integer(0, 10),
            "Retries of a configurator request on connection errors, timeouts and 5xx."),
    KeySpec("configurator.token", "", text,
            "Optional bearer token sent to the HTTP configurator.", secret=True),
    KeySpec("workers.FileTransferer.count", "1", integer(1, 64),
            "Number of FileTransferer worker processes (minimum 1)."),
    KeySpec("workers.FileTransferer.reportLevel", "job",
            choice("none", "job", "file", "chunk",
                   aliases={"0": "none", "1": "job", "2": "file", "3": "chunk"}),
            "Detail of transfer status reports (15006): none, job (start/end of each job), "
            "file (also each file and target), chunk (also progress per chunk); 0-3 also work."),
    KeySpec("workers.FileTransferer.queue", "recordings", text,
            "Key in topics.yml whose URL is the SQS queue of transfer jobs."),
    KeySpec("workers.FileTransferer.source.type", "s3", choice("s3"),
            "Source storage. Only s3."),
    KeySpec("workers.FileTransferer.destination.type", "dracoon", choice("dracoon"),
            "Destination storage. Only dracoon."),
    KeySpec("workers.DracoonGlobalSharer.count", "1", integer(0, 1),
            "1 runs the DracoonGlobalSharer process, 0 does not; more than 1 is an error."),
    KeySpec("workers.DracoonGlobalSharer.jobDelayMinutes", "60", integer(1, 7 * 24 * 60),
            "Minutes between two sharer runs (minimum 1)."),
    KeySpec("workers.shutdownGraceSeconds", "60", integer(0, 3600),
            "On SIGTERM, how long running transfers may finish before they are stopped."),
    KeySpec("workers.progressTimeoutSeconds", "600", integer(0, 86400),
            "A worker that is busy (or polling SQS) but whose work stands still this long is "
            "hung: its stack is logged and it is replaced; 0 turns the check off."),
    # Deadlines (issue 13 item 6): total time per call and per job, not only per read.
    KeySpec("workers.FileTransferer.jobDeadlineBaseSeconds", "1800", integer(1, 7 * 86400),
            "Every job may take this long, plus its bytes (size x targets) at "
            "jobMinBytesPerSecond; past it the job fails as retryable, S3 objects kept."),
    KeySpec("workers.FileTransferer.jobMinBytesPerSecond", "1MiB", size(1024, 1024 * MIB),
            "The slowest transfer rate a job is allowed (bytes per second, units allowed)."),
    KeySpec("dracoon.callDeadlineSeconds", "300", integer(1, 86400),
            "Total time one DRACOON call may take, retries included (plus 4 s per MiB sent)."),
    KeySpec("configurator.callDeadlineSeconds", "60", integer(1, 3600),
            "Total time one configurator call may take, retries included."),
    KeySpec("s3.chunkSize", "20MiB", size(64 * 1024, 1024 * MIB),
            "Bytes per ranged GET from S3 (also the upload chunk size); default 20 MiB."),
    KeySpec("s3.removeAfterTransferring", "true", boolean,
            "Delete the S3 objects of a job once every file reached every target."),
    KeySpec("s3.endpointUrl", "", url("http", "https", optional=True),
            "S3 endpoint override (else aws.endpointUrl, else AWS)."),
    KeySpec("s3.connectTimeoutSeconds", "10", integer(1, 300),
            "Seconds to wait for a TCP/TLS connection to S3 (botocore connect_timeout)."),
    KeySpec("s3.readTimeoutSeconds", "60", integer(1, 3600),
            "Seconds one socket read from S3 may wait for data (botocore read_timeout)."),
    KeySpec("s3.rangeDeadlineSeconds", "300", integer(1, 86400),
            "Total seconds one ranged GET may keep the job waiting for S3, however its body "
            "trickles; past it the connection is closed and the range retried (3 attempts), "
            "then the job fails as retryable and keeps the object."),
    KeySpec("s3.allowedBuckets", "", bucket_names,
            "Comma-separated source buckets jobs may read (others are refused as invalid "
            "messages); empty allows any bucket the AWS credentials can read."),
    KeySpec("sqs.endpointUrl", "", url("http", "https", optional=True),
            "SQS endpoint override (else aws.endpointUrl, else AWS)."),
    KeySpec("sqs.waitTimeSeconds", "20", integer(0, 20),
            "SQS long-poll wait per receive."),
    KeySpec("sqs.visibilityTimeoutSeconds", "300", integer(30, 43200),
            "Visibility timeout of a received job; extended while the transfer runs."),
    KeySpec("sqs.receiveBatch", "1", integer(1, 10),
            "Messages one receive takes (1-10); a worker runs them in turn, keeps them "
            "invisible and deletes finished ones together. >1 for many small recordings."),
    KeySpec("aws.region", "eu-central-1", region, "AWS region of S3 and SQS."),
    KeySpec("aws.endpointUrl", "", url("http", "https", optional=True),
            "One endpoint for S3 and SQS (e.g. a local moto server); empty = AWS."),
    *_dracoon_keys("dracoon", "our account"),
    KeySpec("dracoon.clientId", "dracoon_legacy_scripting", text,
            "OAuth client id used for the password grant."),
    KeySpec("dracoon.clientSecret", "", text, "OAuth client secret.", secret=True),
    KeySpec("dracoon.timeoutSeconds", "60", integer(1, 3600),
            "Connect/read timeout of one DRACOON request."),
    KeySpec("dracoon.uploadParallelParts", "2", integer(1, 8),
            "S3-direct uploads: parts sent in parallel per upload; each adds one part buffer."),
    KeySpec("dracoon.uploadReadAhead", "true", boolean,
            "Read the next chunk while the current one is encrypted and sent (false saves "
            "one chunk buffer per upload, at the cost of speed)."),
    KeySpec("dracoon.verifyHash", "true", boolean,
            "Compare the MD5 of the bytes each upload sent with the hash DRACOON reports for "
            "the new file; a mismatch deletes it and uploads again. false saves one MD5 pass "
            "per target (the check then is size and encryption only)."),
    KeySpec("dracoon.uploadMemory", "160MiB", size(1024 * 1024, 64 * 1024 * MIB),
            "Chunk buffers all uploads of one worker process may hold together (every target "
            "of a job uploads at once); more waits. At least one chunk is always granted."),
    KeySpec("dracoon.maxTargetsPerJob", "50", integer(1, 1000),
            "Most target rooms one job may have (message targets or matching instance rules, "
            "after removing duplicates); more fails the job permanently."),
    KeySpec("dracoon.maxTargetRulesPerInstance", "100", integer(1, 10000),
            "Most rules an instance's recordings.dracoon.targets may list; more fails its "
            "jobs permanently (15018)."),
    *_dracoon_keys("dracoon.test", "test account"),
    KeySpec("http.address", "127.0.0.1:8080", address,
            "host:port of the /healthcheck and /metrics listener."),
)  # fmt: skip

KEYS_BY_NAME: dict[str, KeySpec] = {spec.key: spec for spec in KEYS}
SECRET_KEYS = frozenset(spec.key for spec in KEYS if spec.secret)

# Environment variables read by the CLI itself, not keys.
RESERVED_ENV = {"RS_CONFIG", "RS_TOPICS"}
