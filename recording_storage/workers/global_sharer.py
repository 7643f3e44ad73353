"""The DracoonGlobalSharer process: every ``jobDelayMinutes``, hand missing file keys to room
members for every instance that uses DRACOON (new users included).

A pass is idempotent (keys already handed out are not missing any more), so the process is
interruptible at any point: SIGTERM stops it at once, even in the middle of a pass.
"""

from __future__ import annotations

import logging
import os
import time

from recording_storage.config import Settings
from recording_storage.configurator import ConfiguratorError
from recording_storage.logcodes import LogCode, log_event
from recording_storage.ops import metrics as m
from recording_storage.workers.base import KIND_GLOBAL_SHARER, Worker, WorkerChannel
from recording_storage.workers.options import SupervisionOptions
from recording_storage.workers.protocols import SharerFactory, SharerPass

log = logging.getLogger(__name__)


class GlobalSharerWorker(Worker):
    kind = KIND_GLOBAL_SHARER

    def __init__(
        self,
        channel: WorkerChannel,
        settings: Settings,
        options: SupervisionOptions,
        sharer_factory: SharerFactory,
    ) -> None:
        super().__init__(channel, options.heartbeat_interval)
        self.settings = settings
        self.sharer_factory = sharer_factory
        minutes = settings.workers.global_sharer.job_delay_minutes
        self.delay = options.sharer_delay_seconds or max(1, int(minutes)) * 60.0
        self.metrics = m.service_metrics()

    def run(self) -> None:
        sharer = self.sharer_factory(self.settings)
        while not self.stop_flag.is_set():
            self.state = "busy"
            self.advance()
            with self.interruptible():
                self.run_once(sharer)
            self.advance()
            self.state = "idle"
            with self.interruptible():
                self.stop_flag.wait(self.delay)

    def run_once(self, sharer: SharerPass) -> None:
        started = time.monotonic()
        try:
            report = sharer.run_once()
        except ConfiguratorError:
            # The pass logged it (15016, "cannot list instances"); say it once, not twice.
            self.metrics.sharer_runs.labels(outcome="error").inc()
            log.debug("next sharer pass in %.0fs", self.delay, extra={"worker": self.channel.name})
            return
        except Exception as error:  # unexpected: nothing has logged it yet
            self.metrics.sharer_runs.labels(outcome="error").inc()
            log_event(
                log,
                LogCode.GLOBAL_SHARER_ERROR,
                f"sharer pass failed ({type(error).__name__}: {error}); next pass in "
                f"{self.delay:.0f}s",
                worker=self.channel.name,
                pid=os.getpid(),
            )
            return
        keys, failures = report.keys_set, len(report.failures)
        self.metrics.sharer_runs.labels(outcome="success" if not failures else "error").inc()
        self.metrics.sharer_keys_distributed.inc(keys)
        # The pass itself logged its counts (15017/15016); say only when the next one runs.
        log.debug(
            "next sharer pass in %.0fs",
            self.delay,
            extra={"worker": self.channel.name, "seconds": time.monotonic() - started},
        )
