"""The health endpoints over real processes and HTTP (the real master, fake work and probes:
tests/service/fake_serve.py): /livez, /startupz, /readyz and the original /healthcheck, with
GET and HEAD, the startup state, probe times and refused DRACOON credentials."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from tests.service.support import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ENDPOINTS = ("/healthcheck", "/livez", "/startupz", "/readyz", "/metrics")


def head(service, path: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://{service.http}{path}", method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def get_json(service, path: str) -> tuple[int, dict]:
    status, body = service.get(path)
    return status, json.loads(body)


def test_startup_says_starting_not_sqs_error_and_livez_is_up_at_once(fake_service, tmp_path):
    (tmp_path / "probes.json").write_text(json.dumps({"probe_delay": 3}))
    service = fake_service()
    # The first probe round takes 3 s: until it is back nothing is known about SQS.
    assert service.get("/livez")[0] == 200
    assert get_json(service, "/healthcheck") == (500, {"error": "starting", "status": "error"})
    assert get_json(service, "/startupz") == (503, {"status": "starting"})
    status, ready = get_json(service, "/readyz")
    assert status == 503 and "starting" in ready["reasons"]
    assert ready["probes"]["sqs"] == {"ok": None, "detail": "not probed yet", "checked_at": None}

    wait_for(lambda: service.health() == (200, {"status": "success"}), 20, "a healthy service")
    assert get_json(service, "/startupz") == (200, {"status": "running"})
    status, ready = get_json(service, "/readyz")
    assert (status, ready["status"], ready["reasons"]) == (200, "ready", [])
    for name in ("sqs", "s3", "configurator", "dracoon"):
        probe = ready["probes"][name]
        assert probe["ok"] is True and ISO_UTC.match(probe["checked_at"]), probe
        assert probe["age_seconds"] >= 0
    assert ready["workers"]["file_transferer-1"]["alive"] is True
    assert not [r for r in service.log_records() if r.get("code") == 15014]  # no sqs_error


def test_head_answers_like_get_without_a_body(fake_service):
    service = fake_service()
    wait_for(lambda: service.health()[0] == 200, 20, "a healthy service")
    for path in ENDPOINTS:
        status, headers, body = head(service, path)
        assert status == service.get(path)[0], path
        assert body == b"" and int(headers["Content-Length"]) > 0, path
    assert head(service, "/nothing-here")[0] == 404


def test_a_dependency_outage_fails_healthcheck_but_never_livez_nor_readyz(fake_service, tmp_path):
    service = fake_service()
    wait_for(lambda: service.health()[0] == 200, 20, "a healthy service")
    everything_down = {name: False for name in ("sqs", "s3", "configurator", "dracoon")}
    (tmp_path / "probes.json").write_text(json.dumps(everything_down))
    wait_for(lambda: service.health() == (500, {"error": "sqs_error", "status": "error"}), 10,
             "sqs_error")  # fmt: skip
    assert get_json(service, "/livez")[0] == 200
    status, ready = get_json(service, "/readyz")
    assert status == 200, ready  # readiness is about this replica, not shared outages
    assert ready["probes"]["dracoon"]["ok"] is False
    assert ready["probes"]["dracoon"]["detail"] == "forced by test"
    status, detail = get_json(service, "/healthcheck?detail=1")
    assert (status, detail["error"], detail["status"]) == (500, "sqs_error", "error")
    assert detail["probes"]["sqs"]["ok"] is False and ISO_UTC.match(detail["checked_at"])


def test_refused_credentials_show_in_readyz_healthcheck_detail_and_metrics(fake_service, tmp_path):
    (tmp_path / "credentials.json").write_text(json.dumps({"a.example": "refused"}))
    service = fake_service(env={"RECORDING_STORAGE_CREDENTIALS_INTERVAL": "1"})
    wait_for(lambda: service.health()[0] == 200, 20, "a healthy service")

    def refused():
        status, ready = get_json(service, "/readyz")
        return status == 503 and "credentials_refused" in ready["reasons"] and ready

    ready = wait_for(refused, 15, "credentials_refused in /readyz")
    check = ready["credentials"]["a.example"]
    assert check["state"] == "refused" and ISO_UTC.match(check["checked_at"])
    # The original contract is unchanged; the detail shows what is wrong.
    assert service.health() == (200, {"status": "success"})
    status, detail = get_json(service, "/healthcheck?detail=1")
    assert status == 200 and detail["credentials"]["a.example"]["state"] == "refused"
    assert service.metric("recording_storage_dracoon_credentials_ok", instance="a.example") == 0

    # One instance accepted is enough to take work (the others' jobs fail on their own).
    (tmp_path / "credentials.json").write_text(
        json.dumps({"a.example": "refused", "b.example": "accepted"})
    )
    wait_for(lambda: get_json(service, "/readyz")[0] == 200, 15, "ready again")
    wait_for(
        lambda: service.metric("recording_storage_dracoon_credentials_ok", instance="b.example"),
        10,
        "b.example accepted in /metrics",
    )
