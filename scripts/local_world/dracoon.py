"""The DRACOON side of a local world: the emulator, its admin API, key pairs, reading back.

The emulator (``dracoon-emulator``, docs/emulator.md) runs as a subprocess seeded with
users and rooms. Its admin API (``/emulator/...``) shows what the service did from outside;
``read_back`` downloads and decrypts a file as a room member, which proves the file keys
were shared. Generating an RSA-4096 key pair takes seconds, so ``with_cached_key_pairs``
does it once per user and password and keeps the pairs on disk.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.local_world.aws import clean_env
from scripts.local_world.http import http_json
from scripts.local_world.processes import Process, ProcessGroup

KEY_PAIR_VERSION = "RSA-4096"


def start_emulator(
    group: ProcessGroup, seed: dict[str, Any], run_dir: Path, logs: Path
) -> tuple[str, Process]:
    """Start the emulator (``dracoon-emulator``) on a free port with ``seed``; returns (base
    URL, process)."""
    seed_path = run_dir / "dracoon-seed.json"
    seed_path.write_text(json.dumps(seed, indent=1))
    # ``-m`` rather than the ``dracoon-emulator`` script: the interpreter that runs the world
    # has the emulator whether or not an upgraded venv kept the script (a pip upgrade that
    # moved the script from one distribution to another removed it).
    argv = [sys.executable, "-m", "dracoon_emulator.cli", "--addr", "127.0.0.1:0"]
    argv += ["--seed", str(seed_path)]
    log, out = logs / "dracoon-emulator.log", logs / "dracoon-emulator.out"
    process = group.start("the DRACOON emulator", argv, log, clean_env(), stdout=out)
    return process.wait_for_line("listening on "), process


@dataclass
class EmulatorAdmin:
    """The emulator's admin API at ``base_url`` (the emulator's root, not ``/api/v4``)."""

    base_url: str

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v4"

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """``path`` below ``/emulator`` (``/nodes``, ``/users``, ``/faults``, ``/uploads``)."""
        return http_json(method, f"{self.base_url}/emulator{path}", body)

    def nodes(self) -> list[dict[str, Any]]:
        nodes: list[dict[str, Any]] = self.admin("GET", "/nodes")
        return nodes

    def node(self, path: str) -> dict[str, Any] | None:
        return next((n for n in self.nodes() if n["path"] == path), None)

    def below(self, path: str, kind: str) -> list[dict[str, Any]]:
        """Nodes of ``kind`` (room, folder, file) anywhere below ``path``."""
        prefix = path.rstrip("/") + "/"
        return [n for n in self.nodes() if n["type"] == kind and n["path"].startswith(prefix)]

    def logins_by_id(self) -> dict[int, str]:
        return {user["id"]: user["login"] for user in self.admin("GET", "/users")}

    def refuse(self, method: str, path_pattern: str, status: int) -> None:
        """From now on answer ``method`` on paths matching ``path_pattern`` with ``status``."""
        rule = {"method": method, "path": path_pattern, "status": status}
        self.admin("POST", "/faults", {"rules": [rule]})


def _generate_key_pair(login: str, password: str) -> tuple[str, dict[str, Any]]:
    from recording_storage.dracoon.crypto import generate_user_key_pair

    return login, generate_user_key_pair(KEY_PAIR_VERSION, password).to_json()


def with_cached_key_pairs(
    seed: dict[str, Any], cache: Path, announce: Callable[[list[str]], None] = lambda _: None
) -> dict[str, Any]:
    """A copy of ``seed`` with each user's ``encryption_password`` replaced by a key pair.

    The pairs are generated in parallel the first time (``announce`` is told for whom) and
    cached in ``cache`` (one JSON file per login, valid while the password is the same), so
    the emulator starts in well under a second.
    """
    cache.mkdir(parents=True, exist_ok=True)
    seed = copy.deepcopy(seed)
    users = [u for u in seed.get("users", []) if u.get("encryption_password")]
    pairs: dict[str, dict[str, Any]] = {}
    wanted: dict[str, str] = {}
    for user in users:
        try:
            cached = json.loads(_cache_file(cache, user["login"]).read_text())
            if cached["encryption_password"] == user["encryption_password"]:
                pairs[user["login"]] = cached["key_pair"]
                continue
        except (OSError, ValueError, KeyError):
            pass
        wanted[user["login"]] = user["encryption_password"]
    if wanted:
        announce(list(wanted))
        with ProcessPoolExecutor(max_workers=min(len(wanted), os.cpu_count() or 1)) as pool:
            for login, pair in pool.map(_generate_key_pair, wanted, wanted.values()):
                path = _cache_file(cache, login)
                temp = path.with_suffix(".tmp")
                temp.write_text(
                    json.dumps({"key_pair": pair, "encryption_password": wanted[login]})
                )
                temp.replace(path)
                pairs[login] = pair
    for user in users:
        user["key_pair"] = pairs[user["login"]]
        del user["encryption_password"]
    return seed


def _cache_file(cache: Path, login: str) -> Path:
    return cache / f"{login}-{KEY_PAIR_VERSION}.json"


@dataclass
class ReadBack:
    """What a room member got: the decrypted size and SHA-256, and how long it took."""

    size: int
    sha256: str
    seconds: float


def read_back(
    api_url: str, login: str, password: str, encryption_password: str, file_id: int
) -> ReadBack:
    """Download file ``file_id`` as ``login`` and decrypt it with their own key, hashing it
    on the way (nothing is stored)."""
    from recording_storage.dracoon.client import DracoonClient

    class HashingWriter:
        def __init__(self) -> None:
            self.size = 0
            self.sha256 = hashlib.sha256()

        def write(self, data: bytes) -> int:
            self.size += len(data)
            self.sha256.update(data)
            return len(data)

    started = time.monotonic()
    out = HashingWriter()
    client = DracoonClient(api_url, login, password, encryption_password=encryption_password)
    try:
        client.download(file_id, out)
    finally:
        client.close()
    return ReadBack(out.size, out.sha256.hexdigest(), time.monotonic() - started)
