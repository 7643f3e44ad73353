"""The seed: the emulator's settings plus the users and rooms it starts with.

A seed is a YAML/JSON file or a dict (format in docs/emulator.md). ``add_user`` and
``add_room`` are also what the admin API uses, so runtime additions follow the same rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ApiError
from .keygen import KeyGenerationUnavailable, generate_key_pair
from .model import (
    KEY_PAIR_VERSIONS,
    PERMISSIONS,
    ROLE_IDS,
    ROOM,
    Node,
    User,
    now_iso,
)
from .rules import grant, new_room, ordered_permissions
from .state import State

MAX_SEED_BYTES = 64 * 1024 * 1024  # a seed is test data, never this big
MAX_SEED_VALUES = 2_000_000  # with every YAML alias expanded

DEFAULT_CLIENT_ID = "dracoon_legacy_scripting"

_SETTINGS_KEYS = {
    "s3_direct_upload",
    "s3_enforce_direct_upload",
    "token_lifetime_seconds",
    "refresh_token_lifetime_seconds",
    "download_url_lifetime_seconds",
    "s3_finishing_seconds",
    "s3_transfer_polls",
    "s3_finish_inline",
    "url_scheme",
    "storage",
    "crypto_enabled",
    "api_version",
    "oauth_clients",
    "users",
    "rooms",
    "faults",
}
_USER_KEYS = {
    "login",
    "password",
    "first_name",
    "last_name",
    "email",
    "encryption_password",
    "key_pair_version",
    "key_pair",
    "roles",
}
_ROOM_KEYS = {"path", "encrypted", "members", "inherit_permissions", "quota", "notes"}


class SeedError(ValueError):
    """The seed is not valid; the message names the offending key."""


@dataclass
class Settings:
    s3_direct_upload: bool = False
    s3_enforce_direct_upload: bool = False
    token_lifetime_seconds: float = 3600
    refresh_token_lifetime_seconds: float = 28800
    download_url_lifetime_seconds: float = 3600
    s3_finishing_seconds: float = 0.05
    # Status polls after ``PUT .../s3`` that still answer "transfer" (a slow server), and
    # whether completion finishes before the 202 (a server whose first poll says "done").
    s3_transfer_polls: int = 0
    s3_finish_inline: bool = False
    # Scheme of the URLs the emulator hands out (uploadUrl, downloadUrl, S3 part URLs):
    # "https" when a TLS-terminating proxy sits in front (clients that insist on https).
    url_scheme: str = "http"
    storage: str = "disk"
    crypto_enabled: bool = True
    api_version: str = "4.42.3"
    oauth_clients: dict[str, str] = field(default_factory=lambda: {DEFAULT_CLIENT_ID: ""})
    faults: list[dict] = field(default_factory=list)


def load_seed(seed: dict | str | Path | None) -> dict:
    """Read a seed from a dict, a YAML/JSON file path, or nothing (an empty emulator)."""
    if seed is None:
        return {}
    if isinstance(seed, dict):
        return seed
    path = Path(seed)
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_SEED_BYTES + 1)
    except OSError as exc:
        raise SeedError(f"cannot read seed file {path}: {exc.strerror}") from None
    if len(raw) > MAX_SEED_BYTES:
        raise SeedError(f"seed file {path}: refused, larger than {MAX_SEED_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
        data = json.loads(text) if path.suffix == ".json" else _load_yaml(text, path)
    except SeedError:
        raise
    except (ValueError, yaml.YAMLError) as exc:
        raise SeedError(f"seed file {path} is not valid YAML/JSON: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SeedError(f"seed file {path} must contain a mapping at the top level")
    return data


class _SeedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a document whose aliases expand to too many values.

    Nine lines of nested aliases can stand for 10^9 values ("billion laughs"): loading is
    cheap, but whatever walks the result afterwards hangs. The service guards its own inputs
    with ``recording_storage.safe_yaml``; the emulator does not depend on the service, so it
    counts here, while composing: every node knows how many values it stands for with its
    aliases expanded, and an alias costs what its anchor does. PyYAML's own ``safe_dump``
    writes aliases for shared values, so aliases as such stay allowed.
    """

    def __init__(self, text: str, path: Path) -> None:
        super().__init__(text)
        self.path = path
        self._values: dict[int, int] = {}  # id(node) -> values with aliases expanded

    def compose_node(self, parent: Any, index: Any) -> Any:
        alias = self.check_event(yaml.AliasEvent)
        node = super().compose_node(parent, index)
        if alias:
            if id(node) not in self._values:  # its anchor is still open: &a [*a]
                raise SeedError(f"seed file {self.path}: refused, an alias refers to itself")
            return node
        children = node.value if isinstance(node, yaml.SequenceNode) else []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        values = 1 + sum(self._values[id(child)] for child in children)
        if values > MAX_SEED_VALUES:
            raise SeedError(
                f"seed file {self.path}: refused, its aliases expand to more than "
                f"{MAX_SEED_VALUES} values (an alias bomb?)"
            )
        self._values[id(node)] = values
        return node


def _load_yaml(text: str, path: Path) -> Any:
    loader = _SeedLoader(text, path)
    try:
        return loader.get_single_data()
    except RecursionError:  # "[[[[..." exhausts the composer's stack
        raise SeedError(f"seed file {path}: refused, nested too deeply") from None
    finally:
        loader.dispose()


def parse_settings(seed: dict) -> Settings:
    unknown = set(seed) - _SETTINGS_KEYS
    if unknown:
        raise SeedError(f"unknown seed keys: {', '.join(sorted(unknown))}")
    settings = Settings()
    if "url_scheme" in seed:
        if seed["url_scheme"] not in ("http", "https"):
            raise SeedError(f"url_scheme must be 'http' or 'https', got {seed['url_scheme']!r}")
        settings.url_scheme = seed["url_scheme"]
    if "s3_transfer_polls" in seed:
        polls = seed["s3_transfer_polls"]
        if isinstance(polls, bool) or not isinstance(polls, int) or polls < 0:
            raise SeedError(f"s3_transfer_polls must be an integer >= 0, got {polls!r}")
        settings.s3_transfer_polls = polls
    for key in (
        "s3_direct_upload",
        "s3_enforce_direct_upload",
        "s3_finish_inline",
        "crypto_enabled",
    ):
        if key in seed:
            setattr(settings, key, _bool(seed[key], key))
    for key in (
        "token_lifetime_seconds",
        "refresh_token_lifetime_seconds",
        "download_url_lifetime_seconds",
        "s3_finishing_seconds",
    ):
        if key in seed:
            value = seed[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise SeedError(f"{key} must be a number >= 0, got {value!r}")
            setattr(settings, key, value)
    if "storage" in seed:
        if seed["storage"] not in ("disk", "discard"):
            raise SeedError(f"storage must be 'disk' or 'discard', got {seed['storage']!r}")
        settings.storage = seed["storage"]
    if "api_version" in seed:
        settings.api_version = str(seed["api_version"])
    if "oauth_clients" in seed:
        clients = seed["oauth_clients"]
        if not isinstance(clients, list) or not clients:
            raise SeedError("oauth_clients must be a non-empty list of {client_id, client_secret}")
        settings.oauth_clients = {}
        for index, client in enumerate(clients):
            if not isinstance(client, dict) or not isinstance(client.get("client_id"), str):
                raise SeedError(f"oauth_clients[{index}] needs a string client_id")
            settings.oauth_clients[client["client_id"]] = str(client.get("client_secret") or "")
    if "faults" in seed:
        if not isinstance(seed["faults"], list):
            raise SeedError("faults must be a list of rules")
        settings.faults = seed["faults"]
    return settings


def apply_seed(state: State, seed: dict) -> None:
    """Create the seed's users, then its rooms, in order."""
    users = seed.get("users") or []
    rooms = seed.get("rooms") or []
    if not isinstance(users, list) or not isinstance(rooms, list):
        raise SeedError("users and rooms must be lists")
    for index, spec in enumerate(users):
        add_user(state, spec, where=f"users[{index}]")
    for index, spec in enumerate(rooms):
        add_room(state, spec, where=f"rooms[{index}]")


def add_user(state: State, spec: Any, *, where: str = "user") -> User:
    if not isinstance(spec, dict):
        raise SeedError(f"{where} must be a mapping")
    unknown = set(spec) - _USER_KEYS
    if unknown:
        raise SeedError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    login = spec.get("login")
    if not isinstance(login, str) or not login:
        raise SeedError(f"{where}: login is required")
    if not isinstance(spec.get("password"), str) or not spec["password"]:
        raise SeedError(f"{where} ({login}): password is required")
    roles = spec.get("roles") or []
    if not isinstance(roles, list) or any(r not in ROLE_IDS for r in roles):
        raise SeedError(f"{where} ({login}): roles must be a list of {', '.join(ROLE_IDS)}")
    key_pairs = _seed_key_pairs(spec, where, login)
    with state.lock:
        if state.user_by_login(login) is not None:
            raise SeedError(f"{where}: login {login!r} exists already")
        user = User(
            id=state.new_user_id(),
            login=login,
            password=spec["password"],
            first_name=str(spec.get("first_name") or login.capitalize()),
            last_name=str(spec.get("last_name") or "Emulated"),
            email=str(spec.get("email") or f"{login}@emulator.invalid"),
            roles=list(dict.fromkeys(["USER", *roles])),
            key_pairs=key_pairs,
        )
        state.users[user.id] = user
    return user


def _seed_key_pairs(spec: dict, where: str, login: str) -> dict[str, dict]:
    version = spec.get("key_pair_version", "RSA-4096")
    if version not in KEY_PAIR_VERSIONS:
        raise SeedError(f"{where} ({login}): key_pair_version must be RSA-4096 or A")
    container = spec.get("key_pair")
    if container is not None:
        try:
            public = container["publicKeyContainer"]
            private = container["privateKeyContainer"]
            pair_version = public["version"]
            valid = (
                pair_version in KEY_PAIR_VERSIONS
                and private["version"] == pair_version
                and isinstance(public["publicKey"], str)
                and isinstance(private["privateKey"], str)
            )
        except (KeyError, TypeError):
            valid = False
        if not valid:
            raise SeedError(f"{where} ({login}): key_pair must be a UserKeyPairContainer JSON")
        return {pair_version: _stamp(container)}
    password = spec.get("encryption_password")
    if password is None:
        return {}
    if not isinstance(password, str) or not password:
        raise SeedError(f"{where} ({login}): encryption_password must be a non-empty string")
    try:
        pair = generate_key_pair(version, password)
    except KeyGenerationUnavailable as exc:
        raise SeedError(f"{where} ({login}): {exc}") from None
    return {version: _stamp(pair)}


def _stamp(container: dict) -> dict:
    """Copy a key pair container and add ``createdAt`` as the API returns it."""
    stamped = {
        "privateKeyContainer": dict(container["privateKeyContainer"]),
        "publicKeyContainer": dict(container["publicKeyContainer"]),
    }
    created = now_iso()
    for part in stamped.values():
        part.setdefault("createdAt", created)
    return stamped


def parse_permissions(value: Any, where: str) -> list[str]:
    """A list of permission names, or the shorthands ``all`` / ``read``."""
    if value == "all":
        return list(PERMISSIONS)
    if value == "read":
        return ["read"]
    if isinstance(value, dict):
        value = [name for name, granted in value.items() if granted]
    if not isinstance(value, list) or any(p not in PERMISSIONS for p in value):
        raise SeedError(f"{where}: permissions must be 'all' or a list of {', '.join(PERMISSIONS)}")
    return ordered_permissions(value)


def add_room(state: State, spec: Any, *, where: str = "room") -> Node:
    """Create the room at ``path`` (and missing parent rooms); returns the leaf room."""
    if not isinstance(spec, dict):
        raise SeedError(f"{where} must be a mapping")
    unknown = set(spec) - _ROOM_KEYS
    if unknown:
        raise SeedError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    path = spec.get("path")
    if not isinstance(path, str) or not path.strip("/"):
        raise SeedError(f"{where}: path is required, e.g. Recordings or Recordings/Sub")
    names = [part for part in path.strip("/").split("/") if part]
    encrypted = _bool(spec.get("encrypted", False), f"{where}.encrypted")
    members = spec.get("members") or []
    if not isinstance(members, list):
        raise SeedError(f"{where}: members must be a list of {{login, permissions}}")
    with state.lock:
        grants: dict[int, list[str]] = {}
        for index, member in enumerate(members):
            if not isinstance(member, dict) or not isinstance(member.get("login"), str):
                raise SeedError(f"{where}.members[{index}] needs a login")
            user = state.user_by_login(member["login"])
            if user is None:
                raise SeedError(f"{where}.members[{index}]: unknown login {member['login']!r}")
            grants[user.id] = parse_permissions(
                member.get("permissions", "all"), f"{where}.members[{index}]"
            )
        parent: Node | None = None
        for depth, name in enumerate(names):
            existing = state.child_named(parent.id if parent else None, name)
            leaf = depth == len(names) - 1
            if existing is not None:
                if existing.type != ROOM:
                    raise SeedError(f"{where}: {name!r} exists and is not a room")
                if leaf and existing.encrypted != encrypted:
                    raise SeedError(f"{where}: room {path!r} exists with another encryption")
                parent = existing
                continue
            # Rooms on the way to the leaf inherit; a top-level room never does (the seed
            # drops the flag there rather than refusing it).
            inherit = spec.get("inherit_permissions", parent is not None) if leaf else True
            try:
                parent = new_room(
                    state,
                    name,
                    parent,
                    created_by=0,
                    encrypted=encrypted,
                    inherit=bool(inherit) and parent is not None,
                    quota=spec.get("quota") if leaf else None,
                    notes=spec.get("notes") if leaf else None,
                )
            except ApiError as exc:
                raise SeedError(f"{where}: room {name!r}: {exc.message}") from None
        assert parent is not None
        for user_id, perms in grants.items():
            grant(parent, user_id, perms)
        return parent


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise SeedError(f"{key} must be true or false, got {value!r}")
    return value
