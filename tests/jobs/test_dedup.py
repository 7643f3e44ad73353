"""The verification rule of jobs.dedup: what makes a file with our marker a correct copy."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from recording_storage.jobs.dedup import complete_copies, copy_problem, keep_oldest_copy
from recording_storage.jobs.errors import JobError


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


class _Room:
    """A fake client over a list of nodes: listing and deleting (a unit test of the rule)."""

    def __init__(self, nodes):
        self.nodes = {n.id: n for n in nodes}
        self.deleted: list[int] = []

    def list_children(self, *args, **kwargs):
        return iter(list(self.nodes.values()))

    def delete_file(self, node_id):
        self.deleted.append(node_id)
        return self.nodes.pop(node_id, None) is not None


def test_the_oldest_copy_is_kept_only_when_its_content_checks_out():
    """A concurrent run's older copy with other bytes (same size) is not kept: it is deleted
    with the reason, the next oldest that passes is kept, younger ones are removed unread."""
    room = _Room([_node(10, node_id=n) for n in (3, 5, 8, 9)])
    checked: list[int] = []

    def verify(node):
        checked.append(node.id)
        return "its content is not the recording's" if node.id == 3 else None

    kept = keep_oldest_copy(room, 7, room.nodes[8], lambda n: True, size=10, job_id="j",
                            verify=verify)  # fmt: skip

    assert kept.id == 5
    assert checked == [3, 5]  # oldest first, stops at the first good one; 8, 9 not read back
    assert sorted(room.deleted) == [3, 8, 9]


def test_no_copy_checks_out_keeps_the_s3_object():
    room = _Room([_node(10, node_id=4)])
    with pytest.raises(JobError) as failed:
        keep_oldest_copy(room, 7, room.nodes[4], lambda n: True, size=10, job_id="j",
                         verify=lambda node: "it cannot be read back")  # fmt: skip
    assert failed.value.retryable and "S3 object kept" in str(failed.value)
    assert room.deleted == [4]


def test_a_copy_that_cannot_be_checked_deletes_nothing():
    room = _Room([_node(10, node_id=4), _node(11, node_id=6)])

    def verify(node):
        raise ConnectionError("download broke off")

    with pytest.raises(ConnectionError):
        keep_oldest_copy(room, 7, room.nodes[4], lambda n: True, size=10, job_id="j",
                         verify=verify)  # fmt: skip
    assert room.deleted == []
