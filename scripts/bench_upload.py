#!/usr/bin/env python3
"""Upload throughput and peak memory: our DRACOON client vs DRACOON's official Python SDK.

Starts the DRACOON emulator in this process (hash-and-discard storage, so the disk does not
limit the numbers) once in classic and once in S3 direct mode, writes one test file of
``--size`` bytes, and uploads it into an encrypted and a plain room:

- ours: ``DracoonClient.upload`` in a fresh subprocess (reading the same file as a stream);
- sdk:  the official ``dracoon`` SDK (its own venv) in a subprocess, ``DRACOON.upload``.

Each subprocess reports its own wall time for the upload and its peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss``). Prints a table with MiB/s, peak RSS and the ratio
ours/SDK per scenario. Example: ``.venv/bin/python scripts/bench_upload.py --size 256M``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MiB = 1024 * 1024
USER, PASSWORD, ENCRYPTION_PASSWORD = "bench", "bench-pw", "bench-crypto-pw"
KEYPAIR_CACHE = ROOT / ".cache" / "bench-keypair-rsa4096.json"


def parse_size(text: str) -> int:
    units = {"k": 1024, "m": MiB, "g": 1024 * MiB}
    value = text.strip().lower().removesuffix("ib").removesuffix("b")
    if value and value[-1] in units:
        return int(float(value[:-1]) * units[value[-1]])
    return int(value)


# -- child processes -------------------------------------------------------------------------


def run_ours(args: dict) -> dict:
    """Child: upload the file with our client; report seconds and peak RSS."""
    from recording_storage.dracoon.client import DracoonClient, UploadOptions

    client = DracoonClient(
        args["base_url"],
        USER,
        PASSWORD,
        encryption_password=ENCRYPTION_PASSWORD,
        upload_options=UploadOptions(s3_parallel_parts=args["parallel"]),
    )
    client.login()
    _ = client.capabilities
    if args["encrypted"]:
        _ = client.key_pair  # unlock outside the timed part, as a long-lived worker would
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    size = os.path.getsize(args["file"])
    with open(args["file"], "rb", buffering=0) as source:
        started = time.perf_counter()
        node = client.upload(args["room"], args["name"], source, size, chunk_size=args["chunk"])
        seconds = time.perf_counter() - started
    client.close()
    return {
        "seconds": seconds,
        "bytes": size,
        "node": node.id,
        "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "rss_before_kib": rss_before,
    }


SDK_SCRIPT = r"""
import asyncio, logging, os, resource, tempfile, time
from dracoon import DRACOON, OAuth2ConnectionType

def peak_rss_kib():  # VmHWM: ru_maxrss would include the forking parent's peak
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))

async def main():
    log = os.path.join(tempfile.gettempdir(), "bench-dracoon-sdk.log")
    d = DRACOON(base_url=ARGS["base_url"], raise_on_err=True, log_file=log,
                log_level=logging.WARNING)
    await d.connect(OAuth2ConnectionType.password_flow, ARGS["user"], ARGS["password"])
    if ARGS["encrypted"]:
        await d.get_keypair(secret=ARGS["encryption_password"])
    rss_before = peak_rss_kib()
    started = time.perf_counter()
    await d.upload(file_path=ARGS["file"], target_parent_id=ARGS["room"],
                   file_name=ARGS["name"], chunksize=ARGS["chunk"])
    seconds = time.perf_counter() - started
    await d.logout()
    return {"seconds": seconds, "bytes": os.path.getsize(ARGS["file"]),
            "rss_kib": peak_rss_kib(), "rss_before_kib": rss_before}

print(json.dumps(asyncio.run(main())))
"""


def run_child(kind: str, args: dict) -> dict:
    if kind == "ours":
        command = [sys.executable, __file__, "--child", json.dumps(args)]
    else:
        from tests.support.official_sdk import sdk_python

        prelude = "import json, sys\nARGS = json.loads(sys.argv[1])\n"
        command = [str(sdk_python()), "-c", prelude + SDK_SCRIPT, json.dumps(args)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, cwd=tempfile.gettempdir()
    )
    if result.returncode != 0:
        raise RuntimeError(f"{kind} upload failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- set-up ----------------------------------------------------------------------------------


def key_pair() -> dict:
    """One RSA-4096 key pair, generated once and cached (generation takes ~0.5 s)."""
    if KEYPAIR_CACHE.exists():
        return json.loads(KEYPAIR_CACHE.read_text())
    from recording_storage.dracoon.crypto import KEY_PAIR_RSA4096, generate_user_key_pair

    container = generate_user_key_pair(KEY_PAIR_RSA4096, ENCRYPTION_PASSWORD).to_json()
    KEYPAIR_CACHE.parent.mkdir(parents=True, exist_ok=True)
    KEYPAIR_CACHE.write_text(json.dumps(container))
    return container


def seed(s3: bool) -> dict:
    member = [{"login": USER, "permissions": "all"}]
    return {
        "s3_direct_upload": s3,
        "storage": "discard",
        "users": [
            {
                "login": USER,
                "password": PASSWORD,
                "encryption_password": ENCRYPTION_PASSWORD,
                "key_pair": key_pair(),
                "roles": ["ROOM_MANAGER"],
            }
        ],
        "rooms": [
            {"path": "BenchEncrypted", "encrypted": True, "members": member},
            {"path": "BenchPlain", "encrypted": False, "members": member},
        ],
    }


def emulator_nodes(server) -> list[dict]:
    with urllib.request.urlopen(server.base_url + "/emulator/nodes") as answer:  # noqa: S310
        return json.loads(answer.read())


def write_test_file(path: Path, size: int) -> str:
    """Pseudo-random but cheap content (a 4 MiB random block, varied per block)."""
    block = os.urandom(4 * MiB)
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        written, counter = 0, 0
        while written < size:
            piece = counter.to_bytes(8, "big") + block[8:]
            piece = piece[: size - written]
            out.write(piece)
            digest.update(piece)
            written += len(piece)
            counter += 1
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1G", help="bytes to upload, e.g. 1G, 256M (1G)")
    parser.add_argument("--quick", action="store_true", help="64 MiB, for a smoke run")
    parser.add_argument("--chunk-size", default="20M", help="our chunk/part size (20M)")
    parser.add_argument("--sdk-chunk-size", default="32M", help="SDK chunk size (its default)")
    parser.add_argument("--parallel-parts", type=int, default=2, help="our parallel S3 parts")
    parser.add_argument("--no-sdk", action="store_true", help="skip the official SDK")
    parser.add_argument("--modes", default="classic,s3", help="classic,s3")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        print(json.dumps(run_ours(json.loads(options.child))))
        return 0

    from dracoon_emulator import EmulatorServer

    size = 64 * MiB if options.quick else parse_size(options.size)
    chunk = parse_size(options.chunk_size)
    sdk_chunk = parse_size(options.sdk_chunk_size)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        source = Path(tmp) / "recording.bin"
        print(f"writing {size / MiB:.0f} MiB test file ...", file=sys.stderr)
        expected_sha = write_test_file(source, size)
        for mode in options.modes.split(","):
            with EmulatorServer(
                seed(mode == "s3"), state_dir=Path(tmp) / f"state-{mode}"
            ) as server:
                rooms = {n["name"]: n["id"] for n in emulator_nodes(server) if n["type"] == "room"}
                for encrypted in (True, False):
                    room = rooms["BenchEncrypted" if encrypted else "BenchPlain"]
                    for kind in ("ours", "sdk"):
                        if kind == "sdk" and options.no_sdk:
                            continue
                        name = f"{kind}-{mode}-{'enc' if encrypted else 'plain'}.bin"
                        args = {
                            "base_url": server.base_url,
                            "room": room,
                            "name": name,
                            "file": str(source),
                            "encrypted": encrypted,
                            "chunk": chunk if kind == "ours" else sdk_chunk,
                            "parallel": options.parallel_parts,
                            "user": USER,
                            "password": PASSWORD,
                            "encryption_password": ENCRYPTION_PASSWORD,
                        }
                        print(
                            f"  {mode:7} {'encrypted' if encrypted else 'plain':9} {kind} ...",
                            file=sys.stderr,
                        )
                        result = run_child(kind, args)
                        stored = [n for n in emulator_nodes(server) if n["name"] == name]
                        ok = bool(stored) and stored[0]["size"] == size
                        if ok and not encrypted and stored[0].get("sha256"):
                            ok = stored[0]["sha256"] == expected_sha
                        rows.append((mode, encrypted, kind, result, ok))
    print_table(rows, size, chunk, sdk_chunk, options.parallel_parts)
    return 0 if all(row[4] for row in rows) else 1


def print_table(rows, size, chunk, sdk_chunk, parallel) -> None:
    print(
        f"\nUpload of {size / MiB:.0f} MiB to the DRACOON emulator (discard storage); "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; ours: chunk "
        f"{chunk // MiB} MiB, {parallel} parallel S3 parts; SDK: chunk {sdk_chunk // MiB} MiB"
    )
    header = (
        f"{'mode':8} {'room':10} {'client':6} {'seconds':>8} {'MiB/s':>8} "
        f"{'peak RSS MiB':>13} {'RSS growth':>11} {'vs SDK':>7} {'stored ok':>9}"
    )
    print(header)
    print("-" * len(header))
    speeds = {(m, e, k): r["bytes"] / MiB / r["seconds"] for m, e, k, r, _ in rows}
    for mode, encrypted, kind, result, ok in rows:
        speed = speeds[(mode, encrypted, kind)]
        sdk = speeds.get((mode, encrypted, "sdk"))
        ratio = f"{speed / sdk:6.2f}x" if kind == "ours" and sdk else ""
        growth = (result["rss_kib"] - result["rss_before_kib"]) / 1024
        print(
            f"{mode:8} {'encrypted' if encrypted else 'plain':10} {kind:6} "
            f"{result['seconds']:8.2f} {speed:8.1f} {result['rss_kib'] / 1024:13.1f} "
            f"{growth:11.1f} {ratio:>7} {'yes' if ok else 'NO':>9}"
        )


if __name__ == "__main__":
    sys.exit(main())
