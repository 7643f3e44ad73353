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


WORKLOADS = {"transfer": transfer, "plain_copy": plain_copy}


if __name__ == "__main__":
    kind, raw = sys.argv[1], sys.argv[2]
    print(json.dumps(WORKLOADS[kind](json.loads(raw))))
