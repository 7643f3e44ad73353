"""The verification rule of jobs.dedup: what makes a file with our marker a correct copy."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from recording_storage.jobs.dedup import complete_copies, copy_problem


def _node(size, raw=None, node_id=1, notes="m"):
    return SimpleNamespace(id=node_id, name=f"f{node_id}", size=size, notes=notes, raw=raw or {})


@pytest.mark.parametrize(
    ("node", "encrypted", "problem"),
    [
        (_node(10, {"isEncrypted": True}), True, None),
        (_node(10, {"isEncrypted": False}), False, None),
        (_node(10), True, None),  # a listing without isEncrypted is not judged on it
        (_node(None), None, "DRACOON reports no size for it"),
        (_node(15), None, "its size is 15 bytes, the recording has 10"),
        (_node(5), None, "its size is 5 bytes, the recording has 10"),
        (_node(10, {"isEncrypted": False}), True, "it is not encrypted but the room is"),
        (_node(10, {"isEncrypted": True}), False, "it is encrypted"),
    ],
)
def test_copy_problem(node, encrypted, problem):
    assert copy_problem(node, size=10, encrypted=encrypted) == problem


def test_complete_copies_splits_good_from_broken():
    nodes = [_node(10, node_id=1), _node(11, node_id=2), _node(10, node_id=3, notes="other")]
    client = SimpleNamespace(list_children=lambda *a, **k: iter(nodes))
    broken: list = []
    good = complete_copies(client, 7, lambda n: n.notes == "m", size=10, broken=broken)
    assert [n.id for n in good] == [1]
    assert [(n.id, problem) for n, problem in broken] == [
        (2, "its size is 11 bytes, the recording has 10")
    ]


def test_a_failed_listing_is_never_no_copies():
    def broken_listing(*args, **kwargs):
        raise RuntimeError("HTTP 503")

    client = SimpleNamespace(list_children=broken_listing)
    with pytest.raises(RuntimeError):
        complete_copies(client, 7, lambda n: True, size=10)
