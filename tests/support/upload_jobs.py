"""An ``UploadJob`` for tests that drive the upload pipeline directly (no DRACOON call
before the pipeline: the room is a stand-in node, no key pair, no progress)."""

from __future__ import annotations

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
