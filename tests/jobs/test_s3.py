"""S3 access over the real protocol (moto server): HeadObject, ranged reads, delete."""

import hashlib
import os

import pytest

from recording_storage.aws.s3 import (
    RangedObjectReader,
    S3Error,
    S3ObjectMissingError,
    delete_object,
    head_object,
)
from recording_storage.aws.session import make_s3_client
from recording_storage.config import load_settings


@pytest.fixture
def s3(aws_env):
    return make_s3_client(load_settings(None, env=aws_env))


def test_client_honours_endpoint_settings(moto_server):
    settings = load_settings(None, env={"RS_S3_ENDPOINTURL": "http://127.0.0.1:1",
                                        "RS_AWS_ENDPOINTURL": moto_server.url,
                                        "RS_AWS_REGION": "us-west-2"})  # fmt: skip
    client = make_s3_client(settings)
    assert client.meta.endpoint_url == "http://127.0.0.1:1"
    assert client.meta.region_name == "us-west-2"


def test_head_object(s3, s3_bucket):
    etag = s3_bucket.put("dir/video.mp4", b"x" * 1000)
    info = head_object(s3, s3_bucket.name, "dir/video.mp4")
    assert (info.size, info.etag) == (1000, etag)
    with pytest.raises(S3ObjectMissingError, match="does not exist"):
        head_object(s3, s3_bucket.name, "dir/none.mp4")
    with pytest.raises(S3ObjectMissingError):
        head_object(s3, "no-such-bucket-here", "x")


@pytest.mark.parametrize("size", [0, 1, 65536, 65537, 3 * 65536 + 5])
def test_ranged_reader_returns_exact_bytes(s3, s3_bucket, size):
    data = os.urandom(size)
    s3_bucket.put("k", data)
    info = head_object(s3, s3_bucket.name, "k")
    with RangedObjectReader(s3, info, 65536) as reader:
        out = bytearray()
        while chunk := reader.read(10_000):
            out += chunk
        assert reader.read(10) == b""
        assert reader.ranges_fetched == (size + 65535) // 65536
    assert hashlib.sha256(out).digest() == hashlib.sha256(data).digest()


def test_readinto_large_buffers_and_read_all(s3, s3_bucket):
    data = os.urandom(200_000)
    s3_bucket.put("k", data)
    info = head_object(s3, s3_bucket.name, "k")
    with RangedObjectReader(s3, info, 65536) as reader:
        assert reader.read() == data


def test_object_replaced_mid_read_fails_loudly(s3, s3_bucket):
    s3_bucket.put("k", b"a" * 200_000)
    info = head_object(s3, s3_bucket.name, "k")
    with RangedObjectReader(s3, info, 65536) as reader:
        reader.read(65536)
        s3_bucket.put("k", b"b" * 200_000)
        with pytest.raises(S3Error, match="changed"):
            reader.read(65536)


def test_object_deleted_between_head_and_get(s3, s3_bucket):
    s3_bucket.put("k", b"a" * 100)
    info = head_object(s3, s3_bucket.name, "k")
    delete_object(s3, info)
    assert not s3_bucket.exists("k")
    delete_object(s3, info)  # idempotent
    with RangedObjectReader(s3, info, 65536) as reader, pytest.raises(S3ObjectMissingError):
        reader.read(10)
