"""Every setting of the service, declared once: name, kind (type and bounds), default, help.

Two families share one declaration type:

* ``KEYS``: the app.conf keys (the original service's names), each overridable by an
  ``RS_*`` environment variable;
* ``KNOBS``: the supervision timings of the process model, set only by their
  ``RECORDING_STORAGE_*`` environment variable (operators know those names);
* ``ENTRYPOINT``: the ``RECORDING_STORAGE_CONFIG_*`` variables of entrypoint.sh (the shell
  script reads them; ``config check`` validates them, a test compares the defaults).

Everything else is derived from these tuples: parsing and validation (``settings.py``,
``workers/options.py``), ``recording-storage config check`` and ``config keys``, and the
tables in docs/configuration.md and docs/operations.md (``python -m
recording_storage.config.docgen``; a test fails when they differ).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from recording_storage.config.kinds import (
    MIB,
    Address,
    Boolean,
    BucketNames,
    Choice,
    Integer,
    Kind,
    Number,
    OptionalInteger,
    Region,
    RelativeFiles,
    S3Bucket,
    S3Prefix,
    Size,
    Text,
    Url,
)

T = TypeVar("T")

ENV_PREFIX = "RS_"
KNOB_ENV_PREFIX = "RECORDING_STORAGE_"
# Environment variables read by the CLI itself, not keys.
RESERVED_ENV = frozenset({"RS_CONFIG", "RS_TOPICS"})


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One setting. ``default`` is raw text, as it would be written in app.conf; ``help`` is
    Markdown (the docs' tables show it as it is, ``config keys`` without the link targets).
    A knob whose ``default_from`` names a key takes that key's value when app.conf is read."""

    key: str
    kind: Kind[T]
    default: str
    help: str
    env_var: str
    secret: bool = False
    note: str = ""  # a rule beyond the kind (the docs' type column)
    default_from: str = ""

    def parse(self, value: str) -> T:
        return self.kind.parse(value)

    @property
    def default_value(self) -> T:
        return self.kind.parse(self.default)

    def describe(self) -> str:
        text = self.kind.describe()
        if self.secret:
            text += ", **secret**"
        return f"{text}; {self.note}" if self.note else text


def env_var_for(key: str) -> str:
    """``s3.chunkSize`` -> ``RS_S3_CHUNKSIZE``: prefix, dots to underscores, upper case."""
    return ENV_PREFIX + key.replace(".", "_").replace("-", "_").upper()


def _key(
    key: str, kind: Kind[Any], default: str, help: str, *, secret: bool = False, note: str = ""
) -> Setting[Any]:
    return Setting(key, kind, default, help, env_var_for(key), secret=secret, note=note)


def _variable(name: str, kind: Kind[Any], default: str, help: str) -> Setting[Any]:
    return Setting(name, kind, default, help, KNOB_ENV_PREFIX + name.upper())


def _knob(
    name: str, kind: Number, default: str, help: str, *, default_from: str = ""
) -> Setting[float]:
    return Setting(name, kind, default, help, KNOB_ENV_PREFIX + name.upper(),
                   default_from=default_from)  # fmt: skip


def _account(prefix: str) -> tuple[Setting[Any], ...]:
    """The app-level DRACOON account keys (tests only), under ``dracoon`` or ``dracoon.test``."""
    if prefix == "dracoon":
        return (
            _key("dracoon.login", Text(), "",
                 "**Tests only** (as in the original README): our own account's user name."),
            _key("dracoon.password", Text(), "",
                 "**Tests only**: our own account's password.", secret=True),
            _key("dracoon.encryptionPassword", Text(), "",
                 "**Tests only**: password of our own account's private key.", secret=True),
            _key("dracoon.parentRoomId", OptionalInteger(), "",
                 "**Tests only**: our own parent room."),
        )  # fmt: skip
    return (
        _key(f"{prefix}.baseUrl", HTTP_URL, "",
             "The same as `dracoon.baseUrl`, for test runs."),
        *(
            _key(f"{prefix}.{name}", spec.kind, "",
                 f"The same as `dracoon.{name}`, for test runs.", secret=spec.secret)
            for spec in _account("dracoon")
            for name in [spec.key.removeprefix("dracoon.")]
        ),
    )  # fmt: skip


HTTP_URL = Url(("http", "https"), optional=True)

KEYS: tuple[Setting[Any], ...] = (
    _key("logger.level", Choice(("debug", "info", "warning", "error", "critical")), "INFO",
         "Lowest level that is logged."),
    _key("logger.format", Choice(("json", "text")), "json",
         "`json`: one JSON object per line (production). `text`: for humans."),
    _key("configurator.url", Url(("http", "https", "file")), "file:instances.yaml",
         "Where instance configuration comes from: the HTTP configurator's base URL, or "
         "`file:///abs/path/instances.yaml`, or `file:relative/path` (resolved against the "
         "directory of app.conf). `file://host/...` is refused."),
    _key("configurator.cacheTtlSeconds", Integer(0, 86400), "300",
         "How long an instance's configuration is reused before it is fetched again."),
    _key("configurator.timeoutSeconds", Integer(1, 300), "10",
         "Connect and read timeout of one configurator request."),
    _key("configurator.retries", Integer(0, 10), "3",
         "How often a configurator request is retried (with backoff) on connection errors, "
         "timeouts and 5xx."),
    _key("configurator.token", Text(), "",
         "Optional bearer token sent to the HTTP configurator.", secret=True),
    _key("configurator.callDeadlineSeconds", Integer(1, 3600), "60",
         "Total time one configurator call may take, retries included (the default covers "
         "`timeoutSeconds` \u00d7 (1 + `retries`) plus backoff). Past it the call fails as "
         '"configurator unavailable" (retryable).'),
    _key("workers.FileTransferer.count", Integer(1, 64), "1",
         "Number of FileTransferer worker processes (the README's minimum of 1)."),
    _key("workers.FileTransferer.reportLevel",
         Choice(("none", "job", "file", "chunk"),
                aliases={"0": "none", "1": "job", "2": "file", "3": "chunk"}), "job",
         "Detail of transfer status reports (15006/15012): `none`; `job` (each job's start "
         "and end); `file` (also each uploaded file and each S3 deletion); `chunk` (also "
         "progress every few seconds)."),
    _key("workers.FileTransferer.queue", Text(), "recordings",
         "Key in topics.yml whose URL is the SQS queue of transfer jobs.",
         note="must be a key of topics.yml when topics.yml exists"),
    _key("workers.FileTransferer.source.type", Choice(("s3",)), "s3",
         "Source storage (only S3)."),
    _key("workers.FileTransferer.destination.type", Choice(("dracoon",)), "dracoon",
         "Destination storage (only DRACOON)."),
    _key("workers.FileTransferer.jobDeadlineBaseSeconds", Integer(1, 7 * 86400), "1800",
         "Every job gets a deadline: this many seconds, plus the bytes it has to move (object "
         "size \u00d7 targets) at `jobMinBytesPerSecond`; the total is known once the transfer "
         "starts. Past it the job stops like on shutdown, fails as **retryable** (not "
         "dead-lettered) and keeps its S3 objects; every DRACOON and configurator call of the "
         "job gets at most the time left (a call made after the deadline, such as removing an "
         "upload channel, still gets 10 s). 30 minutes covers rooms, listings and key sharing "
         "for many targets."),
    _key("workers.FileTransferer.jobMinBytesPerSecond",
         Size(1024, 1024 * MIB, per=" (per second)"), "1MiB",
         "The slowest rate a job may move its bytes at. With the defaults a 1 GiB recording "
         "into one room may take 30 min + 17 min; into 3 rooms 30 min + 51 min."),
    _key("workers.DracoonGlobalSharer.count", Integer(0, 1), "1",
         "`1` runs the DracoonGlobalSharer process and `0` does not. More than 1 is a "
         "configuration error: a single sharer is enough, and two would only do the same "
         "work twice."),
    _key("workers.DracoonGlobalSharer.jobDelayMinutes", Integer(1, 7 * 24 * 60), "60",
         "Minutes between two sharer passes (minimum 1)."),
    _key("workers.shutdownGraceSeconds", Integer(0, 3600), "60",
         "On SIGTERM, how long running transfers may take to finish before they are stopped "
         "(see docs/operations.md)."),
    _key("workers.progressTimeoutSeconds", Integer(0, 86400), "600",
         "A worker that still sends heartbeats but whose work has not moved for this long "
         "while it is busy (a FileTransferer also while it polls SQS) counts as hung: the "
         "master logs its stack dump and replaces it (see "
         "[operations.md](operations.md#hung-workers)). Work is every DRACOON or S3 answer "
         "below 500, every change of a job's bytes done, every S3 piece read and every turn "
         "of a worker's loop, so keep it above the longest single request: one `s3.chunkSize` "
         "chunk at the slowest upload bandwidth you accept (20 MiB at 50 KiB/s is 410 s), and "
         "above 90 s (an SQS long poll of `sqs.waitTimeSeconds` plus the longest backoff "
         "after a failed receive, 60 s). `0` turns the check off (the heartbeat timeout "
         "still applies)."),
    _key("s3.chunkSize", Size(64 * 1024, 1024 * MIB), "20MiB",
         "Bytes per ranged GET from S3. Also the DRACOON upload chunk size; the client "
         "raises S3-direct parts to 5 MiB when needed. Memory per upload is at most 3 \u00d7 "
         "chunkSize (S3 ranges stream into the upload's reused buffers; 4 parts in S3-direct "
         "mode), all uploads of a worker together at most `dracoon.uploadMemory`, plus one "
         "shared chunk when a job has several targets (docs/performance.md)."),
    _key("s3.removeAfterTransferring", Boolean(), "true",
         "Delete a job's S3 objects once every key has reached every target."),
    _key("s3.endpointUrl", HTTP_URL, "", "S3 endpoint; overrides `aws.endpointUrl`."),
    _key("s3.connectTimeoutSeconds", Integer(1, 300), "10",
         "Seconds to wait for a connection to S3 (botocore `connect_timeout`)."),
    _key("s3.readTimeoutSeconds", Integer(1, 3600), "60",
         "Seconds one socket read from S3 may wait for data (botocore `read_timeout`). It "
         "bounds each socket wait, not a whole call: `s3.rangeDeadlineSeconds` bounds every "
         "ranged GET, HeadObject and DeleteObject in total."),
    _key("s3.rangeDeadlineSeconds", Integer(1, 86400), "300",
         "Total time one ranged GET may keep the job waiting for S3: the request plus every "
         "read of its body. The same total bounds each HeadObject and DeleteObject (an answer "
         "whose headers trickle in): past it the job fails as retryable and keeps the object; "
         "a delete that ran out may still be carried out, which the redelivery sees. Time the "
         "upload takes between reads does not count. A body that trickles (every read gets a "
         "byte just before the read timeout) is cut off when this deadline passes, and the "
         "range is requested again (3 attempts in all). After that the job fails as retryable "
         "(15011) and keeps the S3 object. The default allows a 20 MiB range at about "
         "70 KiB/s; raise it with `s3.chunkSize`."),
    _key("s3.allowedBuckets", BucketNames(), "",
         "Source buckets that jobs may read. A message that names another bucket is an "
         "invalid message (15007, `field` = the bucket field, `instance` = its "
         "`instance.domain`; never retried). Empty allows every bucket the AWS credentials "
         "can read (the original service had no such list), and `serve` then logs one "
         "WARNING at start saying so; set it in production (see docs/security.md)."),
    _key("sqs.endpointUrl", HTTP_URL, "", "SQS endpoint; overrides `aws.endpointUrl`."),
    _key("sqs.waitTimeSeconds", Integer(0, 20), "20", "SQS long-poll wait per receive."),
    _key("sqs.visibilityTimeoutSeconds", Integer(30, 43200), "300",
         "Visibility timeout of a received job; it is extended while the transfer runs."),
    _key("sqs.receiveBatch", Integer(1, 10), "1",
         "Messages one receive takes; the worker runs them in turn, keeps all of them "
         "invisible and deletes finished ones together (DeleteMessageBatch) -- each only "
         "after its job succeeded. Above 1 only for many small recordings: a held batch is "
         "work other workers cannot take (docs/performance.md)."),
    _key("aws.region", Region(), "eu-central-1", "Region of S3 and SQS."),
    _key("aws.endpointUrl", HTTP_URL, "",
         "One endpoint for both S3 and SQS (e.g. a local moto server). Empty means AWS. With "
         "a custom endpoint, S3 uses path-style addressing."),
    _key("dracoon.baseUrl", Url(("http", "https"), optional=True),
         "https://dracoon.team/api/v4",
         "Default DRACOON API base, in the original form `https://host/api/v4`; OAuth "
         "(`https://host/oauth/token`) is derived from it. Used for instances that have no "
         "`recordings.dracoon.base-url`. It is a URL, never an account."),
    _key("dracoon.clientId", Text(), "dracoon_legacy_scripting",
         "OAuth client id for the password grant."),
    _key("dracoon.clientSecret", Text(), "", "OAuth client secret.", secret=True),
    _key("dracoon.timeoutSeconds", Integer(1, 3600), "60",
         "Connect and read timeout of one DRACOON request."),
    _key("dracoon.callDeadlineSeconds", Integer(1, 86400), "300",
         "Total time one DRACOON call may take, all its retries included, plus 4 s per MiB it "
         "sends (a chunk, an S3 part). `dracoon.timeoutSeconds` bounds each read only; a "
         "server trickling one byte at a time is stopped by this deadline (the socket is shut "
         "down), as a retryable error naming the endpoint."),
    _key("dracoon.uploadParallelParts", Integer(1, 8), "2",
         "S3-direct uploads only: how many parts of one upload are sent at the same time. "
         "Each one more adds one part buffer (`max(s3.chunkSize, 5 MiB)`) per upload; more "
         "helps on links with high latency. Classic uploads always send their chunks in "
         "order, one at a time."),
    _key("dracoon.uploadReadAhead", Boolean(), "true",
         "Read the next chunk while the current one is encrypted and sent. `false` reads in "
         "turn and saves one chunk buffer per upload, at the cost of throughput."),
    _key("dracoon.verifyHash", Boolean(), "true",
         "Compare the MD5 of the bytes each upload sent (the ciphertext in encrypted rooms) "
         "with the `hash` DRACOON reports for the new file; a mismatch deletes the file and "
         'uploads again (client.md "Hash check"). `false` saves one MD5 pass over every byte '
         "per target; uploads are then checked by size and encryption only."),
    _key("dracoon.uploadMemory", Size(MIB, 64 * 1024 * MIB), "160MiB",
         "Memory for the chunk buffers of all uploads of one worker process together. A job "
         "uploads a recording into all its target rooms at once, and each upload would like "
         "3 chunks (4 parts in S3-direct mode); they share this budget instead, and an upload "
         "whose next chunk finds the budget spent waits (back-pressure that reaches the S3 "
         "reader). One chunk is always granted when nothing else is held, so a chunk larger "
         "than the budget still works. The default holds 8 chunks of 20 MiB: a single upload "
         "runs at full speed, and a worker's peak RSS stays about `uploadMemory + 3 \u00d7 "
         "s3.chunkSize + 120 MiB` whatever the number of targets "
         "([performance.md](performance.md#memory-vs-number-of-targets))."),
    _key("dracoon.maxTargetsPerJob", Integer(1, 1000), "50",
         "Most target rooms one job may have: the message's targets, or the rooms the "
         "instance's matching rules select, after duplicates are removed. Every target is "
         "uploaded at the same time (threads, connections, requests), so a job over the cap "
         "fails permanently before any upload, with an error naming the instance and this "
         "key: 15007 (invalid message) when the message listed the targets, 15018 when the "
         "instance's rules did. A message can list at most 50 targets whatever this says."),
    _key("dracoon.maxTargetRulesPerInstance", Integer(1, 10000), "100",
         "Most rules an instance's `recordings.dracoon.targets` may list; with more, each of "
         "its jobs fails permanently with 15018 naming the instance (one rule's `copyTo` can "
         "list several rooms)."),
    *_account("dracoon"),
    *_account("dracoon.test"),
    _key("http.address", Address(), "127.0.0.1:8080",
         "Listener for `/healthcheck` and `/metrics`."),
)  # fmt: skip

KEYS_BY_NAME: dict[str, Setting[Any]] = {spec.key: spec for spec in KEYS}
SECRET_KEYS = frozenset(spec.key for spec in KEYS if spec.secret)

_VISIBILITY = "SQS allows visibility timeouts up to 12 h"

KNOBS: tuple[Setting[float], ...] = (
    _knob("heartbeat_interval", Number(0.05, 60, "heartbeats must come often enough to be "
                                       "watched"), "5",
          "Seconds between two heartbeats of a worker process."),
    _knob("heartbeat_timeout", Number(1, 3600, "shorter kills healthy workers under load"), "60",
          "A worker without a heartbeat for this long is hung: the master kills and replaces "
          "it."),
    _knob("progress_timeout", Number(1, 86400, "a busy worker needs time between steps", off=0),
          "600",
          "A worker that beats but whose work counter stands still this long while it is busy "
          "(or, for a FileTransferer, polling SQS) is hung too and is replaced; 0 turns the "
          "check off.", default_from="workers.progressTimeoutSeconds"),
    _knob("stack_dump_wait", Number(0, 60, "the hung worker is killed this long after SIGUSR1"),
          "2",
          "Seconds between asking a hung worker for its stack dump (SIGUSR1) and SIGKILL."),
    _knob("graceful_timeout", Number(0, 3600, "shutdown must end within the platform's grace"),
          "60", "On SIGTERM/SIGINT, how long running transfers may take to finish before they "
          "are cancelled.", default_from="workers.shutdownGraceSeconds"),
    _knob("cancel_timeout", Number(0, 600, "cancelled transfers must release their messages"),
          "20", "After cancelling, how long a worker gets to release its message before "
          "SIGKILL."),
    _knob("restart_backoff_initial",
          Number(0.05, 3600, "0 restarts a crashing worker in a loop"), "1",
          "Delay before restarting a worker that died soon after it started; doubles each "
          "time."),
    _knob("restart_backoff_max", Number(0.05, 3600, "the longest restart delay"), "60",
          "Longest delay between two restarts of a crash-looping worker."),
    _knob("stable_after",
          Number(0, 86400, "how long a worker must live to count as healthy"), "60",
          "A worker that lived this long counts as healthy again: its next restart waits "
          "only the first delay (`RESTART_BACKOFF_INITIAL`), no longer a doubled one."),
    _knob("sqs_wait_seconds",
          Number(0, 20, "SQS refuses long polls longer than 20 s", whole=True), "20",
          "SQS long-poll duration.", default_from="sqs.waitTimeSeconds"),
    _knob("sqs_visibility_seconds",
          Number(2, 43200, "below 2 s a message reappears (and is run twice) before it is "
                 "extended; SQS allows at most 12 h", whole=True), "300",
          "Visibility of a received message; renewed every third of it while the job runs.",
          default_from="sqs.visibilityTimeoutSeconds"),
    _knob("retry_delay_seconds", Number(0, 43200, _VISIBILITY, whole=True), "30",
          "A retryable failure makes the message visible again after this, doubling per "
          "receive."),
    _knob("retry_delay_max_seconds", Number(0, 43200, _VISIBILITY, whole=True), "900",
          "Longest delay before a failed job is retried."),
    _knob("sharer_delay_seconds", Number(0, 7 * 86400, "0 uses jobDelayMinutes"), "0",
          "Overrides `workers.DracoonGlobalSharer.jobDelayMinutes` when above 0 (tests)."),
    _knob("probe_interval",
          Number(0.1, 3600, "probing faster only loads the dependencies"), "30",
          "Seconds between two rounds of health probes (SQS, S3, configurator, DRACOON)."),
    _knob("probe_timeout", Number(0.1, 300, "a probe must end before the next round"), "5",
          "Timeout of each health probe."),
    _knob("probe_max_age", Number(1, 86400, "older probe results count as failed"), "120",
          "A probe result older than this counts as failed (the prober is stuck or dead)."),
    _knob("tick",
          Number(0.01, 5, "0 makes the master spin on one core; above 5 s it reacts late"),
          "0.5", "Idle wake-up period of the master's supervision loop."),
    _knob("progress_interval", Number(0.1, 3600, "seconds between progress reports"), "5",
          "Seconds between two progress reports (15006 with `bytes_done`, `bytes_total`) when "
          "`reportLevel = chunk`."),
    _knob("max_jobs",
          Number(1, 1_000_000, "jobs before a worker is recycled", off=0, whole=True), "0",
          "Recycling, a safety net against slow leaks (like gunicorn's `max_requests`): a "
          "FileTransferer exits cleanly after `MAX_JOBS` + random(0..`MAX_JOBS_JITTER`) jobs "
          'and the master starts a fresh one at once (15006 "recycles itself" from the '
          'worker, 15019 "recycled" from the master, '
          '`recording_storage_worker_restarts_total{cause="recycled"}`); 0 = never.'),
    _knob("max_jobs_jitter",
          Number(0, 1_000_000, "extra jobs before recycling, at random", whole=True), "0",
          "A random 0..this many more jobs per worker process, so workers do not recycle "
          "together."),
    _knob("circuit_failures",
          Number(1, 1000, "failures in a row that open a circuit", off=0, whole=True), "5",
          "Failures of one dependency scope in a row (retryable ones, or refused credentials) "
          'that open its circuit ("Outages: circuit breakers"): the worker stops taking jobs '
          "of that scope and probes it instead; 0: off."),
    _knob("circuit_probe_interval",
          Number(0.1, 3600, "probing faster only loads the dependency"), "30",
          "Seconds between two probes of an open circuit's dependency."),
    _knob("circuit_hold_seconds", Number(2, 43200, _VISIBILITY, whole=True), "300",
          "Visibility of a message held by an open circuit (renewed while held)."),
    _knob("circuit_max_held",
          Number(0, 10000, "held receipt handles are kept in memory", whole=True), "100",
          "Messages one worker holds back at most; more are returned with the hold "
          "visibility."),
    _knob("credentials_interval", Number(1, 86400, "each check logs in to every instance"),
          "300", "Seconds between two checks of every instance's DRACOON login and key-pair "
          'password ("Instance credentials").'),
)  # fmt: skip

KNOBS_BY_NAME: dict[str, Setting[float]] = {knob.key: knob for knob in KNOBS}

ENTRYPOINT: tuple[Setting[Any], ...] = (
    _variable("config_bucket", S3Bucket(), "",
              "Bucket that holds the configuration. Unset: nothing is downloaded, and the files "
              "already in the config directory are used (a mounted volume or Kubernetes "
              "Secret, or local runs)."),
    _variable("config_prefix", S3Prefix(), "",
              "Key prefix in that bucket: `recording-storage/prod` means "
              "`s3://bucket/recording-storage/prod/app.conf`."),
    _variable("config_dir", Text(), "conf",
              "Where the files go (the image sets `/app/conf`). `--config` points at "
              "`$DIR/app.conf`, and topics.yml is then found at `$DIR/pubsub/sqs/topics.yml`."),
    _variable("config_files", RelativeFiles(), "app.conf pubsub/sqs/topics.yml instances.yaml?",
              "Files to fetch, relative to the prefix and separated by spaces. A trailing `?` "
              "marks a file as optional: it is skipped when the object does not exist."),
)  # fmt: skip
