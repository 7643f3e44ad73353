"""The emulator application: seed, state, storage, faults and the route table, plus the one
place where a request becomes a response (faults, authentication, errors, persistence).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from . import admin
from .auth import authenticate, revoke, token
from .errors import ApiError, OAuthError
from .faults import FaultInjector
from .handlers import (
    account,
    account_update,
    comments,
    downloads,
    favorites,
    keys,
    node_updates,
    nodes,
    public,
    recycle_bin,
    rooms,
    s3,
    transfer,
    uploads,
    versions,
)
from .keygen import KeyGenerationUnavailable, generate_key_pair
from .messages import Request, Response
from .model import KEY_PAIR_VERSIONS
from .routing import Router
from .seed import SeedError, apply_seed, load_seed, parse_settings
from .state import State
from .storage import ContentStore

log = logging.getLogger("dracoon_emulator")

_READ_ONLY = {"GET", "HEAD"}


@dataclass
class Outcome:
    response: Response | None  # None: drop the connection without answering
    log_path: str
    user: str | None = None
    fault_injected: bool = False  # the answer (or the drop) came from a fault rule
    routed: bool = False  # a route matched: the emulator implements this operation


class EmulatorApp:
    def __init__(self, seed: dict | str | Path | None, data_dir: Path, *, persist: bool) -> None:
        self.seed = load_seed(seed)
        self.settings = parse_settings(self.seed)
        self.state = State(data_dir / "state.json" if persist else None)
        self.store = ContentStore(data_dir / "content", self.settings.storage)
        try:
            self.faults = FaultInjector(self.settings.faults)
        except ValueError as exc:
            raise SeedError(str(exc)) from None
        self.router = Router()
        self._register_routes()
        self._upload_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._seed_ready: dict | None = None
        if self.state.load_saved():
            self._fail_interrupted_s3_uploads()
        else:
            apply_seed(self.state, self._materialised_seed())
            self.save_state()

    # set-up ------------------------------------------------------------------------------
    def _register_routes(self) -> None:
        self.router.add("POST", "/oauth/token", token, auth=False)
        self.router.add("POST", "/oauth/revoke", revoke, auth=False)
        for family in (public, account, nodes, rooms, uploads, s3, keys, downloads, admin):
            family.register(self.router)
        # What DRACOON's own clients need beyond our client (official SDK workflows).
        for family in (
            node_updates,
            transfer,
            recycle_bin,
            versions,
            favorites,
            comments,
            account_update,
        ):
            family.register(self.router)

    def _materialised_seed(self) -> dict:
        """The seed with key pairs generated once, so a reset does not generate them again."""
        if self._seed_ready is None:
            seed = copy.deepcopy(self.seed)
            for user in seed.get("users") or []:
                if isinstance(user, dict):
                    self.materialise_key_pairs_for(user)
            self._seed_ready = seed
        return self._seed_ready

    def materialise_key_pairs_for(self, spec: dict) -> dict:
        """Generate the key pair of a user spec with ``encryption_password`` (in place)."""
        if (
            isinstance(spec, dict)
            and spec.get("key_pair") is None
            and isinstance(spec.get("encryption_password"), str)
            and spec["encryption_password"]
            and spec.get("key_pair_version", "RSA-4096") in KEY_PAIR_VERSIONS
        ):
            version = spec.get("key_pair_version", "RSA-4096")
            try:
                spec["key_pair"] = generate_key_pair(version, spec["encryption_password"])
            except KeyGenerationUnavailable as exc:
                raise SeedError(f"user {spec.get('login')!r}: {exc}") from None
        return spec

    def _fail_interrupted_s3_uploads(self) -> None:
        """An S3 completion cut short by a restart would poll as "finishing" forever."""
        for upload in self.state.uploads.values():
            if upload.status == "finishing":
                upload.status = "error"
                upload.error = ApiError(
                    500, None, "The emulator restarted while finishing this upload; upload again"
                ).body()

    def reset(self) -> None:
        with self.state.lock:
            self.state.clear()
            self.store.wipe()
            apply_seed(self.state, self._materialised_seed())
            self.faults.replace(self.settings.faults)
            self.save_state()

    def upload_lock(self, upload_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._upload_locks.setdefault(upload_id, threading.Lock())

    def save_state(self) -> None:
        try:
            self.state.save()
        except OSError as exc:
            log.error("could not persist emulator state: %s", exc)

    # requests ------------------------------------------------------------------------------
    def handle(self, req: Request) -> Outcome:
        log_path = req.path
        injected = routed = False
        try:
            if not req.path.startswith(admin.PREFIX + "/") or req.path.startswith(s3.S3_PREFIX):
                fault = self.faults.check(req.method, req.path)
                if fault is not None:
                    if fault.latency_seconds:
                        time.sleep(fault.latency_seconds)
                    if fault.drop_connection:
                        return Outcome(None, log_path + " [fault: dropped]", fault_injected=True)
                    if fault.error is not None:
                        injected = True
                        raise fault.error
                    req.finish_error = fault.finish_error
            route, params = self.router.match(req.method, req.path)
            routed = True
            log_path = route.redacted(params, req.path)
            req.path_params = params
            if route.auth:
                req.user = authenticate(self, req)
            response = route.handler(self, req)
            if req.method not in _READ_ONLY and response.status < 400:
                self.save_state()
        except ApiError as exc:
            response = Response(exc.status, exc.body(), dict(exc.headers))
        except OAuthError as exc:
            response = Response(exc.status, exc.body())
        except Exception as exc:  # a bug must still answer like DRACOON, never crash
            log.error("internal error on %s %s: %s", req.method, log_path, traceback.format_exc())
            body = ApiError(500, None, "Internal emulator error", type(exc).__name__).body()
            response = Response(500, body)
        user = req.user.login if req.user is not None else None
        return Outcome(response, log_path, user, injected, routed)
