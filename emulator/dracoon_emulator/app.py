"""The emulator's wire layer: the route table and the one place where a request becomes a
response (fault injection, authentication, errors, persistence after a change).

State and rules live in the ``Backend`` (backend.py); handlers get the backend, never this
object, so handlers import ``backend`` and only this module imports ``handlers``.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from . import admin
from .auth import authenticate, revoke, token
from .backend import Backend
from .errors import ApiError, OAuthError
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
from .messages import Request, Response
from .routing import Router
from .seed import Settings
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
        self.backend = Backend(seed, data_dir, persist=persist)
        self.router = Router()
        self._register_routes()

    # What tests and the server read: the backend's parts.
    @property
    def state(self) -> State:
        return self.backend.state

    @property
    def store(self) -> ContentStore:
        return self.backend.store

    @property
    def settings(self) -> Settings:
        return self.backend.settings

    def save_state(self) -> None:
        self.backend.save_state()

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

    # requests ------------------------------------------------------------------------------
    def handle(self, req: Request) -> Outcome:
        log_path = req.path
        injected = routed = False
        try:
            if not req.path.startswith(admin.PREFIX + "/") or req.path.startswith(s3.S3_PREFIX):
                fault = self.backend.faults.check(req.method, req.path)
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
                req.user = authenticate(self.backend, req)
            response = route.handler(self.backend, req)
            if req.method not in _READ_ONLY and response.status < 400:
                self.backend.state_changed()
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
