"""Finds what a test leaves behind: logging handlers and running threads.

Used by the autouse fixture in tests/conftest.py. What counts as left behind: a handler on a
logger that the logger did not have before the test, and a thread that was not running
before the test and still runs ``GRACE_SECONDS`` after it (a thread that is just finishing
its last step gets that long). Session- and module-scoped fixtures are set up before the
test's snapshot and torn down after the check, so their servers and threads never count.

Where a leak cannot be fixed yet, mark the test with the narrowest allowance and say why:

    @pytest.mark.allow_leaks(threads=("s3-finish",), reason="...")

``threads`` are parts of thread names (``"s3-finish"``, ``"process_request_thread"``);
``handlers`` are logger names ("" is the root logger).

In ``WARN_ONLY_FOLDERS`` (heavily reworked right now) a leak is a ``LeakWarning`` (listed in
pytest's warnings summary) instead of a failure; ``RS_LEAKS=strict`` makes it fail there too,
``RS_LEAKS=off`` turns the check off.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import threading
import time
import traceback
import warnings
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import PROJECT_ROOT

GRACE_SECONDS = 2.0

# tests/reliability and tests/service are being reworked by several people at once (issue 16),
# tests/bench by the throughput work (its request-count tests leave their S3/SQS stand-in
# servers running); a leak there is reported, not yet fatal. Remove a folder once its leaks
# are fixed.
WARN_ONLY_FOLDERS = ("tests/reliability", "tests/service", "tests/bench")

# Threads that outlive any one test on purpose and are never ours to stop.
# The S3 deadline threads are per process and kept for the next call (aws/call_threads.py:
# idle "s3-call" threads end after 60 s; aws/s3.py: one "s3-read-deadline" thread); so is the
# DRACOON call deadline thread (http_guard.py: "http-call-deadlines", ends 60 s after its last
# call).
ALWAYS_ALLOWED_THREADS: tuple[str, ...] = ("s3-call", "s3-read-deadline", "http-call-deadlines")

# pytest's own capture handlers (caplog, the report, --log-cli) are attached per test phase
# by pytest itself and removed by it after the fixture's check.
PYTEST_HANDLER_MODULES = ("_pytest.logging",)


# Test HTTP clients registered with close_after_test (e.g. tests.emulator.conftest.Api): each
# kept-alive connection holds a handler thread of the server it talks to.
_TO_CLOSE: list[weakref.ref[Any]] = []


def close_after_test(resource: Any) -> None:
    """Have ``resource.close()`` called when the current test ends, before the leak check."""
    _TO_CLOSE.append(weakref.ref(resource))


def _close_registered() -> None:
    while _TO_CLOSE:
        resource = _TO_CLOSE.pop()()
        if resource is not None:
            resource.close()


class LeakWarning(UserWarning):
    """A test left a handler or a thread behind in a folder where that only warns."""


def _handlers_by_logger() -> dict[str, list[logging.Handler]]:
    loggers: dict[str, logging.Logger] = {"": logging.getLogger()}
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            loggers[name] = logger
    return {name: list(logger.handlers) for name, logger in loggers.items()}


def _own_handler(handler: logging.Handler) -> bool:
    # A NullHandler writes nothing and holds no file or thread: libraries (boto3, botocore,
    # s3transfer) add one to their logger when first imported, which may be inside any test.
    # Older boto3 (1.35, the minimum in constraints/minimum.txt) adds a NullHandler class of
    # its own (boto3.NullHandler), hence the name, not the type.
    if type(handler).__name__ == "NullHandler":
        return False
    return type(handler).__module__ not in PYTEST_HANDLER_MODULES


@dataclass
class LeakCheck:
    node: pytest.Item
    threads: set[threading.Thread]
    handlers: dict[str, list[logging.Handler]]
    allowed_threads: tuple[str, ...] = field(default=())
    allowed_loggers: tuple[str, ...] = field(default=())

    @classmethod
    def start(cls, node: pytest.Item) -> LeakCheck:
        allowed_threads = list(ALWAYS_ALLOWED_THREADS)
        allowed_loggers: list[str] = []
        for marker in node.iter_markers("allow_leaks"):
            if not marker.kwargs.get("reason"):
                raise pytest.UsageError(f"{node.nodeid}: allow_leaks needs a reason=")
            allowed_threads += marker.kwargs.get("threads", ())
            allowed_loggers += marker.kwargs.get("handlers", ())
        return cls(
            node,
            set(threading.enumerate()),
            _handlers_by_logger(),
            tuple(allowed_threads),
            tuple(allowed_loggers),
        )

    def finish(self) -> None:
        _close_registered()
        mode = os.environ.get("RS_LEAKS", "")
        if mode == "off":
            return
        problems = self._leaked_handlers() + self._leaked_threads()
        if not problems:
            return
        message = f"{self.node.nodeid} left behind: " + "; ".join(problems)
        if mode != "strict" and self._warn_only():
            warnings.warn(LeakWarning(message), stacklevel=1)
        else:
            pytest.fail(message + " (fix it, or see tests/support/leaks.py)", pytrace=False)

    def _warn_only(self) -> bool:
        path = Path(str(self.node.path)).resolve()
        try:
            relative = path.relative_to(PROJECT_ROOT).as_posix()
        except ValueError:
            return False
        return relative.startswith(tuple(f"{folder}/" for folder in WARN_ONLY_FOLDERS))

    def _leaked_handlers(self) -> list[str]:
        leaked = []
        for name, handlers in _handlers_by_logger().items():
            if name in self.allowed_loggers:
                continue
            before = self.handlers.get(name, [])
            for handler in handlers:
                if _own_handler(handler) and not any(handler is old for old in before):
                    logger = repr(name) if name else "the root logger"
                    leaked.append(f"handler {type(handler).__name__} on {logger}")
        return leaked

    def _leaked_threads(self) -> list[str]:
        new = [
            thread
            for thread in threading.enumerate()
            if thread not in self.threads
            and not any(part in thread.name for part in self.allowed_threads)
            # a foreign thread that threading merely saw cannot be joined
            and not isinstance(thread, threading._DummyThread)
        ]
        if new:
            # A connection that only a reference cycle still holds (an exception's traceback
            # keeping a response alive) keeps the emulator's handler thread for it waiting
            # until the garbage collector closes the socket. Collect first, so what counts is
            # a thread something still really holds (docs/architecture.md, "Test hygiene").
            gc.collect()
        deadline = time.monotonic() + GRACE_SECONDS
        leaked = []
        for thread in new:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                kind = "daemon thread" if thread.daemon else "thread"
                leaked.append(f"{kind} {thread.name!r} still running{_where(thread)}")
        return leaked


def _where(thread: threading.Thread) -> str:
    """Where the thread is now, innermost project frame first: enough to find its owner."""
    frame = sys._current_frames().get(thread.ident or -1)
    stack = traceback.extract_stack(frame) if frame is not None else []
    ours = [entry for entry in stack if str(PROJECT_ROOT) in entry.filename] or stack
    if not ours:
        return ""
    last = ours[-1]
    return f" (in {Path(last.filename).name}:{last.lineno} {last.name})"


@contextlib.contextmanager
def logging_restored() -> Iterator[None]:
    """Puts the root logger's handlers and level, and every logger's level, back afterwards.

    For tests that run an entry point in-process: ``setup_logging`` replaces the root
    logger's handlers (pytest's capture handlers included) and sets levels, as it should in
    a real process, and that must not outlive the test.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {
        name: logger.level
        for name, logger in list(logging.Logger.manager.loggerDict.items())
        if isinstance(logger, logging.Logger)
    }
    try:
        yield
    finally:
        added = [handler for handler in root.handlers if handler not in handlers]
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, logger in list(logging.Logger.manager.loggerDict.items()):
            if isinstance(logger, logging.Logger) and name in levels:
                logger.setLevel(levels[name])
        for handler in added:
            handler.close()
