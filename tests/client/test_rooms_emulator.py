"""Room path resolution against the emulator: find, create, inherit, validate, and many
concurrent creators (threads and processes) ending with exactly one room."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from recording_storage.dracoon.client import RoomNameError, RoomNotFoundError
from tests.support.emulator_fixtures import login_password

from .conftest import node_id, nodes


def rooms_named(server, name, parent_id):
    return [
        n
        for n in nodes(server)
        if n["type"] == "room" and n["name"] == name and n["parentId"] == parent_id
    ]


def test_resolve_creates_missing_levels_and_reuses_them(emulator, make_client):
    client = make_client(emulator)
    parent = node_id(emulator, "Recordings")
    leaf = client.resolve_room_path(parent, "Team A/2024/May")
    assert leaf.name == "May" and leaf.type == "room"
    assert leaf.is_encrypted  # sub-rooms of an encrypted room are encrypted
    again = make_client(emulator).resolve_room_path(parent, ["Team A", "2024", "May"])
    assert again.id == leaf.id
    team = rooms_named(emulator, "Team A", parent)
    assert len(team) == 1
    children = client.list_children(team[0]["id"], node_type="room")
    assert [n.name for n in children] == ["2024"]


def test_resolve_without_create(emulator, make_client):
    client = make_client(emulator)
    parent = node_id(emulator, "Plain")
    with pytest.raises(RoomNotFoundError, match="Nope"):
        client.resolve_room_path(parent, "Nope/Deeper", create=False)
    client.resolve_room_path(parent, "Yes")
    assert client.resolve_room_path(parent, "Yes", create=False).name == "Yes"


def test_invalid_names_are_refused_naming_the_part(emulator, make_client):
    client = make_client(emulator)
    parent = node_id(emulator, "Plain")
    before = len(nodes(emulator))
    for bad in ("ok/CON", "ok/-x", "ok/dot.", "ok/a:b", "ok/" + "x" * 151, "ok//x", "ok/.."):
        with pytest.raises(RoomNameError) as info:
            client.resolve_room_path(parent, bad)
        assert info.value.name in bad or info.value.name == ""
    assert len(nodes(emulator)) == before  # validated before anything was created


def test_sub_rooms_inherit_permissions(emulator, make_client, test_key_pairs):
    service = make_client(emulator)
    parent = node_id(emulator, "Plain")
    room = service.resolve_room_path(parent, "Shared/Inner")
    alice = make_client(emulator, "alice")
    assert alice.get_node(room.id).name == "Inner"  # alice reads Plain, so she reads Inner too


def test_concurrent_threads_create_one_room(emulator, make_client):
    parent = node_id(emulator, "Recordings")
    clients = [make_client(emulator) for _ in range(4)]  # 4 sessions, 3 threads each
    results, errors = [], []
    barrier = threading.Barrier(12)

    def work(client):
        try:
            barrier.wait()
            results.append(client.resolve_room_path(parent, "Race/Level2").id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(clients[i % 4],)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(results)) == 1
    race = rooms_named(emulator, "Race", parent)
    assert len(race) == 1
    assert len(rooms_named(emulator, "Level2", race[0]["id"])) == 1


def _resolve_in_process(base_url, password, parent, path, barrier, queue):
    from recording_storage.dracoon.client import DracoonClient

    client = DracoonClient(base_url, "service", password)
    try:
        barrier.wait(timeout=60)
        queue.put(client.resolve_room_path(parent, path).id)
    except Exception as exc:  # pragma: no cover - reported by the parent
        queue.put(repr(exc))
    finally:
        client.close()


def test_concurrent_processes_create_one_room(emulator):
    parent = node_id(emulator, "Plain")
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(3), ctx.Queue()
    procs = [
        ctx.Process(
            target=_resolve_in_process,
            args=(
                emulator.base_url,
                login_password("service"),
                parent,
                "ProcRace/Sub",
                barrier,
                queue,
            ),
        )
        for _ in range(3)
    ]
    for proc in procs:
        proc.start()
    answers = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    assert all(isinstance(a, int) for a in answers), answers
    assert len(set(answers)) == 1
    assert len(rooms_named(emulator, "ProcRace", parent)) == 1


def test_room_cache_keeps_no_lock_and_no_expired_entry(emulator, make_client):
    """A long-running service whose room templates name a new room every day must not keep
    one lock or one cache entry per room it ever used: a name's lock lives only while a
    thread resolves it, and an expired entry goes when the next room is resolved."""
    import time

    client = make_client(emulator, room_cache_seconds=0.2)
    service = client._nodes
    parent = node_id(emulator, "Plain")
    barrier = threading.Barrier(6)
    ids, errors = [], []

    def work(day):
        try:
            barrier.wait()
            ids.append((day, client.resolve_room_path(parent, f"Day {day}").id))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i % 3,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len({room for _, room in ids}) == 3  # one room per name, shared by its threads
    for day in range(3):
        assert len(rooms_named(emulator, f"Day {day}", parent)) == 1
    assert service._name_locks == {}
    time.sleep(0.3)
    client.resolve_room_path(parent, "Day 3")
    assert list(service._cache) == [(parent, "Day 3")]
    assert service._name_locks == {}
