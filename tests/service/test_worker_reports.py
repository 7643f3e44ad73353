"""The workers' own log records, run in this process with fakes: what each
``workers.FileTransferer.reportLevel`` logs, that a failed job's log names its instance, and
that a sharer pass that cannot list the instances is logged once (15016), not twice."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from types import SimpleNamespace

import pytest

from recording_storage.aws.sqs import SqsMessage
from recording_storage.configurator import ConfiguratorUnavailableError
from recording_storage.jobs.errors import InvalidMessageError
from recording_storage.jobs.runner import JobError, JobResult
from recording_storage.jobs.sharer import GlobalSharer
from recording_storage.workers.base import KIND_FILE_TRANSFERER, KIND_GLOBAL_SHARER, WorkerChannel
from recording_storage.workers.file_transferer import FileTransferer
from recording_storage.workers.global_sharer import GlobalSharerWorker
from recording_storage.workers.options import SupervisionOptions


class FakeConsumer:
    def __init__(self):
        self.deleted, self.visibility = [], []

    def keep_invisible(self, message, *, job_id=None):
        return contextlib.nullcontext()

    def delete(self, message):
        self.deleted.append(message.message_id)
        return True

    def change_visibility(self, message, seconds):
        self.visibility.append(seconds)
        return True


class FakeRunner:
    def __init__(self, error=None):
        self.error = error

    def run(self, body, *, job_id, cancel=None, progress=None, delivery=None):
        if self.error is not None:
            raise self.error
        progress(0, 10)
        progress(10, 10)
        return JobResult(files=[], bytes_transferred=10, seconds=0.1)


def transferer(report_level: str) -> FileTransferer:
    channel = WorkerChannel("file_transferer-1", KIND_FILE_TRANSFERER, queue.Queue(),
                            threading.Event(), threading.Event(), 0)  # fmt: skip
    settings = SimpleNamespace(
        workers=SimpleNamespace(file_transferer=SimpleNamespace(report_level=report_level)),
    )
    options = SupervisionOptions(progress_interval=0.0)
    return FileTransferer(channel, settings, options, runner_factory=lambda s: FakeRunner())


def codes(caplog) -> list[int]:
    return [r.code for r in caplog.records if hasattr(r, "code")]


@pytest.mark.parametrize(
    ("level", "status_reports"),
    [("none", 0), ("job", 2), ("chunk", 4)],  # chunk: received, 0/10, 10/10, done
)
def test_report_level_sets_how_much_transfer_status_is_logged(caplog, level, status_reports):
    worker = transferer(level)
    message = SqsMessage("m-1", "{}", 1, "receipt")
    with caplog.at_level(logging.INFO):
        assert worker.handle(FakeConsumer(), FakeRunner(), message) == "success"
    assert codes(caplog).count(15006) == status_reports
    assert codes(caplog).count(15008) == 1  # profiling whatever the level


def test_failed_job_log_names_the_instance(caplog):
    worker = transferer("job")
    error = JobError("job m-2: instance a.example.com: 1 target(s) failed", retryable=False)
    error.instance = "a.example.com"
    consumer = FakeConsumer()
    with caplog.at_level(logging.INFO):
        outcome = worker.handle(consumer, FakeRunner(error), SqsMessage("m-2", "{}", 1, "r"))
    assert outcome == "permanent" and consumer.deleted == []
    [failure] = [r for r in caplog.records if getattr(r, "code", None) == 15007]
    assert failure.job == "m-2" and failure.instance == "a.example.com"
    assert "dead-letter" in failure.getMessage()


class DownConfigurator:
    def list_dracoon_instances(self):
        raise ConfiguratorUnavailableError("configurator at http://cfg did not answer")


def test_sharer_pass_that_cannot_list_instances_is_logged_once(caplog):
    channel = WorkerChannel(KIND_GLOBAL_SHARER, KIND_GLOBAL_SHARER, queue.Queue(),
                            threading.Event(), threading.Event(), 0)  # fmt: skip
    settings = SimpleNamespace(
        workers=SimpleNamespace(global_sharer=SimpleNamespace(job_delay_minutes=1))
    )
    worker = GlobalSharerWorker(channel, settings, SupervisionOptions(), lambda s: None)
    sharer = GlobalSharer(settings, configurator=DownConfigurator())
    with caplog.at_level(logging.INFO):
        worker.run_once(sharer)  # the worker survives the failed pass
    failures = [r for r in caplog.records if getattr(r, "code", None) == 15016]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    assert "cannot list instances" in failures[0].getMessage()


@pytest.mark.parametrize(
    ("error", "cancelled", "outcome", "visibility", "code"),
    [
        (InvalidMessageError("storage.type", "missing"), False, "invalid_message", [], 15007),
        (JobError("parent room 42 not found", retryable=False), False, "permanent", [], 15007),
        (JobError("DRACOON answered 503"), False, "retryable", [30], 15007),
        (RuntimeError("a bug"), False, "internal", [30], 15013),
        (JobError("upload channel cancelled"), True, "cancelled", [0], 15006),
    ],
)
def test_a_failed_job_is_settled_and_logged_as_its_reason_says(
    caplog, error, cancelled, outcome, visibility, code
):
    worker = transferer("none")  # only the failure's own record is logged
    if cancelled:
        worker.channel.cancel.set()
    consumer = FakeConsumer()
    message = SqsMessage("m-3", "{}", 1, "r")
    with caplog.at_level(logging.INFO):
        assert worker.handle(consumer, FakeRunner(error), message) == outcome
    assert consumer.deleted == [] and consumer.visibility == visibility
    assert [r.code for r in caplog.records if hasattr(r, "code")] == [code]
