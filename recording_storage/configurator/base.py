"""What every configurator returns (``InstanceConfig``) and the errors it raises.

An instance (a customer site, named by its domain) keeps its own DRACOON account and parent
room in the configurator. The keys are the original service's
(``recordings.storage``, ``recordings.dracoon.*``); both the HTTP configurator and the
``file:`` configurator hand back the same key map, flat (``"recordings.dracoon.login"``) or
nested (``recordings: {dracoon: {login: ...}}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from recording_storage.numbers import plain_int

STORAGE = "recordings.storage"
PARENT_ROOM_ID = "recordings.dracoon.parent-room-id"
LOGIN = "recordings.dracoon.login"
PASSWORD = "recordings.dracoon.password"  # noqa: S105 - a key name, not a password
ENCRYPTION_PASSWORD = "recordings.dracoon.encryption-password"  # noqa: S105
TARGETS = "recordings.dracoon.targets"
BASE_URL = "recordings.dracoon.base-url"


class ConfiguratorError(Exception):
    """Instance configuration could not be obtained or used.

    ``retryable`` says whether trying the same job again later can help without anybody
    changing anything (an outage) or not (unknown instance, broken configuration).
    """

    retryable = True


class ConfiguratorUnavailableError(ConfiguratorError):
    """The configurator did not answer usefully (connection, timeout, 5xx, malformed body)."""

    retryable = True


class UnknownInstanceError(ConfiguratorError):
    """The configurator has no instance with this domain."""

    retryable = False

    def __init__(self, domain: str, where: str):
        self.domain = domain
        super().__init__(f"instance {domain!r} is unknown to the configurator ({where})")


class InstanceConfigError(ConfiguratorError):
    """The instance's configuration is incomplete or invalid; ``problems`` names each key."""

    retryable = False

    def __init__(self, domain: str, problems: list[str]):
        self.domain = domain
        self.problems = list(problems)
        super().__init__(
            f"instance {domain!r} configuration is not usable: " + "; ".join(self.problems)
        )


@dataclass(frozen=True)
class InstanceConfig:
    """One instance's recording settings. Secrets are hidden from repr."""

    domain: str
    storage: str | None
    parent_room_id: int | None
    login: str | None
    password: str | None = field(repr=False)
    encryption_password: str | None = field(repr=False)
    targets: Any = field(repr=False)  # JSON text or already-parsed list (jobs.targets parses)
    base_url: str | None = None

    @property
    def uses_dracoon(self) -> bool:
        return (self.storage or "").strip().lower() == "dracoon"

    def require_dracoon(self) -> None:
        """Raise InstanceConfigError naming every missing DRACOON key (values never shown)."""
        problems = []
        if not self.uses_dracoon:
            problems.append(f"{STORAGE} is {self.storage!r}, not 'dracoon'")
        if self.parent_room_id is None:
            problems.append(f"{PARENT_ROOM_ID} is missing")
        if not self.login:
            problems.append(f"{LOGIN} is missing")
        if not self.password:
            problems.append(f"{PASSWORD} is missing")
        if problems:
            raise InstanceConfigError(self.domain, problems)

    @classmethod
    def from_mapping(cls, domain: str, data: Mapping[str, Any]) -> InstanceConfig:
        """Build from a configurator's key map; type problems name the key, never a value."""
        if not isinstance(data, Mapping):
            raise InstanceConfigError(domain, ["configuration must be an object of keys"])
        flat = flatten(data)
        problems: list[str] = []

        def string(key: str) -> str | None:
            value = flat.get(key)
            if value is None or value == "":
                return None
            if isinstance(value, bool) or not isinstance(value, str | int):
                problems.append(f"{key} must be a string")
                return None
            return str(value)

        parent: int | None = None
        raw_parent = flat.get(PARENT_ROOM_ID)
        if raw_parent not in (None, ""):
            try:
                if isinstance(raw_parent, bool) or not isinstance(raw_parent, int | str):
                    raise ValueError
                # A JSON number, or text of ASCII digits only (numbers.plain_int).
                parent = raw_parent if isinstance(raw_parent, int) else plain_int(raw_parent)
                if parent <= 0:
                    raise ValueError
            except ValueError:
                problems.append(
                    f"{PARENT_ROOM_ID} must be a positive room id written with the digits 0-9"
                )
        base_url = string(BASE_URL)
        if base_url and not base_url.startswith(("https://", "http://")):
            problems.append(f"{BASE_URL} must be an http(s) URL")
        config = cls(
            domain=domain,
            storage=string(STORAGE),
            parent_room_id=parent,
            login=string(LOGIN),
            password=string(PASSWORD),
            encryption_password=string(ENCRYPTION_PASSWORD),
            targets=flat.get(TARGETS),
            base_url=base_url.rstrip("/") if base_url else None,
        )
        if problems:
            raise InstanceConfigError(domain, problems)
        return config


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists (such as targets) are left as they are."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


class Configurator(Protocol):
    """Where instance configuration comes from (HTTP configurator or a local file)."""

    def get_instance(self, domain: str) -> InstanceConfig: ...

    def list_dracoon_instances(self) -> list[InstanceConfig]: ...

    def describe(self) -> str: ...
