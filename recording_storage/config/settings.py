"""Typed, validated settings built from app.conf, environment overrides and topics.yml.

``load_settings`` is the only way in: it reads every source, validates every key and raises
one ``ConfigError`` that lists every problem (one line per bad key), so an operator fixes a
broken configuration in one round instead of one restart per typo.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from recording_storage.config.appconf import AppConfSyntaxError, RawEntry, read_app_conf
from recording_storage.config.schema import ENV_PREFIX, KEYS, KEYS_BY_NAME, RESERVED_ENV
from recording_storage.config.topics import TopicsError, read_topics
from recording_storage.redact import has_userinfo

REDACTED = "********"


class ConfigError(Exception):
    """The configuration cannot be used. ``problems`` has one message per bad key or line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n  " + "\n  ".join(self.problems))


@dataclass(frozen=True)
class LoggerSettings:
    level: str
    format: str


@dataclass(frozen=True)
class ConfiguratorSettings:
    url: str
    cache_ttl_seconds: int
    timeout_seconds: int
    retries: int
    call_deadline_seconds: int  # total per call, retries included (http_guard)
    token: str = field(repr=False)
    file_path: Path | None  # set when url is a file: URL (resolved, absolute)


@dataclass(frozen=True)
class FileTransfererSettings:
    count: int
    queue: str
    report_level: str  # none | job | file | chunk
    job_deadline_base_seconds: int  # a job's deadline: base + bytes / min rate (runner)
    job_min_bytes_per_second: int


@dataclass(frozen=True)
class GlobalSharerSettings:
    count: int
    job_delay_minutes: int


@dataclass(frozen=True)
class WorkersSettings:
    file_transferer: FileTransfererSettings
    global_sharer: GlobalSharerSettings
    shutdown_grace_seconds: int
    progress_timeout_seconds: int  # busy without progress this long: hung (0: off)


@dataclass(frozen=True)
class S3Settings:
    chunk_size: int
    remove_after_transferring: bool
    allowed_buckets: tuple[str, ...]
    connect_timeout_seconds: int
    read_timeout_seconds: int
    range_deadline_seconds: int


@dataclass(frozen=True)
class SqsSettings:
    wait_time_seconds: int
    visibility_timeout_seconds: int
    receive_batch: int


@dataclass(frozen=True)
class AwsSettings:
    region: str
    endpoint_url: str | None
    s3_endpoint_url: str | None  # effective: s3.endpointUrl, else aws.endpointUrl
    sqs_endpoint_url: str | None  # effective: sqs.endpointUrl, else aws.endpointUrl


@dataclass(frozen=True)
class DracoonAccountSettings:
    """App-level DRACOON account keys. Tests only: never a fallback for an instance."""

    base_url: str | None
    login: str
    password: str = field(repr=False)
    encryption_password: str = field(repr=False)
    parent_room_id: int | None


@dataclass(frozen=True)
class DracoonSettings:
    base_url: str  # default base URL for instances without recordings.dracoon.base-url
    client_id: str
    client_secret: str = field(repr=False)
    timeout_seconds: int
    call_deadline_seconds: int  # total per call, retries included (transport)
    upload_parallel_parts: int  # S3-direct parts in flight per upload (UploadOptions)
    upload_read_ahead: bool  # read the next chunk while this one is sent (UploadOptions)
    account: DracoonAccountSettings  # dracoon.login/... (tests only)
    test: DracoonAccountSettings  # dracoon.test.* (tests only)
    upload_memory: int  # chunk buffers of all uploads of a process
    max_targets_per_job: int  # target rooms of one job, after dedup
    max_target_rules_per_instance: int  # rules in recordings.dracoon.targets
    verify_hash: bool  # MD5 of what was sent vs DRACOON's hash (UploadOptions)


@dataclass(frozen=True)
class HttpSettings:
    address: str

    @property
    def host(self) -> str:
        return self.address.rpartition(":")[0]

    @property
    def port(self) -> int:
        return int(self.address.rpartition(":")[2])


@dataclass(frozen=True)
class Settings:
    logger: LoggerSettings
    configurator: ConfiguratorSettings
    workers: WorkersSettings
    s3: S3Settings
    sqs: SqsSettings
    aws: AwsSettings
    dracoon: DracoonSettings
    http: HttpSettings
    topics: dict[str, str]
    conf_path: Path | None
    topics_path: Path | None
    values: dict[str, Any] = field(repr=False)  # effective typed value of every key
    origins: dict[str, str] = field(repr=False)  # where each value came from
    warnings: tuple[str, ...] = ()

    @property
    def queue_url(self) -> str | None:
        """URL of the FileTransferer queue (topics[workers.FileTransferer.queue]), if known."""
        return self.topics.get(self.workers.file_transferer.queue)

    def require_queue_url(self) -> str:
        """The queue URL, or a ConfigError saying which file and key to fix (for ``serve``)."""
        url = self.queue_url
        if url is None:
            queue = self.workers.file_transferer.queue
            where = self.topics_path or "topics.yml"
            raise ConfigError(
                [f"workers.FileTransferer.queue: key {queue!r} is not in {where}; add "
                 f"'{queue}: https://sqs.<region>.amazonaws.com/<account>/<queue>' there"]
            )  # fmt: skip
        return url

    def redacted(self) -> dict[str, str]:
        """Every key with its effective value as text, secrets replaced (for ``config check``)."""
        out: dict[str, str] = {}
        for spec in KEYS:
            value = self.values[spec.key]
            if spec.secret:
                out[spec.key] = REDACTED if value else ""
            else:
                out[spec.key] = "" if value is None else spec.kind.show(value)
        return out


def default_topics_path(conf_path: Path) -> Path:
    """topics.yml next to app.conf: ``conf/app.conf`` -> ``conf/pubsub/sqs/topics.yml``."""
    return conf_path.parent / "pubsub" / "sqs" / "topics.yml"


def load_settings(
    conf_path: str | Path | None = "conf/app.conf",
    topics_path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Build Settings from app.conf (optional), ``RS_*`` environment overrides and topics.yml.

    ``conf_path=None`` uses defaults and the environment only. ``topics_path=None`` looks for
    ``pubsub/sqs/topics.yml`` beside app.conf; a missing default topics file is allowed (the
    CLI's one-shot commands do not need SQS; ``serve`` calls ``require_queue_url``).
    Raises ConfigError listing every bad key.
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    warnings: list[str] = []
    raw: dict[str, RawEntry] = {}

    conf = Path(conf_path) if conf_path is not None else None
    if conf is not None:
        try:
            raw.update(read_app_conf(conf))
        except FileNotFoundError:
            problems.append(f"{conf}: configuration file not found")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{conf}: cannot read ({exc.__class__.__name__}: {exc})")
        except AppConfSyntaxError as exc:
            problems.extend(str(exc).splitlines())
    for key, entry in raw.items():
        if key not in KEYS_BY_NAME:
            warnings.append(f"{entry.origin}: unknown key {key!r} is ignored")

    known_env = {spec.env_var: spec.key for spec in KEYS}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in RESERVED_ENV:
            continue
        known = known_env.get(name)
        if known is None:
            warnings.append(f"environment variable {name} matches no key and is ignored")
            continue
        raw[known] = RawEntry(value, f"environment {name}")

    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for spec in KEYS:
        entry = raw.get(spec.key) or RawEntry(spec.default or "", "default")
        try:
            values[spec.key] = spec.parse(entry.value)
        except ValueError as exc:
            shown = REDACTED if spec.secret else repr(entry.value)
            message = str(exc).replace(repr(entry.value), shown) if spec.secret else str(exc)
            problems.append(f"{spec.key} ({entry.origin}): {message}")
            values[spec.key] = None
        origins[spec.key] = entry.origin
        if isinstance(values[spec.key], str) and has_userinfo(entry.value):
            warnings.append(
                f"{spec.key} ({entry.origin}): the user:password@ part of the URL is never "
                "sent and was dropped; remove it (credentials have keys of their own)"
            )

    base_dir = conf.parent if conf is not None else Path.cwd()
    configurator_file = _configurator_file(values.get("configurator.url"), base_dir, problems)

    topics: dict[str, str] = {}
    resolved_topics: Path | None = None
    if topics_path is not None or env.get("RS_TOPICS"):
        resolved_topics = Path(topics_path or env["RS_TOPICS"])
        required = True
    else:
        resolved_topics = default_topics_path(conf) if conf is not None else None
        required = False
    if resolved_topics is not None:
        try:
            topics = read_topics(resolved_topics)
        except FileNotFoundError:
            if required:
                problems.append(f"{resolved_topics}: topics file not found")
            else:
                warnings.append(f"{resolved_topics}: no topics file; SQS queues are unknown")
                resolved_topics = None
        except TopicsError as exc:
            problems.extend(str(exc).splitlines())
        except OSError as exc:
            problems.append(f"{resolved_topics}: cannot read ({exc})")
    queue = values.get("workers.FileTransferer.queue")
    if topics and queue and queue not in topics:
        problems.append(
            f"workers.FileTransferer.queue ({origins['workers.FileTransferer.queue']}): "
            f"{queue!r} is not a key of {resolved_topics} (keys: {', '.join(sorted(topics))})"
        )

    if problems:
        raise ConfigError(problems)
    return _build(values, origins, topics, conf, resolved_topics, configurator_file, warnings)


def _configurator_file(url: str | None, base_dir: Path, problems: list[str]) -> Path | None:
    if not url or not url.startswith("file:"):
        return None
    parts = urlsplit(url)
    if parts.netloc and parts.netloc != "localhost":
        problems.append(
            f"configurator.url: {url!r} names host {parts.netloc!r}; use file:///absolute/path "
            "or file:relative/path (relative to the directory of app.conf)"
        )
        return None
    path = Path(unquote(parts.path))
    return (path if path.is_absolute() else base_dir / path).resolve()


def _build(
    v: dict[str, Any],
    origins: dict[str, str],
    topics: dict[str, str],
    conf: Path | None,
    topics_path: Path | None,
    configurator_file: Path | None,
    warnings: list[str],
) -> Settings:
    def account(prefix: str) -> DracoonAccountSettings:
        return DracoonAccountSettings(
            base_url=v[f"{prefix}.baseUrl"],
            login=v[f"{prefix}.login"],
            password=v[f"{prefix}.password"],
            encryption_password=v[f"{prefix}.encryptionPassword"],
            parent_room_id=v[f"{prefix}.parentRoomId"],
        )

    endpoint = v["aws.endpointUrl"]
    return Settings(
        logger=LoggerSettings(level=v["logger.level"].upper(), format=v["logger.format"]),
        configurator=ConfiguratorSettings(
            url=v["configurator.url"],
            cache_ttl_seconds=v["configurator.cacheTtlSeconds"],
            timeout_seconds=v["configurator.timeoutSeconds"],
            retries=v["configurator.retries"],
            call_deadline_seconds=v["configurator.callDeadlineSeconds"],
            token=v["configurator.token"],
            file_path=configurator_file,
        ),
        workers=WorkersSettings(
            file_transferer=FileTransfererSettings(
                count=v["workers.FileTransferer.count"],
                queue=v["workers.FileTransferer.queue"],
                report_level=v["workers.FileTransferer.reportLevel"],
                job_deadline_base_seconds=v["workers.FileTransferer.jobDeadlineBaseSeconds"],
                job_min_bytes_per_second=v["workers.FileTransferer.jobMinBytesPerSecond"],
            ),
            global_sharer=GlobalSharerSettings(
                count=v["workers.DracoonGlobalSharer.count"],
                job_delay_minutes=v["workers.DracoonGlobalSharer.jobDelayMinutes"],
            ),
            shutdown_grace_seconds=v["workers.shutdownGraceSeconds"],
            progress_timeout_seconds=v["workers.progressTimeoutSeconds"],
        ),
        s3=S3Settings(
            chunk_size=v["s3.chunkSize"],
            remove_after_transferring=v["s3.removeAfterTransferring"],
            allowed_buckets=v["s3.allowedBuckets"],
            connect_timeout_seconds=v["s3.connectTimeoutSeconds"],
            read_timeout_seconds=v["s3.readTimeoutSeconds"],
            range_deadline_seconds=v["s3.rangeDeadlineSeconds"],
        ),
        sqs=SqsSettings(
            wait_time_seconds=v["sqs.waitTimeSeconds"],
            visibility_timeout_seconds=v["sqs.visibilityTimeoutSeconds"],
            receive_batch=v["sqs.receiveBatch"],
        ),
        aws=AwsSettings(
            region=v["aws.region"],
            endpoint_url=endpoint,
            s3_endpoint_url=v["s3.endpointUrl"] or endpoint,
            sqs_endpoint_url=v["sqs.endpointUrl"] or endpoint,
        ),
        dracoon=DracoonSettings(
            base_url=v["dracoon.baseUrl"],
            client_id=v["dracoon.clientId"],
            client_secret=v["dracoon.clientSecret"],
            timeout_seconds=v["dracoon.timeoutSeconds"],
            call_deadline_seconds=v["dracoon.callDeadlineSeconds"],
            upload_parallel_parts=v["dracoon.uploadParallelParts"],
            upload_read_ahead=v["dracoon.uploadReadAhead"],
            verify_hash=v["dracoon.verifyHash"],
            upload_memory=v["dracoon.uploadMemory"],
            max_targets_per_job=v["dracoon.maxTargetsPerJob"],
            max_target_rules_per_instance=v["dracoon.maxTargetRulesPerInstance"],
            account=account("dracoon"),
            test=account("dracoon.test"),
        ),
        http=HttpSettings(address=v["http.address"]),
        topics=topics,
        conf_path=conf,
        topics_path=topics_path,
        values=v,
        origins=origins,
        warnings=tuple(warnings),
    )
