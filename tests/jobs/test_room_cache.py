"""Cached room ids (the client's room cache, per instance account and path) never lose a
recording or put it elsewhere: a room deleted while its id is cached is resolved again by
path (recreated) within the same job -- whether the stale id shows up at the listing of
earlier uploads (between jobs) or at the upload itself (during a job). Over the emulator and
moto; the final state is checked as a room reader sees it."""

from __future__ import annotations

import json
import os

import pytest

from recording_storage.jobs.runner import JobRunner
from tests.jobs.conftest import readme_message

pytestmark = pytest.mark.timeout(120)


def job(bucket, key: str, room: str) -> str:
    return json.dumps(readme_message(bucket=bucket.name, keys=[key], targets=[{"path": room}]))


def delete_room(service, path: str) -> None:
    with service.client_as("service") as client:
        client.delete_file(service.node(path)["id"])  # DELETE /nodes/{id}: rooms too


def assert_stored(service, s3_bucket, room: str, key: str, data: bytes) -> None:
    files = [f for f in service.files_in(f"/Recordings/{room}") if f["name"] == key.split("/")[-1]]
    assert len(files) == 1, files
    assert files[0]["size"] == len(data)
    assert service.download_as("alice", files[0]["id"]) == data  # a room reader decrypts it
    assert not s3_bucket.exists(key)  # removed only after every upload completed


def test_a_room_deleted_between_jobs_is_recreated_not_a_failed_job(service, s3_bucket, aws_env):
    runner = JobRunner(service.settings())
    try:
        first, second = os.urandom(70_000), os.urandom(90_000)
        s3_bucket.put("c/first.mp4", first)
        runner.run(job(s3_bucket, "c/first.mp4", "cached"), job_id="first")
        delete_room(service, "/Recordings/cached")  # the runner's client still caches its id
        s3_bucket.put("c/second.mp4", second)

        result = runner.run(job(s3_bucket, "c/second.mp4", "cached"), job_id="second")

        assert [f.name for f in result.files] == ["second.mp4"]
        assert_stored(service, s3_bucket, "cached", "c/second.mp4", second)
        assert result.files[0].room_id == service.node("/Recordings/cached")["id"]
    finally:
        runner.close()


def test_a_room_deleted_during_a_job_is_recreated_and_the_upload_retried(
    service, s3_bucket, aws_env
):
    runner = JobRunner(service.settings())
    try:
        data = os.urandom(100_000)
        s3_bucket.put("d/talk.mp4", data)
        s3_bucket.put("d/warm.mp4", b"w" * 10)
        runner.run(job(s3_bucket, "d/warm.mp4", "during"), job_id="warm")
        client = runner._pool.client_for(runner.configurator.get_instance("24slocal.new.com"))
        real_upload, calls = client.upload, []

        def upload_after_the_room_is_gone(parent_id, *args, **kwargs):
            calls.append(parent_id)
            if len(calls) == 1:  # after the listing, before the channel: a user deletes it
                delete_room(service, "/Recordings/during")
            return real_upload(parent_id, *args, **kwargs)

        client.upload = upload_after_the_room_is_gone
        result = runner.run(job(s3_bucket, "d/talk.mp4", "during"), job_id="during")

        assert len(calls) == 2 and calls[0] != calls[1]  # retried into the recreated room
        assert_stored(service, s3_bucket, "during", "d/talk.mp4", data)
        assert result.files[0].room_id == calls[1] == service.node("/Recordings/during")["id"]
    finally:
        runner.close()
