"""The FileTransferer process: receive a job from SQS, run it, settle its message.

How a message is settled after its job (see :mod:`recording_storage.aws.sqs` for why). The
worker does not judge a failure itself: ``jobs.errors.job_failed`` turns what the runner
raised into a ``JobFailed`` (reason, settlement, instance, circuit), from the one table
``jobs.errors.FAILURE_RULES``; this module carries it out and logs it (each log code stays
written at its call site, where docs/operations.md's table of codes finds it).

==========================  ===================================================================
outcome                     message
==========================  ===================================================================
success                     deleted
invalid message             left alone: reappears after the visibility timeout until the
                            queue's redrive policy moves it to the dead-letter queue
permanent JobError          left alone, like an invalid message (needs a human)
retryable JobError          visible again after ``retry_delay * 2**(receives-1)`` (capped)
cancelled (shutdown)        visible again at once, for another worker or replica
unexpected exception        like a retryable error
==========================  ===================================================================

Retryable failures (and refused DRACOON credentials) also feed the worker's circuit breakers
(:mod:`recording_storage.ops.circuit`): after ``circuit_failures`` in a row of one dependency
the worker stops taking that dependency's jobs (S3, configurator: stops receiving; one
instance's DRACOON or credentials: holds its messages) and probes it until it answers, so an
outage does not burn every message's receive count into the dead-letter queue.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from recording_storage.aws.session import make_sqs_client
from recording_storage.aws.sqs import SqsConsumer, SqsMessage
from recording_storage.config import Settings
from recording_storage.jobs.errors import JobFailed, MessageSettlement, job_failed
from recording_storage.jobs.message import JobMessage, parse_message
from recording_storage.logcodes import LogCode, log_event
from recording_storage.logs import job_outcome_reported
from recording_storage.ops import metrics as m
from recording_storage.ops.circuit import (
    INSTANCE_PREFIXES,
    SCOPE_CONFIGURATOR,
    SCOPE_S3,
    CircuitBreakers,
    DependencyProbes,
    MessageHold,
    credentials_scope,
    dracoon_scope,
    failure_scope,
)
from recording_storage.workers.base import (
    KIND_FILE_TRANSFERER,
    HeartbeatSink,
    StatusRecord,
    Worker,
    WorkerChannel,
)
from recording_storage.workers.options import SupervisionOptions
from recording_storage.workers.protocols import JobOutcome, JobRunner, RunnerFactory

log = logging.getLogger(__name__)

# boto3's clients are untyped (docs/architecture.md, "Type checking"): the SQS client is Any.
SqsClientFactory = Callable[[Settings], Any]
CircuitProbeFactory = Callable[[Settings, float], Callable[[str], None]]

OUTCOME_SUCCESS = "success"
PROGRESS_REPORT_SECONDS = 5.0


def default_sqs_client(settings: Settings) -> Any:
    """The worker's SQS client, its retries counted in the metrics."""
    client = make_sqs_client(settings)
    m.attach_boto3_metrics(client, "sqs")
    return client


def recycle_limit(options: SupervisionOptions) -> int:
    """Jobs after which this worker process recycles itself (0: never): ``max_jobs`` plus a
    random jitter, like gunicorn's ``max_requests``/``max_requests_jitter``."""
    if options.max_jobs <= 0:
        return 0
    return int(options.max_jobs) + random.randint(0, max(0, int(options.max_jobs_jitter)))  # noqa: S311


def retry_delay(options: SupervisionOptions, receive_count: int) -> int:
    """Seconds before a retryable job is tried again: doubles with every receive."""
    exponent = max(0, min(receive_count - 1, 16))
    return int(min(options.retry_delay_max_seconds, options.retry_delay_seconds * 2**exponent))


class FileTransferer(Worker):
    kind = KIND_FILE_TRANSFERER
    # Polling SQS is work too: every turn of the receive loop advances the counter, so a
    # worker stuck inside a receive is replaced like one stuck inside a job.
    progress_states = frozenset({"idle", "busy"})

    def __init__(
        self,
        channel: WorkerChannel,
        settings: Settings,
        options: SupervisionOptions,
        runner_factory: RunnerFactory,
        sqs_client_factory: SqsClientFactory = default_sqs_client,
        circuit_probe_factory: CircuitProbeFactory = DependencyProbes,
    ) -> None:
        super().__init__(channel, options.heartbeat_interval)
        self.settings = settings
        self.options = options
        self.runner_factory = runner_factory
        self.sqs_client_factory = sqs_client_factory
        self.circuit_probe_factory = circuit_probe_factory
        self._circuit_probe: Callable[[str], None] | None = None
        self.breakers = CircuitBreakers(
            options.circuit_failures,
            options.circuit_probe_interval,
            credentials_interval=options.credentials_interval,
            on_change=self._circuit_changed,
            log_fields={"worker": channel.name},
        )
        self.report_level = settings.workers.file_transferer.report_level
        self.metrics = m.service_metrics()

    def run(self) -> None:
        self.state = "starting"
        queue_url = self.settings.queue_url
        if queue_url is None:  # serve() checked it (require_queue_url) before any fork
            raise RuntimeError(f"{self.channel.name}: no queue URL (workers.FileTransferer.queue)")
        try:
            client = self.sqs_client_factory(self.settings)
        except Exception as error:  # bad region/endpoint: the master restarts us with backoff
            log_event(
                log,
                LogCode.AMAZON_CONFIG_ERROR,
                f"{self.channel.name}: cannot create the SQS client ({type(error).__name__}: "
                f"{error}); check aws.region and the SQS endpoint",
                worker=self.channel.name,
            )
            raise
        consumer = SqsConsumer(
            client,
            queue_url,
            wait_seconds=self.options.sqs_wait_seconds,
            visibility_seconds=self.options.sqs_visibility_seconds,
            count_error=lambda op, code: self.metrics.sqs_errors.labels(
                operation=op, code=code
            ).inc(),
            log_fields={"worker": self.channel.name},
            receive_batch=self.settings.sqs.receive_batch,
        )
        runner = self.runner_factory(self.settings)
        recycle_after = recycle_limit(self.options)
        log_event(
            log,
            LogCode.TRANSFERER_STATUS,
            f"{self.channel.name} ready, polling {queue_url}",
            worker=self.channel.name,
            pid=os.getpid(),
            queue_url=queue_url,
        )
        hold = MessageHold(
            consumer, self.options.circuit_hold_seconds, self.options.circuit_max_held
        )
        try:
            self._receive_loop(consumer, runner, hold, recycle_after)
        finally:
            hold.close()
            consumer.close()  # batching: pending deletes out, waiting messages back

    def _recycle(self, jobs_done: int) -> None:
        """Tell the master this clean exit is a planned replacement (no backoff, no error)."""
        log_event(
            log,
            LogCode.TRANSFERER_STATUS,
            f"{self.channel.name} recycles itself after {jobs_done} jobs (max_jobs)",
            worker=self.channel.name,
            pid=os.getpid(),
            jobs=jobs_done,
        )
        self.send({"type": "recycling", "jobs": jobs_done})

    def _receive_loop(
        self, consumer: SqsConsumer, runner: JobRunner, hold: MessageHold, recycle_after: int
    ) -> None:
        jobs_done = 0
        while not self.stop_flag.is_set():
            self.state = "idle"
            self.advance()
            self._probe_open_circuits(hold)
            if self.breakers.global_open():
                # Every job needs S3 and the configurator: take none until they answer.
                pause = self.breakers.seconds_to_next_probe() or self.options.circuit_probe_interval
                with self.interruptible():
                    self.stop_flag.wait(min(pause, max(1.0, self.options.sqs_wait_seconds)))
                continue
            with self.interruptible():
                message = consumer.receive(self.stop_flag)
            self.advance()
            if message is None:
                continue
            if self.stop_flag.is_set():
                # Received while we were told to stop: give it back at once.
                consumer.change_visibility(message, 0)
                break
            scope = self._open_scope_of(message)
            if scope is not None:
                held = hold.hold(message, scope)
                log.debug(
                    "job %s held: circuit %s is open",
                    message.message_id,
                    scope,
                    extra={"job": message.message_id, "worker": self.channel.name,
                           "scope": scope, "tracked": held},
                )  # fmt: skip
                continue
            self.handle(consumer, runner, message)
            jobs_done += 1
            if recycle_after and jobs_done >= recycle_after:
                self._recycle(jobs_done)
                break

    # -- circuit breakers ------------------------------------------------------------------

    def heartbeat_record(self) -> StatusRecord:
        record = super().heartbeat_record()
        record["circuits"] = self.breakers.open_circuits()
        return record

    def _open_scope_of(self, message: SqsMessage) -> str | None:
        """The open circuit of an instance (its DRACOON, its credentials) this message's job
        would run into, if any."""
        if not any(s.startswith(INSTANCE_PREFIXES) for s in self.breakers.open_circuits()):
            return None
        instance = _instance_of(message.body)
        if not instance:
            return None
        for scope in (dracoon_scope(instance), credentials_scope(instance)):
            if self.breakers.is_open(scope):
                return scope
        return None

    def _probe_open_circuits(self, hold: MessageHold) -> None:
        for scope in self.breakers.due():
            if self._circuit_probe is None:
                self._circuit_probe = self.circuit_probe_factory(
                    self.settings, self.options.probe_timeout
                )
            self.advance()
            try:
                with self.interruptible():
                    self._circuit_probe(scope)
            except Exception as error:
                self.breakers.probed(scope, False, f"{type(error).__name__}: {error}")
                continue
            finally:
                self.advance()
            if self.breakers.probed(scope, True):
                released = hold.release(scope)
                if released:
                    log_event(
                        log,
                        LogCode.TRANSFERER_STATUS,
                        f"{self.channel.name}: {released} held job(s) of {scope} released",
                        worker=self.channel.name,
                        scope=scope,
                        released=released,
                    )

    def _circuit_changed(self, scope: str, is_open: bool) -> None:
        self.metrics.circuit_open.labels(scope=scope).set(1 if is_open else 0)

    def handle(self, consumer: SqsConsumer, runner: JobRunner, message: SqsMessage) -> str:
        """Run one job and settle its message; returns the outcome."""
        job_id = message.message_id
        self.state, self.job_id = "busy", job_id
        self.advance()
        self.beat()  # tell the master now
        fields: dict[str, Any] = {"job": job_id, "worker": self.channel.name}
        self.metrics.jobs_received.inc()
        if message.receive_count > 1:
            self.metrics.jobs_redelivered.inc()
        if self.report_level != "none":
            log_event(
                log,
                LogCode.TRANSFERER_STATUS,
                f"job {job_id} received (delivery {message.receive_count})",
                **fields,
                receive_count=message.receive_count,
            )
        progress = _ProgressReporter(
            job_id,
            fields,
            enabled=self.report_level == "chunk",
            interval=self.options.progress_interval,
            heartbeat=self,
        )
        started = time.monotonic()
        error: BaseException | None = None
        result: JobOutcome | None = None
        with self.metrics.transfers_in_flight.track_inprogress():
            extender = consumer.keep_invisible(message, job_id=job_id)
            with extender, job_outcome_reported():
                try:
                    result = runner.run(
                        message.body,
                        job_id=job_id,
                        cancel=self.channel.cancel,
                        progress=progress,
                        delivery=message.receive_count,
                    )
                except Exception as failure:
                    error = failure
        seconds = time.monotonic() - started
        try:
            if error is None:
                return self._succeeded(consumer, message, result, seconds, fields)
            failed = job_failed(error, cancelled=self.channel.cancel.is_set())
            if failed.instance:
                fields = {**fields, "instance": failed.instance}
            return self._failed(consumer, message, failed, seconds, fields)
        finally:
            self.state, self.job_id = "idle", None

    def _succeeded(
        self,
        consumer: SqsConsumer,
        message: SqsMessage,
        result: JobOutcome | None,
        seconds: float,
        fields: dict[str, Any],
    ) -> str:
        consumer.delete(message)
        # A runner that returns nothing (a test double) moved nothing the worker can report.
        transferred = result.bytes_transferred if result is not None else 0
        files = list(result.files) if result is not None else []
        self.metrics.jobs_succeeded.inc()
        job = _parsed(message.body)
        instance = job.instance_domain if job else None
        m.record_success(instance)
        worked = [SCOPE_S3, SCOPE_CONFIGURATOR]
        if instance:
            worked += [dracoon_scope(instance), credentials_scope(instance)]
        self.breakers.record_success(worked)
        self.metrics.bytes_transferred.inc(transferred)
        self.metrics.transfer_duration.observe(seconds)
        # What an operator searches a success by: where from, where to, how much, how long.
        keys = list(job.keys) if job else sorted({f.key for f in files} - {""})
        what: dict[str, Any] = {
            "instance": instance,
            "bucket": job.bucket if job else None,
            "key": keys[0] if len(keys) == 1 else None,
            "keys": keys,
            "rooms": sorted({f.target for f in files}),
            "bytes": transferred,
            "seconds": round(seconds, 3),
        }
        if self.report_level != "none":
            log_event(
                log,
                LogCode.TRANSFERER_STATUS,
                f"job {message.message_id} done: {len(files)} file(s) of "
                f"s3://{what['bucket']}/{', '.join(keys)} in {len(what['rooms'])} room(s) of "
                f"{instance}, {transferred} bytes in {seconds:.2f}s; message deleted",
                **fields,
                **what,
                files=len(files),
                s3_deleted=bool(result is not None and result.s3_deleted),
            )
        log_event(
            log,
            LogCode.WORKER_PROFILING,
            f"job {message.message_id}: {transferred} bytes in {seconds:.2f}s",
            **fields,
            **what,
            duration_seconds=round(seconds, 3),
            throughput_mib_s=round(transferred / seconds / 2**20, 2) if seconds > 0 else None,
            files=len(files),
        )
        return OUTCOME_SUCCESS

    def _failed(
        self,
        consumer: SqsConsumer,
        message: SqsMessage,
        failed: JobFailed,
        seconds: float,
        fields: dict[str, Any],
    ) -> str:
        """Settle a failed job's message as ``failed`` says (jobs.errors decided all of it)."""
        reason = failed.reason
        self.metrics.jobs_failed.labels(reason=reason).inc()
        if failed.opens_circuit:
            scope = failure_scope(failed.error, failed.instance)
            if scope is not None:
                self.breakers.record_failure(scope, failed.described)
        if failed.settlement is MessageSettlement.RELEASE:
            consumer.change_visibility(message, 0)
            log_event(
                log,
                LogCode.TRANSFERER_STATUS,
                f"job {message.message_id} cancelled by shutdown after {seconds:.1f}s; "
                "message released for another worker",
                **fields,
                reason=reason,
            )
        elif failed.settlement is MessageSettlement.RETRY_LATER:
            delay = retry_delay(self.options, message.receive_count)
            consumer.change_visibility(message, delay)
            log_event(
                log,
                LogCode.INSTANCE_JOB_RUNNER_ERROR  # a bug: its own code, so it stands out
                if reason == m.REASON_INTERNAL
                else LogCode.TRANSFERER_ERROR,
                f"job {message.message_id} failed ({failed.described}); retrying in {delay}s",
                **fields,
                reason=reason,
                retry_in_seconds=delay,
                receive_count=message.receive_count,
            )
        else:
            log_event(
                log,
                LogCode.TRANSFERER_ERROR,
                f"job {message.message_id} can not succeed ({failed.described}); message "
                "kept for the dead-letter queue (redrive policy)",
                **fields,
                reason=reason,
                receive_count=message.receive_count,
            )
        return reason


def _parsed(body: str) -> JobMessage | None:
    """The parsed message, or None (for metrics and logs: must never fail a job)."""
    try:
        return parse_message(body)
    except Exception:
        return None


def _instance_of(body: str) -> str | None:
    """The instance of a message, if it parses (circuit scopes)."""
    job = _parsed(body)
    return job.instance_domain if job is not None else None


class _ProgressReporter:
    """The runner's progress callback: chunk-level 15006 reports every few seconds, and a
    step of work for the master (``heartbeat.advance``) whenever the bytes done change - the
    job may call it periodically with an unchanged count, which proves nothing."""

    def __init__(
        self,
        job_id: str,
        fields: dict[str, object],
        *,
        enabled: bool,
        interval: float = PROGRESS_REPORT_SECONDS,
        heartbeat: HeartbeatSink | None = None,
    ) -> None:
        self.job_id = job_id
        self.fields = fields
        self.enabled = enabled
        self.interval = interval
        self.heartbeat = heartbeat
        self._last = 0.0
        self._last_done: int | None = None
        self._lock = threading.Lock()

    def __call__(self, done: int, total: int) -> None:
        if done != self._last_done:
            self._last_done = done
            if self.heartbeat is not None:
                self.heartbeat.advance()
        if not self.enabled:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.interval and done < total:
                return
            self._last = now
        log_event(
            log,
            LogCode.TRANSFERER_STATUS,
            f"job {self.job_id}: {done} of {total} bytes",
            **self.fields,
            bytes_done=done,
            bytes_total=total,
        )
