"""What the benchmark runs in fresh child processes, one JSON result line each.

- ``transfer``: a long-lived FileTransferer's view - one ``JobRunner`` (as a worker holds it)
  runs a small warm-up job first (login, key unlock, room lookups, boto3 set-up), then the
  timed jobs one after another. Reports per-job seconds and the process's peak RSS.
- ``plain_copy``: the baseline - the same bytes the simplest way: sequential ranged GETs with
  the same boto3 configuration and chunk size, each range sent as one classic upload chunk
  (``mode`` classic) or one presigned S3 part (``mode`` s3) into a plain room with urllib3
  (no encryption, no overlap, no retries); channel creation and completion (for S3: until
  the upload is ``done``) included in the time, like ours.

Usage (by the driver): ``python -m scripts.bench.workloads KIND JSON-ARGS``.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import sys
import time
from pathlib import Path


def peak_rss_kib() -> int:
    """This process's peak RSS (VmHWM). Not ``ru_maxrss``: Linux carries that over from the
    forking parent across exec, so a child would report the driver's peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def transfer(args: dict) -> dict:
    from recording_storage.config import load_settings
    from recording_storage.jobs.runner import JobRunner

    settings = load_settings(Path(args["conf"]), env=os.environ)
    runner = JobRunner(settings)
    runner.run(json.dumps(args["warmup"]), job_id="warmup")
    rss_before = peak_rss_kib()
    jobs = []
    profile = None
    if args.get("profile"):
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
    started, cpu_started = time.perf_counter(), cpu_seconds()
    for index, body in enumerate(args["messages"]):
        job_started = time.perf_counter()
        result = runner.run(json.dumps(body), job_id=f"bench-{index}")
        jobs.append(
            {
                "seconds": time.perf_counter() - job_started,
                "bytes": result.bytes_transferred,
                "files": [[f.name, f.size, f.file_id] for f in result.files],
            }
        )
    seconds = time.perf_counter() - started
    if profile is not None:
        profile.disable()
        profile.dump_stats(args["profile"])
    runner.close()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds() - cpu_started,
        "bytes": sum(job["bytes"] for job in jobs),
        "jobs": jobs,
        "rss_kib": peak_rss_kib(),
        "rss_before_kib": rss_before,
    }


def plain_copy(args: dict) -> dict:
    import urllib3

    from recording_storage.aws.s3 import head_object
    from recording_storage.aws.session import make_s3_client
    from recording_storage.config import load_settings

    settings = load_settings(Path(args["conf"]), env=os.environ)
    s3 = make_s3_client(settings)
    http = urllib3.PoolManager(maxsize=4)
    api = args["api_url"]
    basic = base64.b64encode(b"dracoon_legacy_scripting:").decode()
    token = json.loads(
        http.request(
            "POST",
            api.removesuffix("/api/v4") + "/oauth/token",
            fields={"grant_type": "password", "username": args["user"],
                    "password": args["password"]},
            encode_multipart=False,
            headers={"Authorization": f"Basic {basic}"},
        ).data
    )["access_token"]  # fmt: skip
    auth = {"Authorization": f"Bearer {token}"}
    info = head_object(s3, args["bucket"], args["key"])  # warm the boto3 client up
    rss_before = peak_rss_kib()
    chunk = args["chunk"]
    s3_direct = args.get("mode") == "s3"
    if s3_direct:
        chunk = max(chunk, 5 * 1024 * 1024)  # S3's minimum part size, as our client does

    def call(method: str, path: str, body: dict | None = None) -> dict:
        answer = http.request(
            method,
            f"{api}{path}",
            body=json.dumps(body) if body is not None else None,
            headers={**auth, "Content-Type": "application/json"},
        )
        if answer.status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {answer.status} {answer.data[:200]!r}")
        return json.loads(answer.data) if answer.data else {}

    started, cpu_started = time.perf_counter(), cpu_seconds()
    channel = call("POST", "/nodes/files/uploads", {
        "parentId": args["room"], "name": args["name"], "size": info.size,
        "directS3Upload": s3_direct,
    })  # fmt: skip
    parts = []
    for number, start in enumerate(range(0, info.size, chunk), 1):
        end = min(start + chunk, info.size) - 1
        body = s3.get_object(Bucket=info.bucket, Key=info.key, Range=f"bytes={start}-{end}")
        data = body["Body"].read()
        if s3_direct:
            urls = call("POST", f"/nodes/files/uploads/{channel['uploadId']}/s3_urls",
                        {"size": len(data), "firstPartNumber": number,
                         "lastPartNumber": number})  # fmt: skip
            answer = http.request("PUT", urls["urls"][0]["url"], body=data)
            parts.append({"partNumber": number, "partEtag": answer.headers["ETag"].strip('"')})
        else:
            answer = http.request(
                "POST",
                channel["uploadUrl"],
                body=data,
                headers={"Content-Range": f"bytes {start}-{end}/{info.size}",
                         "Content-Type": "application/octet-stream"},
            )  # fmt: skip
        if answer.status >= 300:
            raise RuntimeError(f"bytes {start}-{end}: HTTP {answer.status}")
    completion = {"resolutionStrategy": "autorename", "fileName": args["name"]}
    if s3_direct:
        call("PUT", f"/nodes/files/uploads/{channel['uploadId']}/s3", {**completion,
             "parts": parts})  # fmt: skip
        while call("GET", f"/nodes/files/uploads/{channel['uploadId']}")["status"] != "done":
            time.sleep(0.01)
    else:
        done = http.request(
            "PUT",
            channel["uploadUrl"],
            body=json.dumps(completion),
            headers={"Content-Type": "application/json"},
        )
        if done.status >= 300:
            raise RuntimeError(f"completion: HTTP {done.status} {done.data[:200]!r}")
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds() - cpu_started,
        "bytes": info.size,
        "rss_kib": peak_rss_kib(),
        "rss_before_kib": rss_before,
    }


def fixed_file_keys(owner_public: dict, reader_public: dict) -> tuple[dict, dict]:
    """One file key wrapped for the uploader and for the reader, made once and sent with
    every upload of the requests-only baseline: the server stores keys, it never opens them."""
    from recording_storage.dracoon.crypto import PlainFileKey, PublicKeyContainer, encrypt_file_key

    plain = PlainFileKey.generate()
    plain.tag = b"\0" * 16
    return tuple(  # type: ignore[return-value]
        encrypt_file_key(plain, PublicKeyContainer.from_json(public)).to_json()
        for public in (owner_public, reader_public)
    )


def requests_only(args: dict) -> dict:
    """The baseline of scenario 4: the requests a warm worker makes for a job, nothing else.

    ``workers`` processes each: ReceiveMessage, HeadObject, channel, GetObject of the whole
    (one-chunk) object, the chunk sent as it is, completion with a fixed file key,
    missingFileKeys, the reader's key (fixed), HeadObject and the conditional DeleteObject,
    DeleteMessage -- until ``jobs`` messages are done (a first delivery at the DRACOON
    floor, docs/performance.md). No encryption, no threads, no
    retries, no logging: what the stand-ins cost for the same traffic, and the floor of a
    minimal client in Python. Returns the seconds and the CPU of these processes."""
    import multiprocessing

    import urllib3

    http = urllib3.PoolManager()
    basic = base64.b64encode(b"dracoon_legacy_scripting:").decode()
    token = json.loads(
        http.request(
            "POST", args["api_url"].removesuffix("/api/v4") + "/oauth/token",
            fields={"grant_type": "password", "username": args["user"],
                    "password": args["password"]},
            encode_multipart=False, headers={"Authorization": f"Basic {basic}"},
        ).data
    )["access_token"]  # fmt: skip
    room = http.request(
        "POST", args["api_url"] + "/nodes/rooms",
        body=json.dumps({"name": args["room_name"], "parentId": args["parent_room"],
                         "inheritPermissions": True}),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )  # fmt: skip
    if room.status >= 300:
        raise RuntimeError(f"creating the baseline's room: HTTP {room.status} {room.data!r}")
    args = {**args, "room": json.loads(room.data)["id"],
            "file_keys": fixed_file_keys(args["owner_public"], args["reader_public"])}  # fmt: skip
    context = multiprocessing.get_context("fork")
    ready = context.Barrier(args["workers"] + 1)
    done = context.Value("i", 0)
    results = context.Queue()
    workers = [
        context.Process(target=_requests_worker, args=(args, ready, done, results))
        for _ in range(args["workers"])
    ]
    for worker in workers:
        worker.start()
    ready.wait(timeout=120)
    started = time.perf_counter()
    reports = [results.get(timeout=args.get("timeout", 600)) for _ in workers]
    seconds = max(report["ended"] for report in reports) - started
    for worker in workers:
        worker.join(timeout=30)
    errors = [report["error"] for report in reports if report.get("error")]
    if errors:
        raise RuntimeError("; ".join(errors))
    return {
        "seconds": seconds,
        "cpu_seconds": sum(report["cpu_seconds"] for report in reports),
        "jobs": done.value,
    }


def _requests_worker(args: dict, ready, done, results) -> None:
    import urllib3

    from recording_storage.aws.session import make_s3_client, make_sqs_client
    from recording_storage.config import load_settings

    settings = load_settings(Path(args["conf"]), env=os.environ)
    s3, sqs = make_s3_client(settings), make_sqs_client(settings)
    http = urllib3.PoolManager(maxsize=2)
    api = args["api_url"]
    basic = base64.b64encode(b"dracoon_legacy_scripting:").decode()
    token = json.loads(
        http.request(
            "POST", api.removesuffix("/api/v4") + "/oauth/token",
            fields={"grant_type": "password", "username": args["user"],
                    "password": args["password"]},
            encode_multipart=False, headers={"Authorization": f"Basic {basic}"},
        ).data
    )["access_token"]  # fmt: skip
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(method: str, path: str, body=None, fields=None) -> dict:
        answer = http.request(method, f"{api}{path}", fields=fields, headers=auth,
                              body=json.dumps(body) if body is not None else None)  # fmt: skip
        if answer.status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {answer.status} {answer.data[:200]!r}")
        return json.loads(answer.data) if answer.data else {}

    owner_key, reader_key = args["file_keys"]
    room = args["room"]
    queue = args["queue_url"]
    s3.head_bucket(Bucket=args["bucket"])  # warm both boto3 clients up
    sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    ready.wait(timeout=120)
    cpu_started = cpu_seconds()
    report: dict = {}
    try:
        while True:
            with done.get_lock():
                if done.value >= args["jobs"]:
                    break
            got = sqs.receive_message(
                QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=0, VisibilityTimeout=120,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            ).get("Messages")  # fmt: skip
            if not got:
                time.sleep(0.01)
                continue
            body = json.loads(got[0]["Body"])
            s3_part = body["storage"]["extra"]["aws.s3"]
            bucket, key = s3_part["bucket"], s3_part["keys"][0]
            name = key.rpartition("/")[2]
            head = s3.head_object(Bucket=bucket, Key=key)
            size = head["ContentLength"]
            channel = call("POST", "/nodes/files/uploads",
                           {"parentId": room, "name": name, "size": size})  # fmt: skip
            data = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{size - 1}")["Body"].read()
            answer = http.request("POST", channel["uploadUrl"], body=data, headers={
                "Content-Range": f"bytes 0-{size - 1}/{size}",
                "Content-Type": "application/octet-stream"})  # fmt: skip
            if answer.status >= 300:
                raise RuntimeError(f"chunk: HTTP {answer.status}")
            completion = {"resolutionStrategy": "autorename", "fileName": name,
                          "fileKey": owner_key}  # fmt: skip
            completed = http.request("PUT", channel["uploadUrl"], body=json.dumps(completion),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
            if completed.status >= 300:
                raise RuntimeError(f"completion: HTTP {completed.status} {completed.data[:200]!r}")
            file_id = json.loads(completed.data)["id"]
            missing = call("GET", "/nodes/missingFileKeys",
                           fields={"file_id": file_id, "offset": 0, "limit": 100})  # fmt: skip
            items = [{"fileId": file_id, "userId": item["userId"], "fileKey": reader_key}
                     for item in missing.get("items") or []]  # fmt: skip
            if items:
                call("POST", "/nodes/files/keys", {"items": items})
            s3.head_object(Bucket=bucket, Key=key)
            s3.delete_object(Bucket=bucket, Key=key, IfMatch=head["ETag"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=got[0]["ReceiptHandle"])
            with done.get_lock():
                done.value += 1
    except Exception as error:  # reported to the driver, which fails the run
        report["error"] = f"{type(error).__name__}: {error}"
    report.update(ended=time.perf_counter(), cpu_seconds=cpu_seconds() - cpu_started)
    results.put(report)


WORKLOADS = {"transfer": transfer, "plain_copy": plain_copy, "requests_only": requests_only}


if __name__ == "__main__":
    kind, raw = sys.argv[1], sys.argv[2]
    print(json.dumps(WORKLOADS[kind](json.loads(raw))))
