"""The account's key pairs: fetched once, unlocked once per version, kept in memory.

Unlocking a private key costs about half a second (1.3 M PBKDF2 iterations), so a worker
unlocks each version at most once in its life. The *preferred* pair (used for new uploads)
follows the server's ``keyPairAlgorithms`` order, like the Java SDK: the first version the
user has. Other versions are unlocked only when a file key of that version must be read.
"""

from __future__ import annotations

import logging
import threading

from recording_storage.dracoon.crypto import (
    CryptoError,
    InvalidPasswordError,
    UserKeyPair,
    UserKeyPairContainer,
    file_key_version_for,
)

from .auth import AuthorizedApi
from .errors import DracoonApiError, KeyPairError
from .models import answer_list, answer_object

log = logging.getLogger(__name__)

KEY_PAIRS = "/v4/user/account/keypairs"
KEY_PAIR = "/v4/user/account/keypair"
POLICIES = "/v4/config/info/policies/algorithms"


class KeyRing:
    """Key pairs of one account (thread-safe, lazily loaded)."""

    def __init__(self, api: AuthorizedApi, username: str, encryption_password: str | None):
        self._api = api
        self._username = username
        self._password = encryption_password
        self._lock = threading.Lock()
        self._containers: dict[str, UserKeyPairContainer] | None = None
        self._unlocked: dict[str, UserKeyPair] = {}
        self._preferred_version: str | None = None
        self.unlocks = 0

    def __repr__(self) -> str:
        return f"KeyRing(user={self._username!r}, unlocked={sorted(self._unlocked)})"

    def preferred(self) -> UserKeyPair:
        """The key pair new uploads are encrypted for (unlocked on first use)."""
        with self._lock:
            version = self._preferred()
            return self._unlock(version)

    def for_file_key(self, file_key_version: str) -> UserKeyPair | None:
        """The unlocked key pair that can decrypt a file key of this version, if we have one."""
        with self._lock:
            for version in self._load():
                try:
                    if file_key_version_for(version) == file_key_version:
                        return self._unlock(version)
                except CryptoError:
                    continue
            return None

    def versions(self) -> list[str]:
        with self._lock:
            return list(self._load())

    @property
    def unlocked_versions(self) -> list[str]:
        """Versions whose private key is held unlocked in memory right now."""
        with self._lock:
            return sorted(self._unlocked)

    def forget(self) -> None:
        """Drop the unlocked private keys, the key containers and the encryption password.

        Called when the client is closed (e.g. evicted from the pool after a password
        change), so no unlocked private key outlives the client that needed it. A later
        use fails with a clear KeyPairError instead of silently unlocking again.
        """
        with self._lock:
            self._unlocked = {}
            self._containers = None
            self._preferred_version = None
            self._password = None

    # -- internals (called with the lock held) -------------------------------------------------

    def _load(self) -> dict[str, UserKeyPairContainer]:
        if self._containers is None:
            try:
                answer = self._api.call("GET", KEY_PAIRS)
            except DracoonApiError as exc:
                if exc.status == 404 and exc.error_code != -70020:
                    answer = None  # old server without the list endpoint: ask for the default
                else:
                    raise self._no_key_pair(exc) from None
            else:
                answer = answer_list(
                    [] if answer is None else answer, "GET", KEY_PAIRS, "the key pair list"
                )
            if answer is None:
                try:
                    single = self._api.call("GET", KEY_PAIR)
                except DracoonApiError as exc:
                    raise self._no_key_pair(exc) from None
                answer = [answer_object(single, "GET", KEY_PAIR, "the key pair")]
            containers: dict[str, UserKeyPairContainer] = {}
            for item in answer:
                try:
                    container = UserKeyPairContainer.from_json(
                        answer_object(item, "GET", KEY_PAIRS, "a key pair")
                    )
                except (CryptoError, KeyError, TypeError, ValueError, AttributeError) as exc:
                    log.warning("ignoring an unreadable key pair of %s: %s", self._username, exc)
                    continue
                containers.setdefault(container.private_key_container.version, container)
            if not containers:
                raise KeyPairError(
                    f"DRACOON user {self._username!r} has no key pair: log in to DRACOON once "
                    "and set up encryption (or create a key pair) before using encrypted rooms"
                )
            self._containers = containers
        return self._containers

    def _preferred(self) -> str:
        if self._preferred_version is None:
            containers = self._load()
            order: list[str] = []
            try:
                policy = self._api.call("GET", POLICIES) or {}
                policy = answer_object(policy, "GET", POLICIES)
                listed = policy.get("keyPairAlgorithms") or []
                algorithms = answer_list(listed, "GET", POLICIES, "'keyPairAlgorithms'")
                order = [
                    version
                    for a in algorithms
                    if isinstance(a, dict) and isinstance(version := a.get("version"), str)
                ]
            except DracoonApiError as exc:
                log.info("no crypto algorithm policy (%s); using the first key pair", exc.status)
            chosen = next((v for v in order if v in containers), None)
            self._preferred_version = chosen or next(iter(containers))
        return self._preferred_version

    def _unlock(self, version: str) -> UserKeyPair:
        pair = self._unlocked.get(version)
        if pair is not None:
            return pair
        if not self._password:
            raise KeyPairError(
                f"no encryption password configured for DRACOON user {self._username!r}; "
                "it is needed to use encrypted rooms"
            )
        container = self._load()[version]
        try:
            pair = UserKeyPair.unlock(container, self._password)
        except InvalidPasswordError:
            raise KeyPairError(
                f"the encryption password of DRACOON user {self._username!r} does not unlock "
                f"the {version} key pair; check the configured encryption password"
            ) from None
        except CryptoError as exc:
            raise KeyPairError(
                f"the {version} key pair of DRACOON user {self._username!r} is unusable: {exc}"
            ) from None
        self.unlocks += 1
        self._unlocked[version] = pair
        return pair

    def _no_key_pair(self, exc: DracoonApiError) -> Exception:
        """A 403/404 means "no key pair"; anything else stays an API error (maybe retryable)."""
        if exc.status in (403, 404):
            error: Exception = KeyPairError(
                f"DRACOON user {self._username!r} has no key pair ({exc}); set up encryption "
                "for this account before using encrypted rooms"
            )
        else:
            error = exc.with_context(f"reading the key pairs of {self._username!r}")
        error.__suppress_context__ = True
        return error
