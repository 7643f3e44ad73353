"""CPU of the pieces a warm 1 MiB job pays for beyond its requests (no servers needed).

``python -m scripts.bench.job_costs`` prints the CPU time (``time.process_time``, so a helper
thread woken by the call counts too) of each piece, per call and per job, the best of five
rounds. These are what separates the service's CPU per job from scenario 4's requests-only
baseline, which makes the same requests without encrypting, hashing or guarding them
(docs/performance.md). Run it before and after a change to one of them.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MiB = 1024 * 1024


def cpu_per_call(work: Callable[[], object], calls: int, rounds: int = 5) -> float:
    """Seconds of process CPU per call of ``work``, the best of ``rounds``."""
    work()
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(calls):
            work()
        best = min(best, (time.process_time() - started) / calls)
    return best


def main() -> None:
    from recording_storage import http_guard
    from recording_storage.aws.s3 import call_within
    from recording_storage.dracoon.crypto import FileEncrypter, PlainFileKey, encrypt_file_key
    from recording_storage.dracoon.crypto.key_pairs import PublicKeyContainer
    from scripts.bench.world import reader_key_pair

    reader = PublicKeyContainer.from_json(reader_key_pair()["publicKeyContainer"])
    file_key = PlainFileKey.generate()
    data = os.urandom(MiB)

    def encrypt() -> None:
        encrypter = FileEncrypter(file_key)
        encrypter.encrypt(data)
        encrypter.finalize()

    def pause() -> None:  # a request's wait, so a woken helper thread gets to run
        time.sleep(0.0005)

    def guarded() -> None:
        with http_guard.call_deadline(60.0):
            pause()

    def s3_call(deadline: float | None) -> Callable[[], object]:
        return lambda: call_within(deadline, "HeadObject s3://bench/x", pause)

    def thread_start_and_join() -> None:
        stop = threading.Event()
        thread = threading.Thread(target=stop.wait, args=(60,), daemon=True)
        thread.start()
        stop.set()
        thread.join()

    rows = [
        # name, per job, CPU per call
        ("RSA-4096 file key wrap (completion + reader)", 2,
         cpu_per_call(lambda: encrypt_file_key(file_key, reader), 300)),
        ("MD5 of 1 MiB (dracoon.verifyHash)", 1,
         cpu_per_call(lambda: hashlib.md5(data).digest(), 50)),  # noqa: S324
        ("AES-256-GCM of 1 MiB (FileEncrypter)", 1, cpu_per_call(encrypt, 50)),
        ("DRACOON call deadline (http_guard), beyond the wait", 5,
         cpu_per_call(guarded, 2000) - cpu_per_call(pause, 2000)),
        ("S3 call with a deadline (aws/s3.py call_within), beyond", 3,
         cpu_per_call(s3_call(60.0), 2000) - cpu_per_call(s3_call(None), 2000)),
        ("thread start + join (for comparison)", 0, cpu_per_call(thread_start_and_join, 500)),
    ]  # fmt: skip
    print(f"{'piece':55} {'us/call':>9} {'calls/job':>9} {'ms/job':>7}")
    for name, per_job, seconds in rows:
        print(f"{name:55} {seconds * 1e6:9.1f} {per_job:9d} {seconds * per_job * 1e3:7.2f}")


if __name__ == "__main__":
    main()
