"""The service in a local world: its configuration files, ``recording-storage serve``, and
what it says (its JSON log lines and ``/metrics``).

``write_config`` writes the three files the service reads for a local run: ``app.conf``, the
file configurator's ``instances.yaml`` (``configurator.url = file:instances.yaml``) and
``pubsub/sqs/topics.yml`` next to it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from scripts.local_world.processes import Process, ProcessGroup, console_script


def instance(
    api_url: str, parent_room_id: int, login: str, password: str, encryption_password: str
) -> dict[str, Any]:
    """One customer instance of the file configurator: its DRACOON account and parent room."""
    return {
        "recordings.storage": "dracoon",
        "recordings.dracoon.base-url": api_url,
        "recordings.dracoon.parent-room-id": parent_room_id,
        "recordings.dracoon.login": login,
        "recordings.dracoon.password": password,
        "recordings.dracoon.encryption-password": encryption_password,
    }


def write_config(
    directory: Path,
    settings: Mapping[str, object],
    instances: Mapping[str, Mapping[str, Any]] | None = None,
    topics: Mapping[str, str] | None = None,
    header: str = "",
) -> Path:
    """Write ``app.conf`` (``key = value`` per setting), ``instances.yaml`` and
    ``pubsub/sqs/topics.yml`` into ``directory``; returns the app.conf path.

    ``header``: a comment line that says who wrote the files and why.
    """
    directory.mkdir(parents=True, exist_ok=True)
    comment = f"# {header}\n" if header else ""
    if instances is not None:
        (directory / "instances.yaml").write_text(
            comment + yaml.safe_dump({k: dict(v) for k, v in instances.items()}, sort_keys=False)
        )
    if topics is not None:
        (directory / "pubsub" / "sqs").mkdir(parents=True, exist_ok=True)
        (directory / "pubsub" / "sqs" / "topics.yml").write_text(
            "".join(f"{name}: {url}\n" for name, url in topics.items())
        )
    conf = directory / "app.conf"
    conf.write_text(comment + "".join(f"{key} = {value}\n" for key, value in settings.items()))
    return conf


def start_serve(group: ProcessGroup, conf: Path, log: Path, env: dict[str, str]) -> Process:
    """``recording-storage --config CONF serve`` (the master and its workers), logging to
    ``log``."""
    argv = [console_script("recording-storage"), "--config", str(conf), "serve"]
    return group.start("recording-storage serve", argv, log, env)


class JsonLog:
    """The JSON records a service appends to its log, read as they come (``new_records``) or
    all at once (``records``). Lines that are not JSON objects are skipped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def records(self) -> list[dict[str, Any]]:
        with contextlib.suppress(OSError):
            return list(_parse(self.path.read_bytes().split(b"\n")))
        return []

    def new_records(self) -> Iterator[dict[str, Any]]:
        try:
            with self.path.open("rb") as log:
                log.seek(self._offset)
                data = log.read()
        except OSError:
            return
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        yield from _parse(lines)


def _parse(lines: list[bytes]) -> Iterator[dict[str, Any]]:
    for line in lines:
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                yield record


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a ``/metrics`` page as ``{(name, sorted label items): value}``."""
    from prometheus_client.parser import text_string_to_metric_families

    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples
