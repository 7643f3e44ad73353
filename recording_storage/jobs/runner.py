"""``JobRunner``: one job message in, files in DRACOON out (or a classified failure).

One runner per worker process. It keeps what is expensive to build and safe to reuse across
jobs: the configurator (with its TTL cache), the boto3 S3 client and one DRACOON client per
instance account (token, unlocked key pair, resolved rooms). The app-level ``dracoon.login``
and ``dracoon.test.*`` accounts are never used here: every instance brings its own account,
so one customer's recordings can never land in another's account.

Every job runs against a deadline (``deadlines.JobBudget``): at first
``workers.FileTransferer.jobDeadlineBaseSeconds``, extended to base + bytes to move (size x
targets) / ``jobMinBytesPerSecond`` as soon as the transfer reports its total. The budget is
the job's cancel event, so at the deadline the transfer stops by the same path as on
shutdown; every DRACOON and configurator call of the job's thread gets at most the time
left. A job past its deadline fails as retryable and its S3 objects are kept.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from recording_storage import deadlines
from recording_storage.config import Settings
from recording_storage.configurator import (
    Configurator,
    ConfiguratorError,
    InstanceConfig,
    InstanceConfigError,
    make_configurator,
)
from recording_storage.jobs.clients import ClientFactory, DracoonClientPool
from recording_storage.jobs.errors import InvalidMessageError, JobError
from recording_storage.jobs.limits import (
    check_rule_count,
    check_target_count,
    max_target_rules,
    max_targets_per_job,
)
from recording_storage.jobs.message import JobMessage, parse_message
from recording_storage.jobs.targets import (
    ResolvedTarget,
    TargetRulesError,
    parse_target_rules,
    resolve_targets,
    select_targets,
)
from recording_storage.jobs.transfer import (
    SourceOpener,
    Transfer,
    TransferOptions,
    TransferredFile,
    TransferRequest,
    TransferServices,
)
from recording_storage.logcodes import LogCode, log_event

log = logging.getLogger(__name__)

__all__ = ["InvalidMessageError", "JobError", "JobResult", "JobRunner"]


@dataclass
class JobResult:
    files: list[TransferredFile] = field(default_factory=list)
    bytes_transferred: int = 0
    seconds: float = 0.0
    s3_deleted: bool = False


class JobRunner:
    """Runs jobs in this process; thread-safe enough for one job at a time per thread."""

    def __init__(
        self,
        settings: Settings,
        *,
        configurator: Configurator | None = None,
        s3_client: Any = None,
        client_factory: ClientFactory | None = None,
        events: Any = None,
        open_source: SourceOpener | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.settings = settings
        self._configurator = configurator
        self._s3 = s3_client
        self._pool = (
            DracoonClientPool(settings, events=events, factory=client_factory)
            if client_factory is not None
            else DracoonClientPool(settings, events=events)
        )
        self._open_source = open_source
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def configurator(self) -> Configurator:
        with self._lock:
            if self._configurator is None:
                self._configurator = make_configurator(self.settings)
            return self._configurator

    @property
    def s3(self) -> Any:
        with self._lock:
            if self._s3 is None:
                from recording_storage.aws.session import make_s3_client

                self._s3 = make_s3_client(self.settings)
            return self._s3

    def run(
        self,
        body: str | bytes,
        *,
        job_id: str,
        cancel: deadlines.CancelSignal | None = None,
        progress: Callable[[int, int], None] | None = None,
        delivery: int | None = None,
    ) -> JobResult:
        """Run one job. Raises InvalidMessageError (never retry) or JobError(retryable).

        ``delivery``: the SQS message's receive count (None: not from SQS, e.g. the CLI). On
        the first delivery the transfer skips the listing of earlier uploads (jobs.transfer).
        """
        started = time.monotonic()
        now = self._clock()
        message: JobMessage | None = None
        try:
            message = parse_message(body)
            self._check_bucket(message)
        except InvalidMessageError as exc:
            # A refused bucket comes after parsing: the domain is known, so name it here and
            # for the worker's failure log, as every later failure does.
            known = {"instance": message.instance_domain} if message is not None else {}
            exc.instance = known.get("instance")
            log_event(log, LogCode.TRANSFERER_ERROR, f"job {job_id}: {exc}", job=job_id,
                      field=exc.field, **known)  # fmt: skip
            raise
        domain = message.instance_domain
        options = self.settings.workers.file_transferer
        budget = deadlines.JobBudget(options.job_deadline_base_seconds, outer=cancel)
        try:
            with deadlines.job_budget(budget):
                try:
                    return self._run(
                        message, job_id, started, now, budget, self._budgeted(budget, progress),
                        first_delivery=delivery == 1,
                    )  # fmt: skip
                except Exception as exc:
                    if budget.expired and not budget.cancelled:
                        raise self._past_deadline(job_id, domain, budget, exc) from None
                    raise
        except (InvalidMessageError, JobError) as exc:
            exc.instance = domain  # the worker's failure log names the instance too
            raise

    def _budgeted(
        self, budget: deadlines.JobBudget, progress: Callable[[int, int], None] | None
    ) -> Callable[[int, int], None]:
        """The progress callback that also gives the job time for its size once it is known."""
        options = self.settings.workers.file_transferer
        allowed_for: dict[int, float] = {}

        def report(done: int, total: int) -> None:
            if total not in allowed_for:  # once per total, not per progress report
                allowed_for[total] = options.job_deadline_base_seconds + (
                    total / options.job_min_bytes_per_second
                )
                budget.extend_to(allowed_for[total])
            if progress is not None:
                progress(done, total)

        return report

    def _past_deadline(
        self, job_id: str, domain: str, budget: deadlines.JobBudget, error: BaseException
    ) -> JobError:
        text = (
            f"job {job_id}: instance {domain}: past its deadline of {budget.seconds:.1f}s "
            "(workers.FileTransferer.jobDeadlineBaseSeconds plus the bytes to move at "
            "workers.FileTransferer.jobMinBytesPerSecond); S3 objects kept, the job will be "
            f"retried. It stopped at: {type(error).__name__}: {error}"
        )
        log_event(log, LogCode.TRANSFERER_ERROR, text, job=job_id, instance=domain)
        return JobError(text, retryable=True)

    def _run(
        self,
        message: JobMessage,
        job_id: str,
        started: float,
        now: datetime,
        cancel: threading.Event | None,
        progress: Callable[[int, int], None] | None,
        *,
        first_delivery: bool = False,
    ) -> JobResult:
        domain = message.instance_domain
        instance = self._instance(domain, job_id)
        targets = self._targets(message, instance, job_id)
        level = self.settings.workers.file_transferer.report_level
        if not targets:
            log_event(
                log,
                LogCode.TRANSFERER_STATUS,
                f"job {job_id}: no target matches meeting type "
                f"{message.meeting.type_name or message.meeting.type_id!r} for instance "
                f"{domain}; nothing transferred, S3 objects kept",
                job=job_id,
                instance=domain,
            )
            return JobResult(seconds=time.monotonic() - started)
        parent_room_id = instance.parent_room_id
        assert parent_room_id is not None  # require_dracoon (in _instance) checked it
        with self._client(instance, job_id) as client:  # leased: eviction waits for us
            transfer = Transfer(
                TransferRequest(
                    job_id=job_id,
                    instance=domain,
                    parent_room_id=parent_room_id,
                    bucket=message.bucket,
                    keys=message.keys,
                    targets=tuple(targets),
                    now=now,
                    first_delivery=first_delivery,
                ),
                TransferServices(client=client, s3=self.s3, open_source=self._open_source),
                TransferOptions(
                    chunk_size=self.settings.s3.chunk_size,
                    remove_after=self.settings.s3.remove_after_transferring,
                    s3_deadline=self.settings.s3.range_deadline_seconds,
                    report_files=level in ("file", "chunk"),
                ),
                cancel=cancel,
                progress=progress,
            )
            outcome = transfer.run()
        return JobResult(
            files=outcome.files,
            bytes_transferred=outcome.bytes_transferred,
            seconds=time.monotonic() - started,
            s3_deleted=outcome.s3_deleted,
        )

    def close(self) -> None:
        self._pool.close()

    # -- steps ----------------------------------------------------------------------------

    def _check_bucket(self, message: JobMessage) -> None:
        allowed = self.settings.s3.allowed_buckets
        if allowed and message.bucket not in allowed:
            raise InvalidMessageError(
                'storage.extra["aws.s3"].bucket',
                f"{message.bucket!r} is not in s3.allowedBuckets",
            )

    def _instance(self, domain: str, job_id: str) -> InstanceConfig:
        try:
            instance = self.configurator.get_instance(domain)
            instance.require_dracoon()
            return instance
        except ConfiguratorError as exc:
            code = (
                LogCode.CONFIGURATION_ERROR
                if isinstance(exc, InstanceConfigError)
                else LogCode.REST_CLIENT_ERROR
            )
            log_event(log, code, f"job {job_id}: {exc}", job=job_id, instance=domain)
            raise JobError(str(exc), retryable=exc.retryable) from None

    def _targets(
        self, message: JobMessage, instance: InstanceConfig, job_id: str
    ) -> list[ResolvedTarget]:
        domain = instance.domain
        try:
            rules = [] if message.targets else parse_target_rules(instance.targets)
            check_rule_count(rules, max_target_rules(self.settings), domain)
        except TargetRulesError as exc:
            text = f"job {job_id}: instance {domain}: {exc}"
            log_event(log, LogCode.CONFIGURATION_ERROR, text, job=job_id, instance=domain)
            raise JobError(text, retryable=False) from None
        specs = select_targets(message, rules)
        try:
            targets = resolve_targets(message, specs)
            check_target_count(message, targets, max_targets_per_job(self.settings), domain)
            return targets
        except InvalidMessageError as exc:
            if exc.field.startswith("storage."):
                log_event(log, LogCode.TRANSFERER_ERROR, f"job {job_id}: {exc}", job=job_id,
                          instance=domain, field=exc.field)  # fmt: skip
                raise
            # A template from the instance's configuration failed for this message.
            text = f"job {job_id}: instance {domain}: {exc.field}: {exc.problem}"
            log_event(log, LogCode.CONFIGURATION_ERROR, text, job=job_id, instance=domain)
            raise JobError(text, retryable=False) from None

    @contextlib.contextmanager
    def _client(self, instance: InstanceConfig, job_id: str) -> Iterator[Any]:
        """The account's pooled client, leased for the job so eviction never closes it early."""
        with contextlib.ExitStack() as stack:
            try:
                client = stack.enter_context(self._pool.lease(instance))
            except ValueError as exc:  # e.g. an unusable base URL
                text = f"job {job_id}: instance {instance.domain}: DRACOON client: {exc}"
                log_event(log, LogCode.CONFIGURATION_ERROR, text, job=job_id,
                          instance=instance.domain)  # fmt: skip
                raise JobError(text, retryable=False) from None
            yield client
