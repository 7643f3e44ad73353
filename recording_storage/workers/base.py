"""What every worker process has in common: its channel to the master and its heartbeat.

The master hands each child a :class:`WorkerChannel`: a status queue (child -> master) and two
events (master -> child). ``stop`` means "take no new work"; ``cancel`` means "abandon the
work in progress cleanly" (the transfer's upload channel is cancelled and its SQS message
released). A heartbeat thread puts a small status record on the queue every
``heartbeat_interval`` seconds; the master replaces a child whose heartbeats stop.

A heartbeat proves only that the heartbeat thread runs, so it also carries the process's
work counter (``recording_storage.work_progress``) and whether the worker's current state
is one in which that counter must move (``progress_states``: busy, and for a
FileTransferer also its SQS polling). The master replaces a worker whose counter stands
still for too long in such a state. Before it kills one, it sends SIGUSR1: every child
registers ``faulthandler`` for it, writing the stack of every thread to the channel's
``stack_dump_path``, which the master then logs, so the log shows where the worker hung.

Signals in a child: SIGINT is ignored (Ctrl-C reaches the whole process group, and the master
orchestrates shutdown); SIGTERM counts as ``stop`` (:meth:`StopFlag.request`) and, while the
child is idle (long-polling SQS or sleeping between sharer runs), interrupts the wait so the
child exits at once.
A busy child keeps working until the master sets ``cancel`` after the grace period.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, Protocol

from recording_storage import work_progress
from recording_storage.deadlines import CancelSignal
from recording_storage.logcodes import LogCode, log_event, log_event_at

log = logging.getLogger(__name__)

KIND_FILE_TRANSFERER = "file_transferer"
KIND_GLOBAL_SHARER = "dracoon_global_sharer"
KIND_HEALTH_PROBER = "health_prober"

StatusRecord = dict[str, Any]
"""One record on the status queue: ``type`` (heartbeat, probes, exiting, recycling) and its
fields; plain data so it pickles across the process boundary."""


class StatusQueue(Protocol):
    """The child's end of its status queue: ``multiprocessing.Queue`` in the service, a
    ``queue.Queue`` where a test runs a worker in its own process. Neither side may block."""

    def put_nowait(self, record: StatusRecord, /) -> None: ...

    def get_nowait(self) -> StatusRecord: ...


class Flag(CancelSignal, Protocol):
    """A flag the master sets and the child reads (``stop``, ``cancel``):
    ``multiprocessing.Event`` in the service, ``threading.Event`` in in-process tests."""

    def set(self) -> None: ...


class HeartbeatSink(Protocol):
    """What a worker's work loop reports to (the worker itself, which forwards to the master).

    ``advance`` after every step of work: the master's proof that a busy worker is not stuck
    (``work_progress``). ``beat`` when the state changed and the master should know now,
    not at the next heartbeat (a job was taken).
    """

    def advance(self) -> None: ...

    def beat(self) -> None: ...


@dataclass
class WorkerChannel:
    """The master's handle on one child, shared across ``fork``."""

    name: str  # slot name, e.g. "file_transferer-2"
    kind: str
    status: StatusQueue  # child -> master
    stop: Flag  # master -> child: take no new work
    cancel: Flag  # master -> child: abandon the work in progress
    master_pid: int
    stack_dump_path: str | None = None  # where SIGUSR1 writes the stacks (else stderr)


class StopFlag:
    """Should this worker stop: the master set ``stop``, or the process got SIGTERM.

    The SIGTERM handler must not touch the ``multiprocessing.Event``: it runs in the main
    thread, between two bytecodes, possibly while that thread holds the event's lock inside
    ``is_set`` or sleeps in its ``wait``, and ``Event.set`` takes that lock (and waits for the
    sleepers to wake): the process deadlocks (tried: a loop of ``is_set`` hung in 1 of 5 runs,
    a 5 s ``wait`` in every run, until SIGKILL). The handler calls :meth:`request`, which
    only sets an attribute.

    For the same reason this waits by polling, not in ``Event.wait``: the handler raises
    ``_Interrupted`` out of an interruptible wait, and an exception raised inside the event's
    condition corrupts its semaphore counts. Short sleeps are interrupted cleanly and cost
    nothing measurable.
    """

    def __init__(self, event: Flag, poll: float = 0.2) -> None:
        self.event = event
        self.poll = poll
        self._requested = False

    def request(self) -> None:
        """Stop from inside this process; safe in a signal handler (no lock taken)."""
        self._requested = True

    def is_set(self) -> bool:
        return self._requested or bool(self.event.is_set())

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            remaining = self.poll if deadline is None else deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(self.poll, remaining))
        return True


class _Interrupted(BaseException):
    """Raised by the SIGTERM handler inside an interruptible wait (BaseException: nothing in
    botocore or the jobs code may swallow it)."""


class Worker:
    """Base of the worker processes: heartbeats, signals, status reports.

    Subclasses implement :meth:`run`, call :meth:`interruptible` around idle waits and set
    ``self.state``/``self.job_id`` so heartbeats tell the master what they are doing. A worker
    is the :class:`HeartbeatSink` of its own work loop.
    """

    kind = "worker"
    progress_states: frozenset[str] = frozenset({"busy"})
    """States in which the work counter must move; the master watches only these."""

    def __init__(self, channel: WorkerChannel, heartbeat_interval: float) -> None:
        self.channel = channel
        self.heartbeat_interval = heartbeat_interval
        self.state = "starting"
        self.job_id: str | None = None
        self.stop_flag = StopFlag(channel.stop)
        self._interruptible = False
        self._stack_file: IO[str] | None = None

    # -- life cycle ----------------------------------------------------------------------

    def main(self) -> int:
        """Entry point in the child process; returns its exit status."""
        self._install_signal_handlers()
        self._install_stack_dump()
        threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True).start()
        try:
            self.run()
        except _Interrupted:
            pass
        except Exception as error:  # the master logs the exit (the ERROR) and restarts us
            log_event_at(
                log,
                logging.WARNING,
                LogCode.WORKER_ERROR,
                f"{self.channel.name} stopped on an unexpected error: "
                f"{type(error).__name__}: {error}",
                worker=self.channel.name,
                pid=os.getpid(),
            )
            return 1
        self.state = "stopped"
        self.send({"type": "exiting"})
        return 0

    def run(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def send(self, record: StatusRecord) -> None:
        """Put a status record on the queue to the master (never blocks the caller)."""
        record.setdefault("pid", os.getpid())
        record.setdefault("time", time.time())
        with contextlib.suppress(Exception):  # a broken queue must not break the worker
            self.channel.status.put_nowait(record)

    def advance(self) -> None:
        """Record a step of work (the master's proof that this worker is not stuck)."""
        work_progress.advance()

    def beat(self) -> None:
        """Send a heartbeat now (the state changed), besides the heartbeat thread's."""
        self.send(self.heartbeat_record())

    def heartbeat_record(self) -> StatusRecord:
        return {
            "type": "heartbeat",
            "state": self.state,
            "job": self.job_id,
            "progress": work_progress.WORK_PROGRESS.value,
            "watched": self.state in self.progress_states,
        }

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Mark an idle wait that SIGTERM may interrupt (no job state is held in it)."""
        if self.stop_flag.is_set():
            raise _Interrupted
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False

    # -- internals -----------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        signal.set_wakeup_fd(-1)  # the master's wake-up pipe is not ours
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _install_stack_dump(self) -> None:
        """SIGUSR1 writes every thread's stack (the master asks before it kills a hung
        worker). faulthandler writes from its C signal handler, so this works even when the
        interpreter is wedged."""
        target: IO[str] = sys.stderr
        path = self.channel.stack_dump_path
        if path:
            try:
                self._stack_file = open(path, "w")  # noqa: SIM115 - open for the process's life
                target = self._stack_file
            except OSError as error:
                log.warning("cannot open %s for stack dumps (%s); using stderr", path, error)
        with contextlib.suppress(ValueError, OSError, AttributeError):
            faulthandler.register(signal.SIGUSR1, file=target, all_threads=True, chain=False)

    def _on_sigterm(self, signum: int, frame: object) -> None:
        self.stop_flag.request()
        if self._interruptible:
            self._interruptible = False
            raise _Interrupted

    def _heartbeat_loop(self) -> None:
        while True:
            if self._master_gone():
                log_event(
                    log,
                    LogCode.WORKER_ERROR,
                    f"{self.channel.name}: the master process is gone; stopping",
                    worker=self.channel.name,
                    pid=os.getpid(),
                )
                self.channel.stop.set()
                self.channel.cancel.set()
                os.kill(os.getpid(), signal.SIGTERM)
                return
            self.send(self.heartbeat_record())
            time.sleep(self.heartbeat_interval)

    def _master_gone(self) -> bool:
        return os.getppid() != self.channel.master_pid


def run_child(worker: Worker) -> None:
    """Run ``worker`` in this (forked) process and exit with its status."""
    status = worker.main()
    logging.shutdown()
    sys.exit(status)
