"""Per-instance configuration: the HTTP configurator client and the local ``file:`` variant.

``make_configurator(settings)`` picks one from ``configurator.url``.
"""

from __future__ import annotations

from recording_storage.config import Settings
from recording_storage.configurator.base import (
    Configurator,
    ConfiguratorError,
    ConfiguratorUnavailableError,
    InstanceConfig,
    InstanceConfigError,
    UnknownInstanceError,
)
from recording_storage.configurator.file import FileConfigurator
from recording_storage.configurator.http import HttpConfigurator


def make_configurator(settings: Settings) -> Configurator:
    """The configurator selected by ``configurator.url`` (file: or http(s):)."""
    conf = settings.configurator
    if conf.file_path is not None:
        return FileConfigurator(conf.file_path)
    return HttpConfigurator(
        conf.url,
        token=conf.token,
        timeout=conf.timeout_seconds,
        retries=conf.retries,
        cache_ttl=conf.cache_ttl_seconds,
        call_deadline=conf.call_deadline_seconds,
    )


__all__ = [
    "Configurator",
    "ConfiguratorError",
    "ConfiguratorUnavailableError",
    "FileConfigurator",
    "HttpConfigurator",
    "InstanceConfig",
    "InstanceConfigError",
    "UnknownInstanceError",
    "make_configurator",
]
