"""Target dedup and room lookup compare room names the way DRACOON does: exactly, leaving any
other equality to the server (docs/configuration.md, "Targets and templates")."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

from recording_storage.dracoon.client.nodes import NodeService
from recording_storage.jobs.message import parse_message
from recording_storage.jobs.targets import resolve_targets, select_targets
from tests.jobs.conftest import readme_message


def _targets(*paths: str) -> list[tuple[str, ...]]:
    message = parse_message(json.dumps(readme_message(targets=[{"path": p} for p in paths])))
    return [t.room_path for t in resolve_targets(message, select_targets(message, []))]


def test_names_that_differ_only_in_case_or_by_folding_are_two_targets():
    assert _targets("Straße", "STRASSE", "strasse", "Talks", "talks") == [
        ("Straße",), ("STRASSE",), ("strasse",), ("Talks",), ("talks",)]  # fmt: skip


def test_exactly_equal_paths_after_nfc_are_one_target():
    assert _targets("a/cafe\u0301", "a/caf\u00e9", " a / caf\u00e9 ") == [("a", "caf\u00e9")]


class _Listing:
    """A NodeService API stub whose ``name:eq:`` filter answers what the server considers
    equal (here: case-insensitively, like the emulator)."""

    def __init__(self, rooms: list[tuple[int, str]]):
        self.rooms = rooms

    def call(self, method, path, params=None, **kwargs):
        wanted = (params or {}).get("filter", "").split("name:eq:")[-1].split("|")[0]
        items = [{"id": i, "name": n, "type": "room", "parentId": 1} for i, n in self.rooms
                 if n.casefold() == wanted.casefold()]  # fmt: skip
        return {"items": items, "range": {"offset": 0, "limit": 500, "total": len(items)}}


def test_find_room_takes_an_exact_name_first_and_never_guesses_by_folding():
    nodes = NodeService(_Listing([(7, "straße"), (8, "STRASSE")]))
    assert nodes.find_room(1, "STRASSE").id == 8
    nodes = NodeService(_Listing([(7, "Straße")]))
    assert nodes.find_room(1, "STRASSE") is None  # try to create it; the server decides
    assert nodes.find_room(1, "STRASSE", as_server_compares=True).id == 7  # after its 409


def test_targets_that_dracoon_treats_as_one_room_get_one_file(service, s3_bucket):
    """The emulator compares room names case-insensitively: "Talks" and "talks" (and
    "Straße"/"STRASSE", casefold) are one room there. Both targets are kept, the server's 409
    leads to the existing room, and the transfer uploads once into it."""
    data = os.urandom(3000)
    s3_bucket.put("k/v.mp4", data)
    message = readme_message(bucket=s3_bucket.name, keys=["k/v.mp4"],
                             targets=[{"path": "Talks"}, {"path": "talks"}])  # fmt: skip

    status, out, err = service.transfer(message)

    assert status == 0, err
    rooms = [n for n in service.nodes() if n["path"].lower() == "/recordings/talks"]
    assert len(rooms) == 1, rooms
    files = service.files_in(rooms[0]["path"])
    assert len(files) == 1 and len(out["files"]) == 1
    assert service.download_as("alice", files[0]["id"]) == data
    assert not s3_bucket.exists("k/v.mp4")


def test_unused_rules_and_empty_copy_to_are_not_errors():
    """A meeting type that no target uses stores nothing: ``copyTo: []`` is allowed."""
    from recording_storage.jobs.targets import parse_target_rules

    rules = parse_target_rules([{"meetingTypeId": 14, "copyTo": []},
                                {"meetingTypeId": 15, "copyTo": [{"path": "x"}]}])  # fmt: skip
    message = SimpleNamespace(targets=(), meeting=SimpleNamespace(type_id="14", type_name=None))
    assert select_targets(message, rules) == []
