"""Download the service's configuration files from S3 (used by ``entrypoint.sh``).

The container image has no AWS CLI, and boto3 is already there: ``python -m
recording_storage.ops.fetch_config --bucket B --prefix P --dest conf app.conf
pubsub/sqs/topics.yml instances.yaml?`` copies ``s3://B/P/app.conf`` to ``conf/app.conf`` and
so on. A name ending in ``?`` is optional (skipped when the object does not exist); any
other failure stops with a message naming the object and exit status 1, so the container
never starts on a missing or stale configuration. Files are written atomically.

Credentials and region come from boto3's usual chain. The endpoint is boto3's own
``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``, else the service's ``RS_S3_ENDPOINTURL`` /
``RS_AWS_ENDPOINTURL`` (a local S3-compatible server), else AWS.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

MISSING_CODES = {"NoSuchKey"}


class FetchError(Exception):
    pass


def make_client(env: Mapping[str, str]) -> Any:
    endpoint = (
        env.get("AWS_ENDPOINT_URL_S3")
        or env.get("AWS_ENDPOINT_URL")
        or env.get("RS_S3_ENDPOINTURL")
        or env.get("RS_AWS_ENDPOINTURL")
        or None
    )
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or env.get("RS_AWS_REGION")
    config = Config(
        connect_timeout=10,
        read_timeout=30,
        retries={"mode": "standard", "max_attempts": 5},
        s3={"addressing_style": "path"} if endpoint else None,
    )
    return boto3.session.Session(region_name=region).client(
        "s3", endpoint_url=endpoint, config=config
    )


def object_key(prefix: str, name: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{name}" if prefix else name


def fetch(client: Any, bucket: str, prefix: str, dest: Path, names: Sequence[str]) -> list[Path]:
    """Download every name; returns the files written. Raises FetchError on the first failure."""
    written = []
    for raw in names:
        optional = raw.endswith("?")
        name = raw.rstrip("?")
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise FetchError(f"{name!r}: configuration file names must be relative paths")
        key = object_key(prefix, name)
        target = dest.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(handle, "wb") as out:
                # GetObject (not download_fileobj's HEAD) says NoSuchKey vs NoSuchBucket.
                body = client.get_object(Bucket=bucket, Key=key)["Body"]
                for chunk in body.iter_chunks(1024 * 1024):
                    out.write(chunk)
            os.replace(temporary, target)
        except ClientError as error:
            Path(temporary).unlink(missing_ok=True)
            code = str(error.response.get("Error", {}).get("Code", ""))
            if optional and code in MISSING_CODES:
                print(f"fetch_config: optional s3://{bucket}/{key} not found", file=sys.stderr)
                continue
            raise FetchError(f"cannot download s3://{bucket}/{key}: {code or error}") from None
        except (BotoCoreError, OSError) as error:
            Path(temporary).unlink(missing_ok=True)
            raise FetchError(
                f"cannot download s3://{bucket}/{key} to {target}: {type(error).__name__}: {error}"
            ) from None
        written.append(target)
        print(f"fetch_config: s3://{bucket}/{key} -> {target}", file=sys.stderr)
    return written


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recording_storage.ops.fetch_config",
        description="Download configuration files from S3 (name? = optional).",
    )
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--dest", default="conf", type=Path)
    parser.add_argument("names", nargs="+", metavar="NAME")
    args = parser.parse_args(argv)
    env = os.environ if env is None else env
    try:
        fetch(make_client(env), args.bucket, args.prefix, args.dest, args.names)
    except FetchError as error:
        print(f"fetch_config: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
