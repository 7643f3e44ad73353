"""boto3 sessions and clients configured from Settings (region and endpoint overrides).

boto3 sessions and clients are not fork-safe, so each process builds its own (the JobRunner
caches them per process). ``aws.endpointUrl`` points S3 and SQS at one local server (moto,
MinIO...); ``s3.endpointUrl``/``sqs.endpointUrl`` override it per service. With a custom
endpoint S3 uses path-style addressing, which every S3-compatible server understands.
Credentials come from boto3's usual chain (environment, profile, instance role).
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

from recording_storage.config import Settings

# botocore's "standard" mode retries throttling, 5xx and connection errors with backoff.
_RETRIES = {"mode": "standard", "max_attempts": 5}


def make_session(settings: Settings) -> boto3.session.Session:
    return boto3.session.Session(region_name=settings.aws.region)


def make_s3_client(settings: Settings, session: boto3.session.Session | None = None) -> Any:
    """An S3 client honouring aws.region, aws.endpointUrl, s3.endpointUrl and the S3 timeouts.

    The connect and read timeouts bound every S3 call, one socket wait at a time; with
    botocore's 5 attempts a HeadObject or DeleteObject ends within about
    5 x (connect + read timeout) plus backoff. A ranged GET's body is bounded as a whole by
    s3.rangeDeadlineSeconds (aws.s3.RangedObjectReader), because a trickling body never
    trips a per-read timeout.
    """
    session = session or make_session(settings)
    endpoint = settings.aws.s3_endpoint_url
    config = Config(
        region_name=settings.aws.region,
        retries=_RETRIES,
        connect_timeout=settings.s3.connect_timeout_seconds,
        read_timeout=settings.s3.read_timeout_seconds,
        max_pool_connections=8,
        s3={"addressing_style": "path"} if endpoint else None,
    )
    return session.client("s3", endpoint_url=endpoint, config=config)


def make_sqs_client(settings: Settings, session: boto3.session.Session | None = None) -> Any:
    """An SQS client honouring aws.region, aws.endpointUrl and sqs.endpointUrl.

    The read timeout leaves room for a 20 s long poll.
    """
    session = session or make_session(settings)
    config = Config(
        region_name=settings.aws.region,
        retries=_RETRIES,
        connect_timeout=10,
        read_timeout=settings.sqs.wait_time_seconds + 20,
    )
    return session.client("sqs", endpoint_url=settings.aws.sqs_endpoint_url, config=config)
