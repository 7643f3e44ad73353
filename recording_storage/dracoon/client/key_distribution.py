"""Give other readers their copy of file keys (the "missing file keys" flow).

Only the uploader can decrypt a new encrypted file until someone with its file key wraps that
key for every other reader's public key. DRACOON lists the (user, file) pairs the caller can
fill in, at most 100 per request; pairs disappear from the list once set, so we ask again from
offset 0 after each batch instead of paging forward (forward paging skips entries as the list
shrinks). Pairs that fail (a broken public key, a file key we cannot read) are reported and
stepped over by moving the offset past them, so they never block the rest.

Every answer passes ``paging.Pager`` (shape, at most ``limit`` pairs, a sane total) and the
current job's cancel/deadline is checked between requests; a pass stops after
``MAX_ROUNDS`` requests (the sharer's next pass continues), and an answer whose pairs,
users or files have the wrong shape is a retryable DracoonAnswerError naming the endpoint.
"""

from __future__ import annotations

import logging
from typing import Any

from recording_storage.dracoon.crypto import (
    CryptoError,
    EncryptedFileKey,
    PlainFileKey,
    PublicKeyContainer,
    decrypt_file_key,
    encrypt_file_key,
)

from .auth import AuthorizedApi
from .errors import DracoonApiError
from .keys import KeyRing
from .models import FailedKey, KeyDistributionReport, answer_int, answer_list, answer_object
from .paging import Pager
from .recent_file_keys import RecentFileKeys
from .transport import RetryKind

log = logging.getLogger(__name__)

PAGE_LIMIT = 100  # the server's cap per request
MAX_ROUNDS = 10_000  # requests per pass (up to a million pairs); the next pass continues
ENDPOINT = "/v4/nodes/missingFileKeys"


def distribute_missing_keys(
    api: AuthorizedApi,
    keyring: KeyRing,
    *,
    file_id: int | None = None,
    room_id: int | None = None,
    recent_keys: RecentFileKeys | None = None,
) -> KeyDistributionReport:
    """Set every missing key in scope; ``recent_keys`` spares the unwrap of our own uploads."""
    report = KeyDistributionReport()
    given_up: set[tuple[int, int]] = set()
    plain_keys: dict[int, PlainFileKey | str] = {}  # file id -> key, or why we cannot read it
    offset = 0
    previous_page: list[tuple[int, int]] | None = None
    pager = Pager("GET", ENDPOINT, limit=PAGE_LIMIT, max_pages=None)
    for _ in range(MAX_ROUNDS):
        if pager.pages:
            pager.before_next_page()
        params = {"file_id": file_id, "room_id": room_id, "offset": offset, "limit": PAGE_LIMIT}
        try:
            answer = api.call("GET", ENDPOINT, params=params)
        except DracoonApiError as exc:
            scope = f"file {file_id}" if file_id else f"room {room_id}" if room_id else "account"
            raise exc.with_context(f"listing missing file keys ({scope})") from None
        page = pager.check(answer)
        pairs = [_pair(item) for item in page.items]
        if not pairs or pairs == previous_page:
            break
        previous_page = pairs
        todo = [p for p in pairs if p not in given_up]
        done = _fill_page(
            api, keyring, page.answer, todo, plain_keys, report, given_up, recent_keys
        )
        total = page.total
        if done == 0:
            # Nothing on this page can be set: step past it, or stop at the end of the list.
            offset += len(pairs)
            if total is not None and offset >= total:
                break
        else:
            # Set pairs dropped out of the list; the unset ones still sit before the rest.
            offset += len(pairs) - done
            if done == len(pairs) and total is not None and total <= len(pairs):
                break  # that page was the whole list and all of it is set: saves a request
    else:
        log.warning("missing-key distribution stopped after %d rounds", MAX_ROUNDS)
    return report


def _fill_page(
    api: AuthorizedApi,
    keyring: KeyRing,
    page: dict[str, Any],
    todo: list[tuple[int, int]],
    plain_keys: dict[int, PlainFileKey | str],
    report: KeyDistributionReport,
    given_up: set[tuple[int, int]],
    recent_keys: RecentFileKeys | None = None,
) -> int:
    """Wrap and store the keys of ``todo``; return how many (user, file) pairs were set."""
    public_keys = _containers(page, "users", "publicKeyContainer")
    file_key_copies = _containers(page, "files", "fileKeyContainer")

    def fail(pair: tuple[int, int], reason: str) -> None:
        given_up.add(pair)
        report.failed.append(FailedKey(user_id=pair[0], file_id=pair[1], reason=reason))
        log.warning("cannot set file key of file %s for user %s: %s", pair[1], pair[0], reason)

    per_user: dict[int, list[tuple[tuple[int, int], list[dict[str, Any]]]]] = {}
    for pair in todo:
        user_id, file_id = pair
        plain = plain_keys.get(file_id)
        if plain is None:
            copies = file_key_copies.get(file_id, [])
            known = recent_keys.lookup(file_id, copies) if recent_keys is not None else None
            plain = known or _read_file_key(keyring, copies)
            plain_keys[file_id] = plain
        if isinstance(plain, str):
            fail(pair, plain)
            continue
        wrapped, problems = [], []
        for container in public_keys.get(user_id, []):
            try:
                public = PublicKeyContainer.from_json(container)
                key = encrypt_file_key(plain, public)
            except (CryptoError, KeyError, TypeError, ValueError) as exc:
                problems.append(f"public key {container.get('version')!r}: {exc}")
                continue
            wrapped.append({"fileId": file_id, "userId": user_id, "fileKey": key.to_json()})
        if not wrapped:
            fail(pair, "; ".join(problems) or "the server listed no public key for the user")
            continue
        per_user.setdefault(user_id, []).append((pair, wrapped))

    if not per_user:
        return 0
    everything = [item for entries in per_user.values() for _, items in entries for item in items]
    try:
        _store(api, everything)
        report.keys_set += len(everything)
        return sum(len(entries) for entries in per_user.values())
    except DracoonApiError as exc:
        if exc.retryable:
            raise exc.with_context("storing file keys") from None
        log.info("storing a batch of file keys failed (%s); retrying user by user", exc.status)
    done = 0
    for entries in per_user.values():
        items = [item for _, batch in entries for item in batch]
        try:
            _store(api, items)
        except DracoonApiError as exc:
            if exc.retryable:
                raise exc.with_context("storing file keys") from None
            for pair, _ in entries:
                fail(pair, f"server refused the key: {exc}")
            continue
        report.keys_set += len(items)
        done += len(entries)
    return done


def _pair(item: dict[str, Any]) -> tuple[int, int]:
    """(userId, fileId) of one listed pair; both must be numbers."""
    user = answer_int(item.get("userId"), "GET", ENDPOINT, "an item's 'userId'")
    file = answer_int(item.get("fileId"), "GET", ENDPOINT, "an item's 'fileId'")
    return int(user), int(file)  # type: ignore[arg-type]


def _containers(page: dict[str, Any], key: str, container: str) -> dict[int, list[dict[str, Any]]]:
    """id -> key containers from the answer's ``users`` or ``files`` list, shape-checked."""
    found: dict[int, list[dict[str, Any]]] = {}
    entries = page.get(key)
    for entry in answer_list([] if entries is None else entries, "GET", ENDPOINT, f"'{key}'"):
        entry = answer_object(entry, "GET", ENDPOINT, f"an entry of '{key}'")
        number = answer_int(entry.get("id"), "GET", ENDPOINT, f"an entry's 'id' in '{key}'")
        value = entry.get(container)
        if value is not None:
            answer_object(value, "GET", ENDPOINT, f"'{container}' in '{key}'")
        found.setdefault(int(number), []).append(value or {})  # type: ignore[arg-type]
    return found


def _read_file_key(keyring: KeyRing, copies: list[dict[str, Any]]) -> PlainFileKey | str:
    """Decrypt our own copy of a file key; a string explains why that was impossible."""
    if not copies:
        return "the server sent no file key copy for the caller"
    reasons = []
    for copy in copies:
        try:
            encrypted = EncryptedFileKey.from_json(copy)
            pair = keyring.for_file_key(encrypted.version)
            if pair is None:
                reasons.append(f"no key pair for file key version {encrypted.version!r}")
                continue
            return decrypt_file_key(encrypted, pair)
        except (CryptoError, KeyError, TypeError, ValueError) as exc:
            reasons.append(str(exc))
    return "cannot decrypt the caller's file key: " + "; ".join(reasons)


def _store(api: AuthorizedApi, items: list[dict[str, Any]]) -> None:
    api.request(
        "POST", "/v4/nodes/files/keys", json_body={"items": items}, kind=RetryKind.REPEATABLE
    )
