"""``GlobalSharer``: give every room reader the file keys they still miss, for every instance.

New room members (and members who created their key pair late) cannot read files uploaded
before they joined until somebody with the file key encrypts it for them. The
DracoonGlobalSharer worker calls ``run_once`` every ``workers.DracoonGlobalSharer.jobDelayMinutes``;
each pass asks every DRACOON instance account for all its missing keys. Instances that share
one account are served once per pass. One failing instance never stops the others.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from recording_storage import deadlines
from recording_storage.config import Settings
from recording_storage.configurator import Configurator, ConfiguratorError, make_configurator
from recording_storage.dracoon.client import DracoonError
from recording_storage.jobs.clients import ClientFactory, DracoonClientPool
from recording_storage.logcodes import LogCode, log_event

log = logging.getLogger(__name__)


@dataclass
class SharerReport:
    instances: int = 0
    keys_set: int = 0
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


class GlobalSharer:
    def __init__(
        self,
        settings: Settings,
        *,
        configurator: Configurator | None = None,
        client_factory: ClientFactory | None = None,
        events: Any = None,
    ):
        self.settings = settings
        self._configurator = configurator
        self._pool = (
            DracoonClientPool(settings, events=events, factory=client_factory)
            if client_factory is not None
            else DracoonClientPool(settings, events=events)
        )

    @property
    def configurator(self) -> Configurator:
        if self._configurator is None:
            self._configurator = make_configurator(self.settings)
        return self._configurator

    def run_once(self) -> SharerReport:
        """One pass over every DRACOON instance; raises only if the instance list fails."""
        started = time.monotonic()
        report = SharerReport()
        try:
            instances = self.configurator.list_dracoon_instances()
        except ConfiguratorError as exc:
            log_event(log, LogCode.GLOBAL_SHARER_ERROR, f"sharer: cannot list instances: {exc}")
            raise
        served: set[tuple[str, str]] = set()
        for instance in instances:
            domain = instance.domain
            try:
                instance.require_dracoon()
            except ConfiguratorError as exc:
                report.failures.append(str(exc))
                log_event(log, LogCode.GLOBAL_SHARER_ERROR, f"sharer: {exc}", instance=domain)
                continue
            account = self._pool.account_key(instance)
            if account in served:
                continue
            served.add(account)
            report.instances += 1
            self._share(instance, report)
        report.seconds = time.monotonic() - started
        log_event(
            log,
            LogCode.GLOBAL_SHARER_STATUS if not report.failures else LogCode.GLOBAL_SHARER_ERROR,
            f"sharer pass: {report.keys_set} key(s) set for {report.instances} account(s), "
            f"{len(report.failures)} failure(s) in {report.seconds:.1f}s",
            instances=report.instances,
            keys_set=report.keys_set,
            failures=len(report.failures),
        )
        return report

    def _share(self, instance: Any, report: SharerReport) -> None:
        domain = instance.domain
        started = time.monotonic()
        # One account's share gets at most one timer interval (at least 10 minutes): a server
        # that pages forever or trickles its answers cannot hold the sharer (paging checks it
        # between pages, every call gets at most the time left).
        seconds = max(600, self.settings.workers.global_sharer.job_delay_minutes * 60)
        try:
            with (
                self._pool.lease(instance) as client,
                deadlines.job_budget(deadlines.JobBudget(seconds)),
            ):
                result = client.distribute_missing_keys()
        except (DracoonError, ValueError) as exc:
            text = f"sharer: instance {domain}: {type(exc).__name__}: {exc}"
            report.failures.append(text)
            log_event(log, LogCode.GLOBAL_SHARER_ERROR, text, instance=domain)
            return
        report.keys_set += result.keys_set
        for failed in result.failed:
            text = (
                f"sharer: instance {domain}: key of file {failed.file_id} for user "
                f"{failed.user_id} not set: {failed.reason}"
            )
            report.failures.append(text)
            log_event(log, LogCode.GLOBAL_SHARER_ERROR, text, instance=domain)
        log_event(
            log,
            LogCode.GLOBAL_SHARER_STATUS,
            f"sharer: instance {domain}: {result.keys_set} key(s) set, "
            f"{len(result.failed)} failed in {time.monotonic() - started:.1f}s",
            instance=domain,
            keys_set=result.keys_set,
            failures=len(result.failed),
        )

    def close(self) -> None:
        self._pool.close()
