"""The master process: forks the workers, supervises them, serves /healthcheck and /metrics.

Modelled on gunicorn's arbiter. The master is a single-threaded loop (plus one HTTP thread that
only reads what the loop publishes) that wakes on signals (through a self-pipe) or every
``tick`` seconds and then:

1. handles queued signals (SIGTERM/SIGINT: graceful shutdown; a second one: cancel now);
2. drains every child's status queue (heartbeats, probe results);
3. reaps children that exited and schedules their replacement with backoff (15015);
4. kills children that hang so step 3 replaces them (15015): those whose heartbeats stopped,
   and those that beat but whose work counter stood still for ``progress_timeout`` while
   they were busy (recording_storage.work_progress). A hung child is first asked for a stack dump
   (SIGUSR1, faulthandler), which is logged, and killed ``stack_dump_wait`` later;
5. starts the children that are due;
6. publishes a snapshot of worker liveness and probe results for the HTTP thread.

Children (``multiprocessing``, fork context): ``workers.FileTransferer.count``
FileTransferers, one DracoonGlobalSharer when ``workers.DracoonGlobalSharer.count`` is 1, and
a health prober. Each gets its own status queue, so a child killed in the middle of a write
can only break its own queue, which is discarded with it.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.process
import multiprocessing.queues
import os
import queue
import select
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from recording_storage import __version__
from recording_storage.config import Settings
from recording_storage.logcodes import LogCode, log_event, log_event_at
from recording_storage.ops import health as h
from recording_storage.ops import metrics as m
from recording_storage.ops.health import PROBES, ProbeResult, verdict
from recording_storage.ops.http_server import OpsServer
from recording_storage.work_progress import ProgressEvents, attach_boto3_progress
from recording_storage.workers.base import (
    KIND_FILE_TRANSFERER,
    KIND_GLOBAL_SHARER,
    KIND_HEALTH_PROBER,
    Worker,
    WorkerChannel,
    run_child,
)
from recording_storage.workers.file_transferer import FileTransferer, SqsClientFactory
from recording_storage.workers.global_sharer import GlobalSharerWorker
from recording_storage.workers.health_prober import (
    HealthProber,
    default_credentials,
    default_probes,
)
from recording_storage.workers.options import SupervisionOptions
from recording_storage.workers.protocols import (
    CredentialsFactory,
    JobRunner,
    ProbesFactory,
    RunnerFactory,
    SharerFactory,
    SharerPass,
)

log = logging.getLogger(__name__)

_SignalHandler = Callable[[int, FrameType | None], Any] | int | None  # as signal.signal has it

STATUS_DRAIN_LIMIT = 200  # records per child per tick, so one chatty child cannot starve us
STACK_DUMP_LIMIT = 64 * 1024  # characters of a hung child's stack dump that are logged


def default_runner_factory(settings: Settings) -> JobRunner:
    """The real job runner; its DRACOON and S3 clients feed the metrics."""
    from recording_storage.aws.session import make_s3_client
    from recording_storage.jobs.runner import JobRunner as RealJobRunner

    s3 = make_s3_client(settings)
    m.attach_boto3_metrics(s3, "s3")
    attach_boto3_progress(s3)
    return RealJobRunner(settings, s3_client=s3, events=ProgressEvents(m.DracoonMetricsEvents()))


def default_sharer_factory(settings: Settings) -> SharerPass:
    """The real sharer; its DRACOON clients feed the metrics."""
    from recording_storage.jobs.sharer import GlobalSharer

    return GlobalSharer(settings, events=ProgressEvents(m.DracoonMetricsEvents()))


@dataclass
class Slot:
    """One place for a worker; its process is replaced when it dies or hangs."""

    name: str
    kind: str
    process: multiprocessing.process.BaseProcess | None = None
    channel: WorkerChannel | None = None
    started_at: float = 0.0  # monotonic
    last_heartbeat: float = 0.0  # monotonic, receipt time of the last status record
    state: str = "starting"
    job: str | None = None
    quick_deaths: int = 0  # consecutive deaths soon after start: drives the backoff
    next_start: float = 0.0  # monotonic; not started before
    kill_cause: str | None = None  # "hung" when the master killed it
    progress: object = None  # the child's work counter, as last reported (compared only)
    watched: bool = False  # the child's state is one in which the counter must move
    last_progress: float = 0.0  # monotonic: when the counter last moved (or watching began)
    kill_at: float | None = None  # monotonic: SIGKILL due (after the stack dump was asked)
    spawns: int = 0  # processes started for this slot (names the stack dump files)
    recycling: bool = False  # the child said it exits after max_jobs (a planned exit)

    @property
    def pid(self) -> int:
        """The child's pid; asked only of a slot whose process was started."""
        assert self.process is not None and self.process.pid is not None
        return self.process.pid


@dataclass(frozen=True)
class Snapshot:
    """What the HTTP thread may read: immutable, replaced as a whole by the loop."""

    slots: tuple[tuple[str, str, bool, float], ...] = ()  # name, kind, alive, last_heartbeat
    probes: dict[str, ProbeResult] = field(default_factory=dict)
    stopping: bool = False
    published_at: float = field(default_factory=time.monotonic)  # the loop turned then
    started: bool = False  # every slot reported once and the first probe round came back
    states: dict[str, str] = field(default_factory=dict)  # slot name -> reported state
    credentials: dict[str, h.CredentialCheck] = field(default_factory=dict)
    circuits: dict[str, dict[str, Any]] = field(default_factory=dict)  # scope -> open circuit


class Arbiter:
    def __init__(
        self,
        settings: Settings,
        options: SupervisionOptions,
        *,
        runner_factory: RunnerFactory | None = None,
        sharer_factory: SharerFactory | None = None,
        probes_factory: ProbesFactory | None = None,
        credentials_factory: CredentialsFactory | None = None,
        sqs_client_factory: SqsClientFactory | None = None,
    ) -> None:
        self.settings = settings
        self.options = options
        self.runner_factory = runner_factory or default_runner_factory
        self.sharer_factory = sharer_factory or default_sharer_factory
        self.probes_factory = probes_factory or default_probes
        self.credentials_factory = credentials_factory or default_credentials
        self.sqs_client_factory = sqs_client_factory
        self.ctx = multiprocessing.get_context("fork")
        self.pid = os.getpid()
        self.slots = self._plan_slots()
        self.expected_kinds = {slot.kind for slot in self.slots} - {KIND_HEALTH_PROBER}
        self.probe_results: dict[str, ProbeResult] = {}
        self.credentials: dict[str, h.CredentialCheck] = {}
        self.circuits: dict[str, dict[str, dict[str, Any]]] = {}  # slot -> scope -> circuit
        self.started = False
        self.signals: list[int] = []
        self.stopping = False
        self._cancel_now = False
        self.snapshot = Snapshot()
        self.http: OpsServer | None = None
        self._wake_r = self._wake_w = -1
        self._previous_wakeup = -1
        self._previous_handlers: dict[int, _SignalHandler] = {}  # signal -> before run()
        self.stack_dir: str | None = None  # stack dumps of hung children (removed at exit)

    def _plan_slots(self) -> list[Slot]:
        workers = self.settings.workers
        slots = [
            Slot(f"{KIND_FILE_TRANSFERER}-{i}", KIND_FILE_TRANSFERER)
            for i in range(1, int(workers.file_transferer.count) + 1)
        ]
        if int(workers.global_sharer.count) == 1:
            slots.append(Slot(KIND_GLOBAL_SHARER, KIND_GLOBAL_SHARER))
        slots.append(Slot(KIND_HEALTH_PROBER, KIND_HEALTH_PROBER))
        return slots

    # -- main ----------------------------------------------------------------------------

    def run(self) -> int:
        metrics_dir = m.enable_multiprocess()
        self.metrics = m.service_metrics()
        m.initialise_worker_labels(slot.name for slot in self.slots)
        self.stack_dir = tempfile.mkdtemp(prefix="recording-storage-stacks-")
        self._install_signals()
        try:
            try:
                self.http = OpsServer(
                    self.settings.http.address,
                    self.health,
                    self.render_metrics,
                    routes={"/livez": self.livez, "/readyz": self.readyz,
                            "/startupz": self.startupz},
                ).start()  # fmt: skip
            except OSError as error:
                log_event(
                    log,
                    LogCode.CONFIGURATION_ERROR,
                    f"cannot listen on http.address {self.settings.http.address}: {error}",
                    address=self.settings.http.address,
                )
                return 1
            log_event(
                log,
                LogCode.START_APPLICATION,
                f"recording-storage {__version__} master started: "
                f"{len(self.slots)} worker(s), /healthcheck and /metrics on {self.http.address}",
                pid=self.pid,
                version=__version__,
                workers=[slot.name for slot in self.slots],
                http_address=self.http.address,
                queue_url=self.settings.queue_url,
            )
            while not self.stopping:
                self._tick()
            self._shutdown()
            log_event(log, LogCode.STOP_APPLICATION, "master stopped", pid=self.pid)
            return 0
        finally:
            if self.http is not None:
                self.http.close()
            self._restore_signals()
            m.cleanup_multiprocess(metrics_dir)
            shutil.rmtree(self.stack_dir, ignore_errors=True)

    def _tick(self, *, restart: bool = True) -> None:
        self._sleep(self.options.tick)
        self._handle_signals()
        self._drain_status()
        self._reap(restart=restart and not self.stopping)
        self._murder_hung()
        if restart and not self.stopping:
            self._spawn_due()
        self._publish()

    # -- signals -------------------------------------------------------------------------

    def _install_signals(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._previous_wakeup = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        self._previous_handlers = {}
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGHUP):
            self._previous_handlers[signum] = signal.signal(signum, self._on_signal)

    def _restore_signals(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers = {}
        with contextlib.suppress(ValueError):
            signal.set_wakeup_fd(self._previous_wakeup)
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def _on_signal(self, signum: int, frame: object) -> None:
        if signum != signal.SIGCHLD:  # SIGCHLD only wakes the loop up
            self.signals.append(signum)

    def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(InterruptedError):
            ready, _, _ = select.select([self._wake_r], [], [], seconds)
            if ready:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self._wake_r, 4096):
                        pass

    def _handle_signals(self) -> None:
        while self.signals:
            signum = self.signals.pop(0)
            name = signal.Signals(signum).name
            if signum == signal.SIGHUP:
                log_event(
                    log,
                    LogCode.STOP_APPLICATION,
                    "SIGHUP ignored: restart the service to reload its configuration",
                    pid=self.pid,
                )
            elif not self.stopping:
                self.stopping = True
                log_event(
                    log,
                    LogCode.STOP_APPLICATION,
                    f"{name} received: stopping; running transfers get "
                    f"{self.options.graceful_timeout:.0f}s to finish",
                    pid=self.pid,
                    signal=name,
                )
            else:
                self._cancel_now = True
                log_event(
                    log,
                    LogCode.STOP_APPLICATION,
                    f"second {name} received: cancelling running transfers now",
                    pid=self.pid,
                    signal=name,
                )

    # -- children ------------------------------------------------------------------------

    def _spawn_due(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            if slot.process is None and now >= slot.next_start:
                self._spawn(slot)

    def _spawn(self, slot: Slot) -> None:
        slot.spawns += 1
        dump = None
        if self.stack_dir is not None:
            dump = os.path.join(self.stack_dir, f"{slot.name}.{slot.spawns}.txt")
        channel = WorkerChannel(
            name=slot.name,
            kind=slot.kind,
            status=self.ctx.Queue(),
            stop=self.ctx.Event(),
            cancel=self.ctx.Event(),
            master_pid=self.pid,
            stack_dump_path=dump,
        )
        process = self.ctx.Process(
            target=self._child_main, args=(slot.kind, channel), name=slot.name, daemon=False
        )
        process.start()
        now = time.monotonic()
        slot.process, slot.channel = process, channel
        slot.started_at = slot.last_heartbeat = slot.last_progress = now
        slot.state, slot.job, slot.kill_cause, slot.kill_at = "starting", None, None, None
        slot.recycling = False
        slot.progress, slot.watched = None, False
        log_event(
            log,
            LogCode.START_APPLICATION,
            f"{slot.name} started (pid {process.pid})",
            worker=slot.name,
            pid=process.pid,
        )

    def _child_main(self, kind: str, channel: WorkerChannel) -> None:
        """Runs in the forked child: drop the master's resources, become the worker."""
        signal.set_wakeup_fd(-1)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.http is not None:
            self.http.close_in_child()
        run_child(self._make_worker(kind, channel))

    def _make_worker(self, kind: str, channel: WorkerChannel) -> Worker:
        if kind == KIND_FILE_TRANSFERER:
            if self.sqs_client_factory is None:
                return FileTransferer(channel, self.settings, self.options, self.runner_factory)
            return FileTransferer(
                channel,
                self.settings,
                self.options,
                self.runner_factory,
                sqs_client_factory=self.sqs_client_factory,
            )
        if kind == KIND_GLOBAL_SHARER:
            return GlobalSharerWorker(channel, self.settings, self.options, self.sharer_factory)
        return HealthProber(
            channel, self.settings, self.options, self.probes_factory, self.credentials_factory
        )

    def _drain_status(self) -> None:
        for slot in self.slots:
            if slot.channel is not None:
                self._drain_one(slot)

    def _drain_one(self, slot: Slot) -> None:
        if slot.channel is None:
            return
        for _ in range(STATUS_DRAIN_LIMIT):
            try:
                record = slot.channel.status.get_nowait()
            except (queue.Empty, OSError, EOFError, ValueError):
                return
            except Exception:  # a torn record from a killed child: ignore the rest
                return
            slot.last_heartbeat = now = time.monotonic()
            kind = record.get("type")
            if kind == "heartbeat":
                state, job = record.get("state", "?"), record.get("job")
                progress, watched = record.get("progress"), bool(record.get("watched"))
                if (
                    not (watched and slot.watched)
                    or progress != slot.progress
                    or (state, job) != (slot.state, slot.job)
                ):
                    slot.last_progress = now  # moved, or a new phase: the clock starts again
                slot.state, slot.job = state, job
                slot.progress, slot.watched = progress, watched
                if "circuits" in record:
                    self.circuits[slot.name] = dict(record.get("circuits") or {})
            elif kind == "probes":
                for name, data in (record.get("results") or {}).items():
                    with contextlib.suppress(KeyError, TypeError, ValueError):
                        self.probe_results[name] = ProbeResult.from_json(data)
                for name, data in (record.get("credentials") or {}).items():
                    with contextlib.suppress(KeyError, TypeError, ValueError):
                        self.credentials[name] = h.CredentialCheck.from_json(data)
            elif kind == "exiting":
                slot.state = "exiting"
            elif kind == "recycling":  # max_jobs reached: a planned, clean exit
                slot.recycling = True

    def _reap(self, *, restart: bool) -> None:
        now = time.monotonic()
        for slot in self.slots:
            process = slot.process
            if process is None or process.is_alive():
                continue
            self._drain_one(slot)
            self._discard_stack_dump(slot)
            code, pid = process.exitcode, slot.pid
            cause = slot.kill_cause or ("recycled" if slot.recycling else "exited")
            lived = now - slot.started_at
            m.mark_process_dead(pid)
            self.circuits.pop(slot.name, None)
            self._discard(slot)
            if not restart:
                log_event(
                    log,
                    LogCode.STOP_APPLICATION,
                    f"{slot.name} (pid {pid}) stopped with {_describe_exit(code)}",
                    worker=slot.name,
                    pid=pid,
                    exit_code=code,
                )
                continue
            if cause == "recycled" and code == 0:  # max_jobs: replaced at once, not an error
                slot.next_start = now
                self.metrics.worker_restarts.labels(worker=slot.name, cause=cause).inc()
                log_event(log, LogCode.STOP_APPLICATION,
                          f"{slot.name} (pid {pid}) recycled after {lived:.0f}s; starting a "
                          "fresh one", worker=slot.name, pid=pid, cause=cause)  # fmt: skip
                continue
            slot.quick_deaths = slot.quick_deaths + 1 if lived < self.options.stable_after else 1
            delay = min(
                self.options.restart_backoff_max,
                self.options.restart_backoff_initial * 2 ** (slot.quick_deaths - 1),
            )
            slot.next_start = now + delay
            self.metrics.worker_restarts.labels(worker=slot.name, cause=cause).inc()
            what = "hung and was killed" if cause == "hung" else "died"
            during = f" during job {slot.job}" if slot.job else ""
            log_event(
                log,
                LogCode.WORKER_ERROR,
                f"{slot.name} (pid {pid}) {what} ({_describe_exit(code)}) after "
                f"{lived:.0f}s{during}; restarting in {delay:.1f}s",
                worker=slot.name,
                pid=pid,
                exit_code=code,
                cause=cause,
                job=slot.job,
                restart_in_seconds=round(delay, 1),
            )

    def _discard(self, slot: Slot) -> None:
        channel = slot.channel
        if channel is not None and isinstance(channel.status, multiprocessing.queues.Queue):
            with contextlib.suppress(Exception):
                channel.status.cancel_join_thread()
                channel.status.close()
        if slot.process is not None:
            with contextlib.suppress(Exception):
                slot.process.close()
        slot.process = slot.channel = None

    def _murder_hung(self) -> None:
        now = time.monotonic()
        for slot in self.slots:
            if slot.process is None:
                continue
            if slot.kill_cause is not None:
                if slot.kill_at is not None and now >= slot.kill_at:
                    self._kill_hung(slot)
                continue
            reason = self._hang_reason(slot, now)
            if reason is not None:
                self._ask_for_stack(slot, reason, now)

    def _hang_reason(self, slot: Slot, now: float) -> str | None:
        """Why ``slot``'s child counts as hung, or None while it is fine."""
        silent = now - slot.last_heartbeat
        if silent > self.options.heartbeat_timeout:
            return (
                f"sent no heartbeat for {silent:.0f}s "
                f"(timeout {self.options.heartbeat_timeout:.0f}s)"
            )
        limit = self.options.progress_timeout
        still = now - slot.last_progress
        if limit > 0 and slot.watched and still > limit:
            doing = f"job {slot.job}" if slot.job else slot.state
            return (
                f"is alive but made no progress for {still:.0f}s while {slot.state} "
                f"({doing}; progress timeout {limit:.0f}s)"
            )
        return None

    def _ask_for_stack(self, slot: Slot, reason: str, now: float) -> None:
        """First step of killing a hung child: ask it where it is (SIGUSR1), kill it later."""
        pid = slot.pid
        slot.kill_cause = "hung"
        slot.kill_at = now + self.options.stack_dump_wait
        log_event_at(  # one ERROR per failure: the restart below is it
            log,
            logging.WARNING,
            LogCode.WORKER_ERROR,
            f"{slot.name} (pid {pid}) {reason}; asking for its stack dump, then killing it",
            worker=slot.name,
            pid=pid,
            job=slot.job,
            state=slot.state,
        )
        try:
            os.kill(pid, signal.SIGUSR1)
        except ProcessLookupError:
            slot.kill_at = now

    def _kill_hung(self, slot: Slot) -> None:
        pid = slot.pid
        slot.kill_at = None
        stack = self._read_stack_dump(slot)
        log_event_at(
            log,
            logging.WARNING,
            LogCode.WORKER_ERROR,
            f"{slot.name} (pid {pid}) stack dump before it was killed:\n{stack}"
            if stack
            else f"{slot.name} (pid {pid}) wrote no stack dump (stopped or wedged in the "
            "kernel); killing it",
            worker=slot.name,
            pid=pid,
            job=slot.job,
            stack=stack or None,
        )
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def _read_stack_dump(self, slot: Slot) -> str:
        path = slot.channel.stack_dump_path if slot.channel is not None else None
        if not path:
            return ""
        try:
            with open(path, errors="replace") as dump:
                return dump.read(STACK_DUMP_LIMIT).strip()
        except OSError:
            return ""

    def _discard_stack_dump(self, slot: Slot) -> None:
        path = slot.channel.stack_dump_path if slot.channel is not None else None
        if path:
            with contextlib.suppress(OSError):
                os.unlink(path)

    # -- shutdown ------------------------------------------------------------------------

    def _shutdown(self) -> None:
        for slot in self._running():
            if slot.channel is not None:
                slot.channel.stop.set()
            with contextlib.suppress(ProcessLookupError):
                os.kill(slot.pid, signal.SIGTERM)
        self._wait_children(self.options.graceful_timeout, stop_early=lambda: self._cancel_now)
        if self._running():
            busy = [s.name + (f" (job {s.job})" if s.job else "") for s in self._running()]
            log_event(
                log,
                LogCode.STOP_APPLICATION,
                f"cancelling unfinished work of {', '.join(busy)}; their messages are released",
                pid=self.pid,
            )
            for slot in self._running():
                if slot.channel is not None:
                    slot.channel.cancel.set()
            self._wait_children(self.options.cancel_timeout)
        for slot in self._running():
            log_event(
                log,
                LogCode.WORKER_ERROR,
                f"{slot.name} (pid {slot.pid}) did not stop; killing it",
                worker=slot.name,
                pid=slot.pid,
                job=slot.job,
            )
            with contextlib.suppress(ProcessLookupError):
                os.kill(slot.pid, signal.SIGKILL)
        self._wait_children(10.0)

    def _running(self) -> list[Slot]:
        return [slot for slot in self.slots if slot.process is not None]

    def _wait_children(
        self, timeout: float, stop_early: Callable[[], bool] = lambda: False
    ) -> None:
        deadline = time.monotonic() + timeout
        while self._running() and time.monotonic() < deadline and not stop_early():
            self._tick(restart=False)

    # -- views for the HTTP thread ---------------------------------------------------------

    def _publish(self) -> None:
        if not self.started:
            # Started once every slot reported a state past "starting" and the first round
            # of probes came back: before that, health has nothing true to say.
            self.started = all(
                slot.process is not None and slot.state not in ("starting", "exiting")
                for slot in self.slots
            ) and all(name in self.probe_results for name in PROBES)
        circuits: dict[str, dict[str, Any]] = {}
        for slot_name, scopes in self.circuits.items():
            for scope, info in scopes.items():
                circuits.setdefault(scope, {**info, "workers": []})["workers"].append(slot_name)
        self.snapshot = Snapshot(
            slots=tuple(
                (s.name, s.kind, s.process is not None and s.kill_cause is None, s.last_heartbeat)
                for s in self.slots
            ),
            probes=dict(self.probe_results),
            stopping=self.stopping,
            started=self.started,
            states={s.name: s.state if s.process is not None else "down" for s in self.slots},
            credentials=dict(self.credentials),
            circuits=circuits,
        )

    def health(self, query: Mapping[str, list[str]] | None = None) -> tuple[int, dict[str, Any]]:
        """``/healthcheck``: the original contract; ``?detail=1`` adds the detail."""
        snapshot, now = self.snapshot, time.monotonic()
        kinds_ok: dict[str, bool] = {}
        for _name, kind, alive, last in snapshot.slots:
            fresh = alive and now - last <= self.options.heartbeat_timeout
            kinds_ok[kind] = kinds_ok.get(kind, True) and fresh and not snapshot.stopping
        status, body = verdict(
            kinds_ok,
            snapshot.probes,
            now=time.time(),
            max_age=self.options.probe_max_age,
            expected_workers=self.expected_kinds,
            started=snapshot.started,
        )
        if query and (query.get("detail") or ["0"])[0] not in ("0", "false", ""):
            body = {**body, **h.detail(self.health_state(), max_age=self.options.probe_max_age)}
        return status, body

    def health_state(self) -> h.HealthState:
        snapshot, now = self.snapshot, time.monotonic()
        return h.HealthState(
            workers=tuple(
                h.WorkerView(
                    name, kind, alive, max(0.0, now - last), snapshot.states.get(name, "?")
                )
                for name, kind, alive, last in snapshot.slots
            ),
            probes=snapshot.probes,
            credentials=snapshot.credentials,
            circuits=snapshot.circuits,
            started=snapshot.started,
            stopping=snapshot.stopping,
            loop_age=max(0.0, now - snapshot.published_at),
        )

    def livez(self, query: Mapping[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """Alive while the loop turns: a tick is at most ``tick`` plus the work of one turn."""
        return h.liveness(self.health_state(), max(10.0, 20 * self.options.tick))

    def startupz(self, query: Mapping[str, list[str]]) -> tuple[int, dict[str, Any]]:
        return h.startup(self.health_state())

    def readyz(self, query: Mapping[str, list[str]]) -> tuple[int, dict[str, Any]]:
        return h.readiness(
            self.health_state(),
            heartbeat_timeout=self.options.heartbeat_timeout,
            max_age=self.options.probe_max_age,
        )

    def status(
        self,
    ) -> tuple[dict[str, tuple[bool, float]], dict[str, tuple[bool, float]]]:
        """What the metrics' StatusCollector gauges: (up, heartbeat age) per worker slot,
        (ok, age) per probe."""
        snapshot, now, wall = self.snapshot, time.monotonic(), time.time()
        workers = {
            name: (alive, max(0.0, now - last)) for name, _kind, alive, last in snapshot.slots
        }
        probes = {
            name: (result.ok, max(0.0, wall - result.checked_at))
            for name, result in snapshot.probes.items()
            if name in PROBES
        }
        return workers, probes

    def render_metrics(self) -> tuple[bytes, str]:
        if not hasattr(self, "_registry"):
            self._registry = m.build_registry(m.StatusCollector(self.status))
            self._registry.register(h.CredentialsCollector(lambda: self.snapshot.credentials))
        return m.render(self._registry)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "unknown status"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
        return f"signal {-code}"
    return f"exit status {code}"


def serve(
    settings: Settings,
    *,
    runner_factory: RunnerFactory | None = None,
    sharer_factory: SharerFactory | None = None,
    probes_factory: ProbesFactory | None = None,
    credentials_factory: CredentialsFactory | None = None,
    sqs_client_factory: SqsClientFactory | None = None,
    options: SupervisionOptions | None = None,
) -> int:
    """Run the master until SIGTERM/SIGINT; returns the process exit status (0 = clean).

    The factories exist for tests (a fake runner in real processes); production uses the
    defaults: :class:`JobRunner`, :class:`GlobalSharer`, :class:`HealthProbes` and
    :class:`CredentialChecks`.
    """
    if not logging.getLogger().handlers:
        from recording_storage.logs import setup_logging

        setup_logging(settings.logger.level)
    arbiter = Arbiter(
        settings,
        options or SupervisionOptions.from_settings(settings),
        runner_factory=runner_factory,
        sharer_factory=sharer_factory,
        probes_factory=probes_factory,
        credentials_factory=credentials_factory,
        sqs_client_factory=sqs_client_factory,
    )
    return arbiter.run()
