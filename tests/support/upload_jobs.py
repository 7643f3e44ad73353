"""An ``UploadJob`` for tests that drive the upload pipeline directly (no DRACOON call
before the pipeline: the room is a stand-in node, no key pair, no progress)."""

from __future__ import annotations

import threading
from typing import Any

from recording_storage.dracoon.client.models import Node
from recording_storage.dracoon.client.upload import UploadJob


def upload_job(source: Any, cancel: Any, size: int, chunk_size: int = 1024) -> UploadJob:
    """``size`` bytes of ``source`` into room 1 as ``talk.mp4``, cancelled by ``cancel``."""
    return UploadJob(
        parent=Node.from_json({"id": 1, "name": "room", "type": "room"}),
        name="talk.mp4",
        source=source,
        size=size,
        expire_at=None,
        notes=None,
        resolution="autorename",
        chunk_size=chunk_size,
        progress=None,
        cancel=cancel,
        key_pair=None,
    )


def run_in_thread(
    pipeline: Any, chunks: list[tuple[int, int]], sent: list[int]
) -> tuple[threading.Thread, list[BaseException]]:
    """Run ``pipeline`` over ``chunks`` in a thread whose sends only note their index in
    ``sent``; returns the thread and a list that gets what the run raised."""
    raised: list[BaseException] = []

    def send(index: int, _offset: int, _view: memoryview) -> str:
        sent.append(index)
        return "etag"

    def run() -> None:
        try:
            pipeline.run(chunks, send)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, name="test-upload")
    thread.start()
    return thread, raised
