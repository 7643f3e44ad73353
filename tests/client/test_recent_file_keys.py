"""RecentFileKeys: a plain key is only handed out for the exact encrypted copy we sent."""

from __future__ import annotations

from recording_storage.dracoon.client.recent_file_keys import RecentFileKeys
from recording_storage.dracoon.crypto import PlainFileKey


def _copy(tag: str) -> dict:
    return {"version": "RSA-4096/AES-256-GCM", "key": tag, "iv": "aXY=", "tag": "dGFn"}


def test_lookup_needs_the_copy_that_was_sent():
    keys = RecentFileKeys()
    plain = PlainFileKey.generate()
    keys.remember(7, _copy("sent"), plain)
    assert keys.lookup(7, [_copy("other"), _copy("sent")]) is plain
    # the file was replaced meanwhile (e.g. an overwrite from elsewhere): unwrap as usual
    assert keys.lookup(7, [_copy("replaced")]) is None
    assert keys.lookup(7, []) is None
    assert keys.lookup(8, [_copy("sent")]) is None


def test_bounded_newest_kept_and_no_key_in_repr():
    keys = RecentFileKeys(capacity=2)
    plains = [PlainFileKey.generate() for _ in range(3)]
    for file_id, plain in enumerate(plains):
        keys.remember(file_id, _copy(f"k{file_id}"), plain)
    assert len(keys) == 2
    assert keys.lookup(0, [_copy("k0")]) is None
    assert keys.lookup(2, [_copy("k2")]) is plains[2]
    assert plains[2].key.hex() not in repr(keys) and "k2" not in repr(keys)
    disabled = RecentFileKeys(capacity=0)
    disabled.remember(1, _copy("k"), plains[0])
    assert disabled.lookup(1, [_copy("k")]) is None
