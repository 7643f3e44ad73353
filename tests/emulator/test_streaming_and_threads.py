"""Large bodies are streamed to disk (memory does not grow with the body) and requests are
served concurrently (a slow request does not hold up the others)."""

from __future__ import annotations

import hashlib
import io
import threading
import time
import tracemalloc

MiB = 1024 * 1024


def test_a_large_chunk_is_streamed_to_disk(api):
    service = api("service")
    data = bytes(range(256)) * (32 * MiB // 256)
    created = service.post(
        "/nodes/files/uploads", {"parentId": service.node_id("/Plain"), "name": "big.bin"}
    ).json()
    tracemalloc.start()
    try:
        chunk = service.request(
            "POST",
            created["uploadUrl"],
            body=io.BytesIO(data),
            headers={"Authorization": "", "Content-Length": str(len(data))},
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert chunk.status == 201, chunk.data
    assert peak < 4 * MiB, f"peak {peak / MiB:.1f} MiB while receiving a 32 MiB body"
    done = service.request("PUT", created["uploadUrl"], json_body={}, headers={"Authorization": ""})
    assert done.status == 201, done.data
    stored = next(n for n in service.admin("GET", "/nodes").json() if n["name"] == "big.bin")
    assert stored["size"] == len(data)
    assert stored["sha256"] == hashlib.sha256(data).hexdigest()


def test_a_slow_request_does_not_block_others(api):
    service = api("service")
    rule = {"method": "GET", "path": "^/api/v4/public/time$", "latency_ms": 3000, "count": 1}
    assert service.admin("POST", "/faults", {"rules": [rule]}).status == 201
    order: list[str] = []
    slow = threading.Thread(
        target=lambda: order.append(f"slow {service.get('/public/time').status}")
    )
    slow.start()
    try:
        # the rule's count drops to 0 when the slow request has arrived and starts waiting
        for _ in range(1000):
            if service.admin("GET", "/faults").json()["rules"][0]["count"] == 0:
                break
            time.sleep(0.01)
        for _ in range(5):
            assert service.get("/user/account").status == 200
        order.append("fast")
    finally:
        slow.join(timeout=30)
    assert order == ["fast", "slow 200"]
