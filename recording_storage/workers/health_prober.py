"""The health-prober process: probes SQS, S3, the configurator and DRACOON in the background.

It runs apart from the master so the master stays a single-threaded arbiter that forks
safely (no boto3 or urllib3 state, no threads holding locks at ``fork`` time), and so a probe
that hangs cannot stall supervision: the prober is supervised like any worker, and results
older than ``probe_max_age`` count as failures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recording_storage.ops.health import HealthProbes
from recording_storage.workers.base import KIND_HEALTH_PROBER, Worker, WorkerChannel
from recording_storage.workers.options import SupervisionOptions

ProbesFactory = Callable[[Any, float], Any]


def default_probes(settings: Any, timeout: float) -> HealthProbes:
    return HealthProbes(settings, timeout=timeout)


class HealthProber(Worker):
    kind = KIND_HEALTH_PROBER

    def __init__(
        self,
        channel: WorkerChannel,
        settings: Any,
        options: SupervisionOptions,
        probes_factory: ProbesFactory = default_probes,
    ) -> None:
        super().__init__(channel, options.heartbeat_interval)
        self.settings = settings
        self.options = options
        self.probes_factory = probes_factory

    def run(self) -> None:
        probes = self.probes_factory(self.settings, self.options.probe_timeout)
        while not self.channel.stop.is_set():
            self.state = "busy"
            self.advance()
            with self.interruptible():
                results = probes.run_all()
            self.advance()
            self.send({"type": "probes", "results": {n: r.to_json() for n, r in results.items()}})
            self.state = "idle"
            with self.interruptible():
                self.stop_flag.wait(self.options.probe_interval)
