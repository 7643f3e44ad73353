"""One DRACOON session per instance account per process, shared by jobs and the sharer.

A ``DracoonClient`` holds the OAuth token, the unlocked private key (about a second of
PBKDF2 to unlock) and cached rooms, so creating one per job would cost a login and an unlock
every time. Clients are keyed by base URL and login, and remember a digest of the
credentials: when an instance's password changes in the configurator the next job gets a
fresh client and the old one is evicted.

Eviction must not break a call still running on the old client (the read-once uploads of
one job run in several threads), so callers take a *lease* (``with pool.lease(instance) as
client``) for as long as they use a client. The pool counts leases per client. An evicted
client leaves the pool at once (no new lease can reach it) and is closed -- tokens revoked,
private keys and file keys dropped, connections closed -- by whoever releases its last
lease, or at once when nobody holds it. A client unused for ``IDLE_SECONDS`` is evicted the
same way on the next pool access. A refcount was chosen over weak references or a reaper
thread: it closes deterministically, exactly once, in the thread that finished with the
client, and needs no background thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from recording_storage.config import Settings
from recording_storage.configurator import InstanceConfig
from recording_storage.dracoon.client import DracoonClient, UploadOptions
from recording_storage.dracoon.client.chunk_budget import set_upload_memory

ClientFactory = Callable[..., Any]

# A client nobody used for this long is closed on the next pool access: its tokens and
# unlocked private key do not stay in memory for the life of the process. Long enough that
# an account with steady recordings keeps its session (a new one costs a login and a PBKDF2
# unlock of about a second); the sharer (default pass every 60 minutes) logs in per pass.
IDLE_SECONDS = 15 * 60

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Entry:
    """One pooled client, the credentials it was made with, its leases and last use."""

    client: Any
    digest: str
    leases: int = 0
    last_used: float = 0.0
    evicted: bool = False
    closed: bool = False


class DracoonClientPool:
    """Clients by (base URL, login); see the module docstring for leases and eviction."""

    def __init__(
        self,
        settings: Settings,
        *,
        events: Any = None,
        factory: ClientFactory = DracoonClient,
        idle_seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._settings = settings
        memory = getattr(getattr(settings, "dracoon", None), "upload_memory", None)
        if memory:
            set_upload_memory(memory)  # one budget for every upload of this process
        self._events = events
        self._factory = factory
        self._idle_seconds = idle_seconds
        self._clock = clock
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()

    def base_url_for(self, instance: InstanceConfig) -> str:
        """The instance's own DRACOON URL, else dracoon.baseUrl (a URL, never an account)."""
        return instance.base_url or self._settings.dracoon.base_url

    @contextlib.contextmanager
    def lease(self, instance: InstanceConfig) -> Iterator[Any]:
        """The instance account's client, held (never closed by eviction) until the block ends."""
        entry = self._acquire(instance)
        try:
            yield entry.client
        finally:
            self._release(entry)

    def client_for(self, instance: InstanceConfig) -> Any:
        """The current client of the instance's account, without a lease.

        Only for a quick look (tests, one-off calls): an eviction may close it while it is
        used. Jobs and the sharer use :meth:`lease`.
        """
        entry = self._acquire(instance)
        self._release(entry)
        return entry.client

    def account_key(self, instance: InstanceConfig) -> tuple[str, str]:
        """Instances sharing one DRACOON account (same URL and login) share one sharer pass."""
        return (self.base_url_for(instance), (instance.login or "").lower())

    def close(self) -> None:
        """Close every client now (process shutdown: nothing runs any more)."""
        with self._lock:
            entries, self._entries = list(self._entries.values()), {}
            for entry in entries:
                entry.evicted = True
        for entry in entries:
            self._close(entry)

    # -- internals ------------------------------------------------------------------------

    def _acquire(self, instance: InstanceConfig) -> _Entry:
        base_url = self.base_url_for(instance)
        digest = hashlib.sha256(
            f"{instance.password}\0{instance.encryption_password}".encode()
        ).hexdigest()
        key = (base_url, instance.login or "")
        idle: list[_Entry] = []
        try:
            with self._lock:
                now = self._clock()
                idle = self._evict_idle(now)
                entry = self._entries.get(key)
                if entry is not None and entry.digest != digest:
                    # The configurator now has other credentials: new leases get a new client.
                    del self._entries[key]
                    entry.evicted = True
                    if entry.leases == 0:
                        idle.append(entry)
                    entry = None
                if entry is None:
                    entry = _Entry(self._make(base_url, instance), digest, last_used=now)
                    self._entries[key] = entry
                entry.leases += 1
                entry.last_used = now
                return entry
        finally:
            for old in idle:  # outside the lock: closing revokes tokens over the network
                self._close(old)

    def _release(self, entry: _Entry) -> None:
        with self._lock:
            entry.leases -= 1
            entry.last_used = self._clock()
            close_now = entry.evicted and entry.leases == 0
        if close_now:
            self._close(entry)

    def _evict_idle(self, now: float) -> list[_Entry]:
        """Remove the clients idle for too long (lock held); the caller closes them."""
        stale = [
            key
            for key, entry in self._entries.items()
            if entry.leases == 0 and now - entry.last_used >= self._idle_seconds
        ]
        evicted = []
        for key in stale:
            entry = self._entries.pop(key)
            entry.evicted = True
            evicted.append(entry)
        return evicted

    def _close(self, entry: _Entry) -> None:
        with self._lock:
            if entry.closed:
                return
            entry.closed = True
        try:
            entry.client.close()
        except Exception as exc:  # best effort: the tokens expire on their own
            log.info("closing an evicted DRACOON client failed: %s", type(exc).__name__)

    def _make(self, base_url: str, instance: InstanceConfig) -> Any:
        dracoon = self._settings.dracoon
        return self._factory(
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
