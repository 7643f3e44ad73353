"""One DRACOON session per instance account per process, shared by jobs and the sharer.

A ``DracoonClient`` holds the OAuth token, the unlocked private key (about a second of
PBKDF2 to unlock) and cached rooms, so creating one per job would cost a login and an unlock
every time. Clients are keyed by base URL, login and a digest of the credentials: when an
instance's password changes in the configurator the next job gets a fresh client.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable
from typing import Any

from recording_storage.config import Settings
from recording_storage.configurator import InstanceConfig
from recording_storage.dracoon.client import DracoonClient, UploadOptions
from recording_storage.dracoon.client.chunk_budget import set_upload_memory

ClientFactory = Callable[..., Any]


class DracoonClientPool:
    def __init__(
        self,
        settings: Settings,
        *,
        events: Any = None,
        factory: ClientFactory = DracoonClient,
    ):
        self._settings = settings
        memory = getattr(getattr(settings, "dracoon", None), "upload_memory", None)
        if memory:
            set_upload_memory(memory)  # one budget for every upload of this process
        self._events = events
        self._factory = factory
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def base_url_for(self, instance: InstanceConfig) -> str:
        """The instance's own DRACOON URL, else dracoon.baseUrl (a URL, never an account)."""
        return instance.base_url or self._settings.dracoon.base_url

    def client_for(self, instance: InstanceConfig) -> Any:
        """The cached client of the instance's account (created on first use)."""
        base_url = self.base_url_for(instance)
        digest = hashlib.sha256(
            f"{instance.password}\0{instance.encryption_password}".encode()
        ).hexdigest()
        key = (base_url, instance.login or "", digest)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                dracoon = self._settings.dracoon
                client = self._factory(
                    base_url,
                    instance.login,
                    instance.password,
                    client_id=dracoon.client_id,
                    client_secret=dracoon.client_secret,
                    encryption_password=instance.encryption_password or None,
                    timeout=float(dracoon.timeout_seconds),
                    call_deadline=float(dracoon.call_deadline_seconds),
                    events=self._events,
                    upload_options=UploadOptions(
                        s3_parallel_parts=dracoon.upload_parallel_parts,
                        read_ahead=dracoon.upload_read_ahead,
                        verify_hash=dracoon.verify_hash,
                    ),
                )
                self._clients[key] = client
            return client

    def account_key(self, instance: InstanceConfig) -> tuple[str, str]:
        """Instances sharing one DRACOON account (same URL and login) share one sharer pass."""
        return (self.base_url_for(instance), (instance.login or "").lower())

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            with contextlib.suppress(Exception):  # best effort at shutdown
                client.close()
