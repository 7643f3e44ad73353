"""The health-prober process: probes SQS, S3, the configurator and DRACOON in the background,
and checks every instance's DRACOON credentials.

It runs apart from the master so the master stays a single-threaded arbiter that forks
safely (no boto3 or urllib3 state, no threads holding locks at ``fork`` time), and so a probe
that hangs cannot stall supervision: the prober is supervised like any worker, and results
older than ``probe_max_age`` count as failures.

The credential checks (a login and, when the credentials changed, a key-pair unlock per
instance) run in a thread of their own every ``credentials_interval``: with many instances
or a slow DRACOON they take long, and must not delay the dependency probes.
"""

from __future__ import annotations

import threading

from recording_storage.config import Settings
from recording_storage.ops.health import CredentialCheck, CredentialChecks, HealthProbes
from recording_storage.workers.base import KIND_HEALTH_PROBER, Worker, WorkerChannel
from recording_storage.workers.options import SupervisionOptions
from recording_storage.workers.protocols import (
    CredentialCheckSet,
    CredentialsFactory,
    ProbesFactory,
)


def default_probes(settings: Settings, timeout: float) -> HealthProbes:
    return HealthProbes(settings, timeout=timeout)


def default_credentials(settings: Settings, timeout: float) -> CredentialChecks:
    return CredentialChecks(settings, timeout=timeout)


class HealthProber(Worker):
    kind = KIND_HEALTH_PROBER

    def __init__(
        self,
        channel: WorkerChannel,
        settings: Settings,
        options: SupervisionOptions,
        probes_factory: ProbesFactory = default_probes,
        credentials_factory: CredentialsFactory | None = default_credentials,
    ) -> None:
        super().__init__(channel, options.heartbeat_interval)
        self.settings = settings
        self.options = options
        self.probes_factory = probes_factory
        self.credentials_factory = credentials_factory
        self._credentials: dict[str, CredentialCheck] = {}
        self._credentials_lock = threading.Lock()

    def run(self) -> None:
        probes = self.probes_factory(self.settings, self.options.probe_timeout)
        if self.credentials_factory is not None:
            threading.Thread(
                target=self._check_credentials, args=(self.credentials_factory,),
                name="credential-checks", daemon=True,
            ).start()  # fmt: skip
        while not self.stop_flag.is_set():
            self.state = "busy"
            self.advance()
            with self.interruptible():
                results = probes.run_all()
            self.advance()
            with self._credentials_lock:
                credentials = {n: c.to_json() for n, c in self._credentials.items()}
            self.send({
                "type": "probes",
                "results": {n: r.to_json() for n, r in results.items()},
                "credentials": credentials,
            })  # fmt: skip
            self.state = "idle"
            with self.interruptible():
                self.stop_flag.wait(self.options.probe_interval)

    def _check_credentials(self, factory: CredentialsFactory) -> None:
        try:
            checks: CredentialCheckSet = factory(self.settings, self.options.probe_timeout)
        except Exception:  # unusable settings: the other probes say what is wrong
            return
        while not self.stop_flag.is_set():
            try:
                results = checks.run()
            except Exception:  # the configurator probe reports configurator trouble
                results = {}
            with self._credentials_lock:
                self._credentials = dict(results)
            self.stop_flag.wait(self.options.credentials_interval)
