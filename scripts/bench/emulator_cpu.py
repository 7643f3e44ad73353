"""CPU per request of the DRACOON emulator alone, on a warm job's five requests.

The bench (issue 17) must measure the service, not its stand-ins; this driver measures the
stand-in: it starts the emulator the way the bench does (``scripts/bench/world.py``: the
bench seed, a state directory, request logging at INFO into a counting handler) in a child
process, sends the protocol floor of one small job (create upload channel, upload a chunk,
complete with a file key, list the missing file keys of that file, set the reader's key)
over one kept-alive connection, and reports the child's user+sys CPU per request.

    .venv/bin/python -m scripts.bench.emulator_cpu --jobs 300
    .venv/bin/python -m scripts.bench.emulator_cpu --jobs 300 --profile /tmp/emu.prof

``--profile`` runs the child under cProfile and writes its stats when it stops.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from .world import PASSWORD, READER, USER, seed

CHUNK = b"x" * 1024
FILE_KEY = {
    "version": "RSA-4096/AES-256-GCM",
    "key": base64.b64encode(b"k" * 512).decode(),
    "iv": base64.b64encode(b"i" * 12).decode(),
    "tag": base64.b64encode(b"t" * 16).decode(),
}

# The child: the emulator as the bench runs it, until its stdin closes.
_CHILD = """
import cProfile, logging, sys, json
from pathlib import Path
from dracoon_emulator import EmulatorServer

class Counting(logging.Handler):
    def __init__(self):
        super().__init__()
        self.count = 0
    def emit(self, record):
        record.getMessage()
        self.count += 1

log = logging.getLogger("dracoon_emulator")
log.setLevel(logging.INFO)
log.propagate = False
log.addHandler(Counting())
seed, state_dir, profile = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
server = EmulatorServer(seed, state_dir=state_dir)
print(server.base_url, flush=True)
if not profile:
    server.start()
    sys.stdin.read()
    server.stop()
    sys.exit(0)
# Profiled: requests are served one at a time in this thread, so cProfile sees them all.
import socketserver, threading
server._httpd.process_request = lambda request, address: socketserver.TCPServer.process_request(
    server._httpd, request, address)
threading.Thread(target=lambda: (sys.stdin.read(), server._httpd.shutdown()), daemon=True).start()
profiler = cProfile.Profile()
profiler.enable()
server.serve_forever()
profiler.disable()
profiler.dump_stats(profile)
server.stop()
"""


class Client:
    """One kept-alive HTTP/1.1 connection that answers JSON."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.token = ""

    def call(self, method: str, path: str, body: object = None, *, raw: bytes | None = None,
             form: str | None = None) -> object:  # fmt: skip
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        payload: bytes | None = raw
        if form is not None:
            payload = form.encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif raw is not None:
            headers["Content-Type"] = "application/octet-stream"
        self.conn.request(method, path, body=payload, headers=headers)
        answer = self.conn.getresponse()
        data = answer.read()
        if answer.status >= 400:
            raise RuntimeError(f"{method} {path} -> {answer.status} {data[:200]!r}")
        return json.loads(data) if data else None


def one_job(client: Client, room_id: int, reader_id: int, index: int) -> None:
    channel = client.call(
        "POST", "/api/v4/nodes/files/uploads", {"parentId": room_id, "name": f"rec-{index}.mp4"}
    )
    assert isinstance(channel, dict)
    token = channel["token"]
    client.call("POST", f"/api/v4/uploads/{token}", raw=CHUNK)
    node = client.call("PUT", f"/api/v4/uploads/{token}", {"fileKey": FILE_KEY})
    assert isinstance(node, dict)
    missing = client.call(
        "GET", f"/api/v4/nodes/missingFileKeys?file_id={node['id']}&offset=0&limit=100"
    )
    assert isinstance(missing, dict) and missing["items"], missing
    items = [{"fileId": node["id"], "userId": reader_id, "fileKey": FILE_KEY}]
    client.call("POST", "/api/v4/nodes/files/keys", {"items": items})


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20, help="jobs before measuring")
    parser.add_argument("--profile", help="write the child's cProfile stats here")
    args = parser.parse_args(argv)
    state_dir = Path(f"/tmp/emulator-cpu-{os.getpid()}")
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, json.dumps(seed(False)), str(state_dir),
         args.profile or ""],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None and child.stdin is not None
        base_url = child.stdout.readline().strip()
        client = Client(base_url)
        login = client.call(
            "POST", "/oauth/token",
            form=f"grant_type=password&username={USER}&password={PASSWORD}"
            "&client_id=dracoon_legacy_scripting&client_secret=",
        )  # fmt: skip
        assert isinstance(login, dict)
        client.token = login["access_token"]
        rooms = client.call("GET", "/api/v4/nodes?room_manager=false")
        assert isinstance(rooms, dict)
        room_id = next(n["id"] for n in rooms["items"] if n["name"] == "BenchEncrypted")
        users = client.call("GET", f"/api/v4/nodes/rooms/{room_id}/users")
        assert isinstance(users, dict)
        reader_id = next(u["userInfo"]["id"] for u in users["items"]
                         if u["userInfo"]["userName"] == READER)  # fmt: skip
        for index in range(args.warmup):
            one_job(client, room_id, reader_id, index)
        process = psutil.Process(child.pid)
        cpu_before, wall_before = cpu_seconds(process), time.monotonic()
        for index in range(args.warmup, args.warmup + args.jobs):
            one_job(client, room_id, reader_id, index)
        cpu = cpu_seconds(process) - cpu_before
        wall = time.monotonic() - wall_before
        requests = args.jobs * 5
        print(
            f"{args.jobs} jobs ({requests} requests) after {args.warmup} warm-up jobs: "
            f"emulator CPU {cpu * 1000 / requests:.2f} ms/request, "
            f"{cpu * 1000 / args.jobs:.1f} ms/job; wall {wall * 1000 / requests:.2f} ms/request"
        )
        client.conn.close()
        child.stdin.close()
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
        subprocess.run(["rm", "-rf", str(state_dir)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
