"""Logging set-up shared by every entry point: one JSON object per line on stderr.

Each record carries ``time`` (ISO-8601 in UTC, milliseconds: ``2026-12-07T09:24:36.123Z``),
``code`` (see :mod:`recording_storage.logcodes`), ``level`` and whatever structured fields
the caller passed (job, instance, file, room...). JSON lines are what the log shippers in
front of the service parse; ``--log-format text`` exists for humans at a terminal.

One ERROR per failure: while a FileTransferer runs a job (:func:`job_outcome_reported`), the
job's own step records (15007/15009/15010/15011/15013/15018 from the jobs, DRACOON, S3 and
configurator code) are logged at WARNING: they are the details of a failure that the worker
reports once, at ERROR, when it settles the message (15007 with the reason and the retry).
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import time
from collections.abc import Iterator
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

from recording_storage.logcodes import LogCode
from recording_storage.redact import redact

_JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
_TEXT_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"


class _CurrentStderrHandler(logging.StreamHandler[TextIO]):
    """A stream handler that writes to whatever ``sys.stderr`` is when a record is emitted.

    Binding the stream once would keep writing to a replaced (and possibly closed) stream
    when something swaps ``sys.stderr`` later, e.g. a test harness capturing output or a
    program embedding the CLI.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


# An absolute URL, or an absolute path with or without a query string.
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]*|(?<![\w.:/])/[^\s'\"<>]+")


class _HideUrlsOfUrllib3(logging.Filter):
    """Replace URLs in urllib3's own records with ``<URL>``.

    urllib3 names the request URL in some warnings (a connection broken before a retry,
    unparsable response headers). The URLs this service requests carry credentials:
    presigned S3 part URLs a signature in their query, DRACOON upload URLs the upload token
    in their path. The DRACOON client logs its retries itself, with a safe endpoint label.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "urllib3" or record.name.startswith("urllib3."):
            record.msg = _URL.sub("<URL>", record.getMessage())
            record.args = ()
        return True


def _iso_utc(record: logging.LogRecord, datefmt: str | None = None) -> str:
    """The record's time as ISO-8601 UTC with milliseconds (``2026-12-07T09:24:36.123Z``):
    unambiguous across hosts and time zones, and sortable as text."""
    seconds = int(record.created)
    millis = int((record.created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class _IsoJsonFormatter(JsonFormatter):
    formatTime = staticmethod(_iso_utc)


class _IsoTextFormatter(logging.Formatter):
    formatTime = staticmethod(_iso_utc)


# Codes of a job's steps whose failure the worker reports itself (one ERROR per failure).
STEP_CODES = frozenset(
    int(code)
    for code in (
        LogCode.TRANSFERER_ERROR,
        LogCode.AMAZON_TO_DRACOON_ERROR,
        LogCode.REST_CLIENT_ERROR,
        LogCode.STORAGE_ERROR,
        LogCode.INSTANCE_JOB_RUNNER_ERROR,
        LogCode.CONFIGURATION_ERROR,
    )
)
_JOB_IN_PROGRESS = {"active": False}


@contextlib.contextmanager
def job_outcome_reported() -> Iterator[None]:
    """Within this block (one job of a FileTransferer; one job at a time per process, so a
    process-wide flag covers the job's threads too) step errors are logged at WARNING: the
    caller logs the job's failure once, at ERROR."""
    _JOB_IN_PROGRESS["active"] = True
    try:
        yield
    finally:
        _JOB_IN_PROGRESS["active"] = False


class _StepErrorsAsWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if (
            _JOB_IN_PROGRESS["active"]
            and record.levelno >= logging.ERROR
            and getattr(record, "code", None) in STEP_CODES
        ):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class _Redacting(logging.Formatter):
    """Wraps the real formatter and redacts the finished line (``recording_storage.redact``).

    The finished line includes the message, every structured field and a formatted
    traceback, so a credential that reached any of them through foreign text - an exception
    from a library, a server's error message - is removed wherever it came from.
    """

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self._inner.format(record))


def setup_logging(level: str | int = "INFO", fmt: str = "json") -> None:
    """Configure the root logger once per process (children call it again after fork).

    ``fmt`` is ``"json"`` (production) or ``"text"``.
    """
    handler = _CurrentStderrHandler()
    handler.addFilter(_HideUrlsOfUrllib3())
    handler.addFilter(_StepErrorsAsWarnings())
    if fmt == "json":
        formatter: logging.Formatter = _IsoJsonFormatter(
            _JSON_FIELDS,
            rename_fields={"levelname": "level", "asctime": "time"},
        )
    elif fmt == "text":
        formatter = _IsoTextFormatter(_TEXT_FORMAT)
    else:
        raise ValueError(f"unknown log format {fmt!r}: use 'json' or 'text'")
    handler.setFormatter(_Redacting(formatter))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if isinstance(level, int) else level.upper())
    # urllib3 and botocore log request details at DEBUG, which can include URLs with
    # presigned credentials; keep them at WARNING whatever the service level is.
    for noisy in ("urllib3", "botocore", "boto3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
