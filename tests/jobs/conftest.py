"""End-to-end helpers for the jobs tests: a DRACOON emulator, the moto S3 server, a file
configurator and an app.conf wired together; the ``recording-storage`` CLI as a subprocess.
The configuration files and the emulator's admin API are the demo's and the benchmark's too
(``scripts/local_world``)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from scripts.local_world.dracoon import EmulatorAdmin
from scripts.local_world.service import instance, write_config
from tests.support.emulator_fixtures import encryption_password, login_password
from tests.support.paths import PROJECT_ROOT

DATA = Path(__file__).parent / "data"
DOMAIN = "24slocal.new.com"
CHUNK = 64 * 1024  # the smallest s3.chunkSize: multi-chunk files stay small


def readme_message(**changes) -> dict:
    message = json.loads((DATA / "readme-message.json").read_text())
    s3 = message["storage"]["extra"]["aws.s3"]
    if "bucket" in changes:
        s3["bucket"] = changes.pop("bucket")
    if "keys" in changes:
        s3["keys"] = changes.pop("keys")
    if "targets" in changes:
        targets = changes.pop("targets")
        if targets is None:
            del message["storage"]["extra"]["dracoon"]
        else:
            message["storage"]["extra"]["dracoon"]["targets"] = targets
    assert not changes, changes
    return message


@dataclass
class Service:
    """Everything a transfer needs, pointing at the test's emulator and moto server."""

    emulator: object
    tmp_path: Path
    env: dict[str, str]
    conf: Path
    instances_path: Path
    instances: dict = field(default_factory=dict)

    # -- DRACOON side ---------------------------------------------------------------------

    def nodes(self) -> list[dict]:
        return EmulatorAdmin(self.emulator.base_url).nodes()

    def node(self, path: str) -> dict:
        found = EmulatorAdmin(self.emulator.base_url).node(path)
        assert found, f"no node {path}; have {[n['path'] for n in self.nodes()]}"
        return found

    def files_in(self, room_path: str) -> list[dict]:
        room = self.node(room_path)
        return [n for n in self.nodes() if n["parentId"] == room["id"] and n["type"] == "file"]

    def admin(self, method: str, path: str, body: dict | None = None) -> object:
        """``path`` as the emulator serves it (``/emulator/...``)."""
        return EmulatorAdmin(self.emulator.base_url).admin(
            method, path.removeprefix("/emulator"), body
        )

    def client_as(self, login: str):
        from recording_storage.dracoon.client import DracoonClient

        return DracoonClient(self.emulator.api_url, login, login_password(login),
                             encryption_password=encryption_password(login))  # fmt: skip

    def client_as_with(self, login: str, password: str, crypto_password: str):
        from recording_storage.dracoon.client import DracoonClient

        return DracoonClient(self.emulator.api_url, login, password,
                             encryption_password=crypto_password)  # fmt: skip

    def download_as(self, login: str, file_id: int) -> bytes:
        import io

        out = io.BytesIO()
        with self.client_as(login) as client:
            client.download(file_id, out)
        return out.getvalue()

    # -- configuration --------------------------------------------------------------------

    def set_instance(self, domain: str = DOMAIN, **keys) -> None:
        self.instances.setdefault(domain, {}).update(keys)
        self.instances_path.write_text(yaml.safe_dump(self.instances))

    def settings(self, **env):
        from recording_storage.config import load_settings

        return load_settings(self.conf, env={**self.env, **env})

    # -- CLI ------------------------------------------------------------------------------

    def cli(self, *args: str, message: dict | str | None = None, env: dict | None = None,
            timeout: float = 120) -> tuple[int, dict | None, str]:  # fmt: skip
        """Run ``recording-storage --config <conf> ARGS``; returns (status, JSON out, stderr)."""
        stdin = None
        if message is not None:
            stdin = message if isinstance(message, str) else json.dumps(message)
        result = subprocess.run(
            [sys.executable, "-m", "recording_storage.cli", "--config", str(self.conf), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**self.env, **(env or {})},
            cwd=PROJECT_ROOT,
        )
        try:
            document = json.loads(result.stdout) if result.stdout.strip() else None
        except ValueError:
            document = None
        return result.returncode, document, result.stderr

    def transfer(self, message: dict | str, **kwargs) -> tuple[int, dict | None, str]:
        return self.cli("transfer", "--message", "-", message=message, **kwargs)


@pytest.fixture
def service(emulator, moto_server, tmp_path) -> Service:
    """An emulator (default seed: encrypted room Recordings, users service/alice/bob), the
    moto server, a file configurator with instance 24slocal.new.com whose parent room is
    Recordings, and an app.conf with a 64 KiB chunk size."""
    instances_path = tmp_path / "instances.yaml"
    conf = write_config(
        tmp_path,
        {
            "logger.level": "INFO",
            "logger.format": "json",
            "configurator.url": f"file://{instances_path}",
            "s3.chunkSize": CHUNK,
            "s3.removeAfterTransferring": "true",
            "workers.FileTransferer.reportLevel": "file",
            "dracoon.baseUrl": "http://127.0.0.1:9/api/v4",
        },
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RS_", "AWS_"))}
    env.update(moto_server.env)
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    svc = Service(emulator, tmp_path, env, conf, instances_path)
    recordings = svc.node("/Recordings")
    account = instance(emulator.api_url, recordings["id"], "service", login_password("service"),
                       encryption_password("service"))  # fmt: skip
    svc.set_instance(
        **account,
        **{
            "recordings.dracoon.targets": json.dumps(
                [{"meetingTypeId": "*any*", "copyTo": [{"path": "all/$meetingType"}]}]
            ),
        },
    )
    return svc


@pytest.fixture
def readme_bucket(moto_server):
    """The README's bucket ``24s-public`` on the moto server (emptied before the test)."""
    from tests.support.aws_fixtures import REGION, Bucket

    client = moto_server.client("s3")
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket="24s-public",
                             CreateBucketConfiguration={"LocationConstraint": REGION})  # fmt: skip
    bucket = Bucket("24s-public", client)
    for key in bucket.list_keys():
        client.delete_object(Bucket=bucket.name, Key=key)
    return bucket
