"""Faults injected by the emulator: 429 with Retry-After, 5xx, dropped connections, token
expiry in the middle of an upload. Uploads still finish with one correct file."""

from __future__ import annotations

import io
import os

import pytest

from recording_storage.dracoon.client import (
    DracoonApiError,
    DracoonAuthError,
    UploadInterruptedError,
)

from .conftest import Events, admin, node_id, nodes

KiB = 1024
MiB = 1024 * KiB


def faults(server, *rules):
    admin(server, "POST", "/emulator/faults", {"rules": list(rules)})


def check_roundtrip(client, node, data):
    out = io.BytesIO()
    client.download(node.id, out)
    assert out.getvalue() == data


@pytest.mark.parametrize(
    "rule",
    [
        {
            "method": "POST",
            "path": r"/api/v4/uploads/",
            "status": 429,
            "retry_after": 1,
            "count": 1,
        },
        {"method": "GET", "path": r"/api/v4/nodes/\d+$", "status": 500, "count": 2},
    ],
    ids=["chunk-429", "get-500"],
)
def test_classic_upload_survives(emulator, make_client, rule):
    events = Events()
    client = make_client(emulator, events=events)
    client.login()
    faults(emulator, rule)
    data = os.urandom(5 * 4 * KiB + 3)
    node = client.upload(
        node_id(emulator, "Recordings"),
        "faulty.bin",
        io.BytesIO(data),
        len(data),
        chunk_size=4 * KiB,
    )
    admin(emulator, "DELETE", "/emulator/faults")
    check_roundtrip(client, node, data)
    assert events.retries, "the fault should have caused a retry"
    assert len([n for n in nodes(emulator) if n["name"].startswith("faulty")]) == 1


@pytest.mark.parametrize(
    "rule",
    [
        {"method": "POST", "path": r"/api/v4/uploads/", "status": 503, "count": 1},
        {"method": "POST", "path": r"/api/v4/uploads/", "status": 502, "count": 1},
        {"method": "POST", "path": r"/api/v4/uploads/", "drop_connection": True, "count": 1},
        {"method": "PUT", "path": r"/api/v4/uploads/", "status": 504, "count": 1},
    ],
    ids=["chunk-503", "chunk-502", "chunk-drop", "complete-504"],
)
def test_classic_chunk_or_completion_is_never_sent_twice(emulator, make_client, rule):
    """DRACOON appends every chunk it gets: after a 5xx or a lost answer the client cannot
    know whether the chunk (or the completion) was carried out, so it does not send it again
    -- it cancels the channel and says the upload must start over (the job layer does)."""
    events = Events()
    client = make_client(emulator, events=events)
    client.login()
    faults(emulator, rule)
    data = os.urandom(5 * 4 * KiB + 3)
    with pytest.raises(UploadInterruptedError) as info:
        client.upload(
            node_id(emulator, "Recordings"),
            "faulty.bin",
            io.BytesIO(data),
            len(data),
            chunk_size=4 * KiB,
        )
    admin(emulator, "DELETE", "/emulator/faults")
    assert "faulty.bin" in str(info.value) and "{token}" in str(info.value)
    assert not [r for r in events.retries if r[1] == "/v4/uploads/{token}"]
    assert not [n for n in nodes(emulator) if n["name"].startswith("faulty")]
    assert [u["status"] for u in admin(emulator, "GET", "/emulator/uploads")] == ["cancelled"]


@pytest.mark.parametrize(
    "rule",
    [
        {"method": "PUT", "path": r"/s3/", "status": 503, "count": 2},
        pytest.param(
            {"method": "PUT", "path": r"/s3/", "drop_connection": True, "count": 1},
            marks=pytest.mark.allow_leaks(
                threads=("process_request_thread",),
                reason="after a dropped S3 part two connections stay open past the client's "
                "close() (their emulator handler threads wait); cause not yet located, "
                "dracoon.client is being reworked in parallel",
            ),
        ),
        {"method": "POST", "path": r"/s3_urls$", "status": 429, "retry_after": 1, "count": 1},
        {"method": "GET", "path": r"/api/v4/nodes/files/uploads/", "status": 502, "count": 2},
    ],
    ids=["part-503", "part-drop", "urls-429", "poll-502"],
)
def test_s3_upload_survives(s3_emulator, make_client, rule):
    events = Events()
    client = make_client(s3_emulator, events=events)
    client.login()
    faults(s3_emulator, rule)
    data = os.urandom(6 * MiB)
    node = client.upload(
        node_id(s3_emulator, "Recordings"),
        "faulty-s3.bin",
        io.BytesIO(data),
        len(data),
        chunk_size=5 * MiB,
    )
    admin(s3_emulator, "DELETE", "/emulator/faults")
    check_roundtrip(client, node, data)
    assert events.retries


def test_room_create_500_is_not_retried_blindly(emulator, make_client):
    events = Events()
    client = make_client(emulator, events=events)
    client.login()
    faults(emulator, {"method": "POST", "path": r"/api/v4/nodes/rooms$", "status": 500, "count": 1})
    with pytest.raises(DracoonApiError) as info:
        client.resolve_room_path(node_id(emulator, "Plain"), "Once")
    assert info.value.status == 500
    assert "creating room 'Once'" in str(info.value)
    assert not [r for r in events.retries if r[1] == "/v4/nodes/rooms"]
    admin(emulator, "DELETE", "/emulator/faults")
    assert client.resolve_room_path(node_id(emulator, "Plain"), "Once").name == "Once"


def test_room_create_after_lost_answer_finds_the_room(emulator, make_client):
    """A 502 after the room was made: the repeat gets 409 and looks the room up."""
    client = make_client(emulator)
    client.login()
    faults(emulator, {"method": "POST", "path": r"/api/v4/nodes/rooms$", "status": 502, "count": 1})
    room = client.resolve_room_path(node_id(emulator, "Plain"), "LostAnswer")
    assert room.name == "LostAnswer"


@pytest.mark.parametrize("mode", ["classic", "s3"])
def test_token_expiry_mid_upload(emulator, s3_emulator, make_client, mode):
    server = emulator if mode == "classic" else s3_emulator
    client = make_client(server)
    chunk = 4 * KiB if mode == "classic" else 5 * MiB
    data = os.urandom(3 * chunk + 1)
    expired = []

    def progress(done):
        if not expired:
            admin(server, "POST", "/emulator/tokens/expire")
            expired.append(done)

    node = client.upload(
        node_id(server, "Recordings"),
        "expiry.bin",
        io.BytesIO(data),
        len(data),
        chunk_size=chunk,
        progress=progress,
    )
    check_roundtrip(client, node, data)  # needs a fresh token
    assert expired
    assert client.session.refreshes + client.session.logins >= 2


def test_wrong_password_message_has_no_secret(emulator, make_client):
    client = make_client(emulator, password="very-secret-pw")
    with pytest.raises(DracoonAuthError) as info:
        client.login()
    assert "very-secret-pw" not in str(info.value)
    assert "service" in str(info.value)
    assert "very-secret-pw" not in repr(client)


def test_chunk_errors_name_the_file_but_never_the_upload_token(emulator, make_client):
    client = make_client(emulator)
    client.login()
    faults(emulator, {"method": "POST", "path": r"/api/v4/uploads/", "status": 400, "count": 5})
    with pytest.raises(DracoonApiError) as info:
        client.upload(node_id(emulator, "Plain"), "refused.bin", io.BytesIO(b"abc"), 3)
    text = str(info.value)
    assert info.value.status == 400
    assert "POST /v4/uploads/{token}" in text and "'refused.bin'" in text
    tokens = [t for t in text.split() if len(t) > 20 and "{" not in t]
    assert not tokens, text
    assert not [n for n in nodes(emulator) if n["name"] == "refused.bin"]


def test_lost_answer_to_an_upload_channel_create_is_not_repeated(emulator, make_client):
    """The channel may exist once the request went out: fail instead of opening a second one."""
    events = Events()
    client = make_client(emulator, events=events)
    client.login()
    faults(
        emulator,
        {"method": "POST", "path": r"/api/v4/nodes/files/uploads$", "drop_connection": True},
    )
    with pytest.raises(UploadInterruptedError) as info:
        client.upload(node_id(emulator, "Plain"), "once.bin", io.BytesIO(b"abc"), 3)
    assert "POST /v4/nodes/files/uploads" in str(info.value)
    assert not [r for r in events.retries if r[1] == "/v4/nodes/files/uploads"]
