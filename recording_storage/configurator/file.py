"""The ``file:`` configurator: instance configuration from a local YAML or JSON file.

Selected by ``configurator.url = file:///path/instances.yaml`` (or a path relative to the
directory of app.conf). The file maps each instance domain to the same key map the HTTP
configurator returns. It is re-read when its modification time changes, so an operator can
edit it without restarting the service.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import yaml

from recording_storage.configurator.base import (
    ConfiguratorUnavailableError,
    InstanceConfig,
    InstanceConfigError,
    UnknownInstanceError,
)
from recording_storage.logcodes import LogCode, log_event
from recording_storage.safe_yaml import read_yaml_file

log = logging.getLogger(__name__)

MAX_INSTANCES_FILE_BYTES = 8 * 1024 * 1024  # thousands of instances; refuse anything larger


class FileConfigurator:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._data: dict[str, Any] = {}

    def describe(self) -> str:
        return f"file://{self.path}"

    def get_instance(self, domain: str) -> InstanceConfig:
        data = self._load()
        keys = data.get(domain)
        if keys is None:
            lowered = {str(name).lower(): value for name, value in data.items()}
            keys = lowered.get((domain or "").lower())
        if keys is None:
            raise UnknownInstanceError(domain, str(self.path))
        return InstanceConfig.from_mapping(domain, keys)

    def list_dracoon_instances(self) -> list[InstanceConfig]:
        configs = []
        for domain, keys in self._load().items():
            try:
                config = InstanceConfig.from_mapping(str(domain), keys)
            except InstanceConfigError as exc:  # one broken instance must not hide the others
                log_event(log, LogCode.CONFIGURATION_ERROR, str(exc), instance=str(domain))
                continue
            if config.uses_dracoon:
                configs.append(config)
        return configs

    def _load(self) -> dict[str, Any]:
        try:
            stat = self.path.stat()
        except OSError as exc:
            raise ConfiguratorUnavailableError(
                f"instances file {self.path} cannot be read ({exc.strerror or exc}); "
                "check configurator.url"
            ) from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._data = self._parse()
                self._stamp = stamp
            return self._data

    def _parse(self) -> dict[str, Any]:
        try:
            data = read_yaml_file(self.path, max_bytes=MAX_INSTANCES_FILE_BYTES)
        except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfiguratorUnavailableError(
                f"instances file {self.path} is not valid YAML/JSON: {first}"
            ) from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfiguratorUnavailableError(
                f"instances file {self.path} must map instance domains to their keys"
            )
        return data
