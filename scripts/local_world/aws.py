"""The AWS side of a local world: fake credentials, boto3 clients and the moto server.

moto (``python -m moto.server``) answers S3 and SQS on one port. Every process of the world
gets the same fake credentials and region, and none of the caller's AWS settings, so a
developer's real profile is never read (let alone used) by a local run.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import urllib.request
from pathlib import Path
from typing import Any

from scripts.local_world.processes import Process, ProcessGroup, wait_until

REGION = "eu-central-1"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without its RS_*/AWS_* settings, plus the fake AWS ones:
    what a child of the world (the service, moto, the emulator) runs with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RS_", "AWS_"))}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(AWS_ENV)
    env.update(extra)
    return env


def boto3_client(service: str, endpoint: str, **config: Any) -> Any:
    """A boto3 client for ``service`` at ``endpoint`` with the fake credentials (path-style S3;
    ``config``: more botocore ``Config`` options, e.g. ``retries``)."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session(
        aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION,
    ).client(
        service, endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"}, **config)
    )


def start_moto(
    log: Path, group: ProcessGroup | None = None, env: dict[str, str] | None = None
) -> tuple[str, Process]:
    """Start a moto server on a free port and wait until it answers; returns (URL, process).

    The server binds port 0 and names the port the OS gave it in its "Running on" line, so no
    other process (a parallel test worker, another local world) can take the port between a
    check and the bind. ``group``: the ProcessGroup that owns it (else the caller stops the
    process itself)."""
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", "0"]
    env = env if env is not None else clean_env()
    start = log.stat().st_size if log.exists() else 0  # the log may hold an earlier run's lines
    process = group.start("moto", argv, log, env) if group else Process("moto", argv, log, env)
    found: list[str] = []

    def up() -> bool:
        process.check_alive()
        if not found:
            listening = _LISTENING.search(log.read_bytes()[start:])
            if listening is None:
                return False
            found.append(f"http://127.0.0.1:{int(listening[1])}")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"{found[0]}/moto-api/", timeout=2).close()  # noqa: S310
            return True
        return False

    try:
        wait_until(up, 60, "the moto server", f"see {log}")
    except BaseException:
        if group is None:
            process.stop()
        raise
    return found[0], process


_LISTENING = re.compile(rb"Running on http://127\.0\.0\.1:(\d+)")
