#!/usr/bin/env python3
"""Benchmark of recording_storage.dracoon.crypto (a script, not a test: it prints, never asserts).

Measures what the service's throughput and latency rest on:
  * streaming AES-256-GCM (FileEncrypter, 20 MiB chunks into one reused buffer) against
    pycryptodome's one-shot ``encrypt_and_digest`` on the same data: streaming must cost nothing
    (target ratio >= 0.9);
  * OpenSSL's AES-256-GCM (``openssl speed``), for scale: the machine's practical limit;
  * unlocking a private key protected with 1,300,000 PBKDF2 iterations (why clients cache keys);
  * file-key wrap/unwrap per second for both key pair versions.

Usage:  .venv/bin/python scripts/bench_crypto.py [--quick]
Numbers vary on a shared machine; each throughput figure is the best of several runs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from Crypto.Cipher import AES

from recording_storage.dracoon.crypto import (
    FileDecrypter,
    FileEncrypter,
    PlainFileKey,
    UserKeyPair,
    decrypt_file_key,
    encrypt_file_key,
    generate_user_key_pair,
)

MIB = 1024 * 1024
CHUNK = 20 * MIB
PASSWORD = "bench-Password-1"  # noqa: S105 - throwaway keys made by this script


def best_seconds(action: Callable[[], object], repeats: int) -> float:
    """Fastest of ``repeats`` runs: the least disturbed by other work on a shared machine."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def gcm_rows(total_mib: int, repeats: int) -> list[tuple[str, str, str]]:
    data = os.urandom(total_mib * MIB)
    view = memoryview(data)
    out = bytearray(CHUNK)
    out_view = memoryview(out)

    def streaming_encrypt() -> None:
        encrypter = FileEncrypter(PlainFileKey.generate())
        for offset in range(0, len(data), CHUNK):
            piece = view[offset : offset + CHUNK]
            encrypter.encrypt(piece, output=out_view[: len(piece)])
        encrypter.finalize()

    def streaming_encrypt_new_bytes() -> None:
        encrypter = FileEncrypter(PlainFileKey.generate())
        for offset in range(0, len(data), CHUNK):
            encrypter.encrypt(view[offset : offset + CHUNK])
        encrypter.finalize()

    def one_shot() -> None:
        key = PlainFileKey.generate()
        AES.new(key.key, AES.MODE_GCM, nonce=key.iv, mac_len=16).encrypt_and_digest(data)

    whole_output = bytearray(len(data))

    def one_shot_preallocated() -> None:
        key = PlainFileKey.generate()
        cipher = AES.new(key.key, AES.MODE_GCM, nonce=key.iv, mac_len=16)
        cipher.encrypt(data, output=whole_output)
        cipher.digest()

    key = PlainFileKey.generate()
    encrypter = FileEncrypter(key)
    ciphertext = bytearray(len(data))
    encrypter.encrypt(data, output=ciphertext)
    tagged = encrypter.finalize()
    ct_view = memoryview(ciphertext)

    def streaming_decrypt() -> None:
        decrypter = FileDecrypter(tagged)
        for offset in range(0, len(ciphertext), CHUNK):
            piece = ct_view[offset : offset + CHUNK]
            decrypter.decrypt(piece, output=out_view[: len(piece)])
        decrypter.finalize()

    size = len(data) / MIB
    one_shot_rate = size / best_seconds(one_shot, repeats)
    rows = [("GCM one-shot encrypt_and_digest (reference)", f"{one_shot_rate:,.0f} MiB/s", "1.00x")]
    for label, action in (
        ("GCM one-shot encrypt(output=preallocated) + digest", one_shot_preallocated),
        ("GCM streaming encrypt, 20 MiB chunks, output= reused buffer", streaming_encrypt),
        ("GCM streaming encrypt, 20 MiB chunks, new bytes per chunk", streaming_encrypt_new_bytes),
        ("GCM streaming decrypt + verify, 20 MiB chunks, output=", streaming_decrypt),
    ):
        rate = size / best_seconds(action, repeats)
        rows.append((label, f"{rate:,.0f} MiB/s", f"{rate / one_shot_rate:.2f}x"))
    rows.append(openssl_row(one_shot_rate, quick=repeats <= 2))
    return rows


def openssl_row(one_shot_rate: float, *, quick: bool) -> tuple[str, str, str]:
    label = "OpenSSL AES-256-GCM, 16 KiB blocks, 1 thread (machine limit)"
    binary = shutil.which("openssl")
    if binary is None:
        return (label, "openssl binary not found", "n/a")
    seconds = "1" if quick else "2"
    result = subprocess.run(
        [binary, "speed", "-evp", "aes-256-gcm", "-bytes", "16384", "-seconds", seconds],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"^aes-256-gcm\s+([\d.]+)k\s*$", result.stdout, re.IGNORECASE | re.M)
    if result.returncode != 0 or match is None:
        return (label, "could not parse `openssl speed` output", "n/a")
    rate = float(match.group(1)) * 1000 / MIB  # openssl reports 1000s of bytes per second
    return (label, f"{rate:,.0f} MiB/s", f"{rate / one_shot_rate:.2f}x")


def key_rows(unlock_runs: int, rsa_seconds: float, full: bool) -> list[tuple[str, str, str]]:
    rows = []
    start = time.perf_counter()
    container_4096 = generate_user_key_pair("RSA-4096", PASSWORD)
    rows.append(
        (
            "generate RSA-4096 key pair (keygen + 1.3M-iteration export)",
            f"{time.perf_counter() - start:.2f} s",
            "once per user",
        )
    )
    unlock_times = []
    for _ in range(unlock_runs):
        start = time.perf_counter()
        key_pair_4096 = UserKeyPair.unlock(container_4096, PASSWORD)
        unlock_times.append(time.perf_counter() - start)
    rows.append(
        (
            f"unlock RSA-4096 private key, 1,300,000 iterations (median of {unlock_runs})",
            f"{statistics.median(unlock_times):.2f} s",
            "cache the unlocked key",
        )
    )
    if full:
        umlaut = "bench-Pässwort"
        legacy = generate_user_key_pair("A", "placeholder")  # re-protect with 8-bit bytes
        key = UserKeyPair.unlock(legacy, "placeholder")._private_key
        pem = key.export_key(
            format="PEM",
            pkcs=8,
            passphrase=umlaut.encode("latin-1"),
            protection="PBKDF2WithHMAC-SHA1AndAES256-CBC",
            prot_params={"iteration_count": 1_300_000, "salt_size": 20},
        ).decode("ascii")
        from recording_storage.dracoon.crypto import PrivateKeyContainer, UserKeyPairContainer

        container = UserKeyPairContainer(PrivateKeyContainer("A", pem), None)
        start = time.perf_counter()
        UserKeyPair.unlock(container, umlaut)
        rows.append(
            (
                "unlock, 8-bit password fallback (UTF-8 try fails first)",
                f"{time.perf_counter() - start:.2f} s",
                "two derivations",
            )
        )
    key_pair_a = UserKeyPair.unlock(generate_user_key_pair("A", PASSWORD), PASSWORD)
    for key_pair in (key_pair_a, key_pair_4096):
        plain = PlainFileKey.generate()
        wrapped = encrypt_file_key(plain, key_pair.public_key_container)
        for label, action in (
            ("wrap", lambda kp=key_pair, p=plain: encrypt_file_key(p, kp.public_key_container)),
            ("unwrap", lambda kp=key_pair, w=wrapped: decrypt_file_key(w, kp)),
        ):
            count, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < rsa_seconds:
                action()
                count += 1
            rate = count / elapsed
            rows.append(
                (
                    f"file key {label}, key pair {key_pair.version} (RSA-{key_pair.modulus_bits})",
                    f"{rate:,.0f} /s",
                    f"{1000 / rate:.2f} ms each",
                )
            )
    return rows


def print_table(rows: list[tuple[str, str, str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    header = ("measurement", "result", "ratio / note")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    print(line)
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].rjust(widths[1]), row[2].ljust(widths[2])]
        print("| " + " | ".join(cells) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run (seconds)")
    args = parser.parse_args()
    if args.quick:
        total_mib, repeats, unlock_runs, rsa_seconds = 40, 2, 1, 0.3
    else:
        total_mib, repeats, unlock_runs, rsa_seconds = 200, 5, 3, 2.0
    import Crypto

    print(
        f"# bench_crypto: pycryptodome {Crypto.__version__}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, {total_mib} MiB of data, best of {repeats}"
        + (" (--quick)" if args.quick else "")
    )
    rows = gcm_rows(total_mib, repeats)
    rows += key_rows(unlock_runs, rsa_seconds, full=not args.quick)
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
