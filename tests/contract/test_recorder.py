"""The contract recorder itself: it catches each kind of deviation, leaves out what is out of
scope, honours the allow-list, and is wired into every emulator the fixtures start."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from dracoon_emulator.observe import Exchange

from tests.support.contract import (
    ALLOW_LIST,
    AllowEntry,
    ContractRecorder,
    SessionTally,
    check,
    description,
    load_allow_list,
    report,
    template_for,
)
from tests.support.paths import PROJECT_ROOT

OURS = {"user-agent": "recording-storage-dracoon-client/0.1", "content-type": "application/json"}
ERROR = {"code": 404, "message": "Not Found", "debugInfo": "Node 7 not found", "errorCode": -41000}


def exchange(
    method="GET",
    path="/api/v4/nodes/7",
    *,
    status=200,
    body=None,
    request=None,
    headers=None,
    query=(),
    fault=False,
    content_type="application/json",
) -> Exchange:
    return Exchange(
        method=method,
        path=path,
        query=tuple(query),
        request_headers=dict(OURS if headers is None else headers),
        request_body=None if request is None else json.dumps(request).encode(),
        status=status,
        response_headers={},
        response_content_type=content_type,
        response_body=b"" if body is None else json.dumps(body).encode(),
        fault_injected=fault,
    )


def kinds(found) -> set[str]:
    return {f"{v.side}/{v.kind}" for v in found}


def test_templates_prefer_literal_paths():
    assert template_for("/v4/nodes/search") == "/v4/nodes/search"
    assert template_for("/v4/nodes/12") == "/v4/nodes/{node_id}"
    assert template_for("/v4/nodes/files/uploads/abc/s3_urls") == (
        "/v4/nodes/files/uploads/{upload_id}/s3_urls"
    )
    assert template_for("/v4/no/such/thing") is None


def test_a_conforming_error_answer_passes():
    assert check(exchange(status=404, body=ERROR)) == []


def test_a_status_the_operation_does_not_list_is_caught():
    found = check(exchange(status=418, body=ERROR | {"code": 418}))
    assert kinds(found) == {"response/status"}
    assert "418" in str(found[0]) and "/v4/nodes/{node_id}" in str(found[0])


def test_a_missing_required_field_and_a_wrong_type_are_caught():
    node = {"id": "7", "type": "room"}  # id must be an integer, name is required
    found = check(exchange(body=node))
    assert kinds(found) == {"response/response-body"}
    assert "'name' is a required property" in found[0].detail
    assert "is not of type 'integer'" in found[0].detail


def test_an_undocumented_error_code_is_caught():
    found = check(exchange(status=404, body=ERROR | {"errorCode": -12345}))
    assert kinds(found) == {"response/error-code"}
    assert "-12345" in found[0].detail


def test_our_clients_requests_are_checked_others_only_by_the_answer():
    bad = {"name": "x", "parentId": "seven"}  # parentId must be an integer
    ours = exchange(
        "POST",
        "/api/v4/nodes/folders",
        status=400,
        request=bad,
        body=ERROR | {"code": 400, "errorCode": -80000},
    )
    assert kinds(check(ours)) == {"request/request-body"}
    foreign = exchange(
        "POST",
        "/api/v4/nodes/folders",
        status=400,
        request=bad,
        headers={"user-agent": "curl/8"},
        body=ERROR | {"code": 400, "errorCode": -80000},
    )
    assert check(foreign) == []


def test_unknown_operations():
    called = exchange("GET", "/api/v4/nodes/7/colour", status=404, body=ERROR)
    assert kinds(check(called)) == {"request/unknown-operation"}  # our client called it
    served = exchange(
        "GET", "/api/v4/colours", status=200, body={}, headers={"user-agent": "curl/8"}
    )
    assert kinds(check(served)) == {"response/unknown-operation"}  # the emulator served it
    refused = exchange(
        "GET", "/api/v4/colours", status=404, body=ERROR, headers={"user-agent": "curl/8"}
    )
    assert check(refused) == []


def test_operations_the_emulator_does_not_implement():
    """Its router's own 404/405 is no emulated answer; our client must not call them."""
    missing = {"code": 404, "message": "Not Found", "debugInfo": "No such endpoint"}
    answer = exchange("GET", "/api/v4/shares/downloads", status=404, body=missing)
    foreign = Exchange(**{**answer.__dict__, "routed": False, "request_headers": {}})
    assert check(foreign) == []  # GET /shares/downloads lists no 404, but it is not emulated
    ours = Exchange(**{**answer.__dict__, "routed": False})
    assert kinds(check(ours)) == {"request/not-emulated"}


@pytest.mark.parametrize(
    "path", ["/emulator/nodes", "/emulator/s3/token/1", "/oauth/token", "/api/v4/nodes/7"]
)
def test_out_of_scope_exchanges_are_not_checked(path):
    fault = path.startswith("/api")  # a fault rule's answer is deliberately off-contract
    assert check(exchange("GET", path, status=503, body={"x": 1}, fault=fault)) == []


def test_the_allow_list_explains_a_known_deviation_and_nothing_else():
    entry = AllowEntry("GET", "/v4/nodes/{node_id}", "status", "because", status=418)
    recorder = ContractRecorder([entry])
    recorder.observe(exchange(status=418, body=ERROR | {"code": 418}))
    recorder.observe(exchange(status=404, body=ERROR | {"errorCode": -1}))
    left = recorder.violations()
    assert kinds(left) == {"response/error-code"}
    assert [e.reason for _, e in recorder.allowed] == ["because"]
    text = report(left)
    assert "-1 is not one of" in text and ALLOW_LIST.name in text


def test_every_allow_list_entry_names_a_documented_operation_and_a_reason():
    entries = load_allow_list()
    assert 0 < len(entries) <= 15, "the allow-list is for the description's own faults"
    for entry in entries:
        documented = description()["paths"].get(entry.path, {})
        if entry.kind == "unknown-operation":  # an operation the description lacks
            assert entry.method.lower() not in documented, entry
        else:
            assert entry.method.lower() in documented, entry
        assert len(entry.reason) > 40, entry


def test_an_entry_without_a_reason_is_refused(tmp_path):
    path = tmp_path / "allow.yaml"
    path.write_text("- {method: GET, path: /v4/nodes, kind: status}\n")
    with pytest.raises(ValueError, match="reason"):
        load_allow_list(path)


def test_the_fixtures_record_every_exchange(emulator, contract_recorder):
    """Wiring: the emulator fixture reports to this test's recorder."""
    assert contract_recorder is not None
    with urllib.request.urlopen(f"{emulator.api_url}/public/software/version") as answer:
        assert answer.status == 200
    recorded = list(contract_recorder.exchanges)
    assert [(e.method, e.path, e.status) for e in recorded] == [
        ("GET", "/api/v4/public/software/version", 200)
    ]
    assert contract_recorder.violations() == []


@pytest.mark.contract_exempt(reason="checks the opt-out itself")
def test_a_test_can_opt_out(contract_recorder):
    assert contract_recorder is None


def test_generic_validation_codes_count_when_documented_for_the_status_anywhere():
    nodes = description()["paths"]["/v4/nodes"]["get"]["responses"]["400"]["x-error-codes"]
    assert -80002 not in nodes  # the description's list for GET /nodes is incomplete
    invalid_number = ERROR | {"code": 400, "errorCode": -80002}
    assert check(exchange("GET", "/api/v4/nodes", status=400, body=invalid_number)) == []
    # A domain code is checked per operation: -40010 is a 409 of uploads, not of GET /nodes.
    wrong = ERROR | {"code": 400, "errorCode": -40010}
    assert kinds(check(exchange("GET", "/api/v4/nodes", status=400, body=wrong))) == {
        "response/error-code"
    }


def test_our_client_identifies_itself_so_its_requests_are_checked(emulator, contract_recorder):
    """The recorder checks requests by User-Agent; urllib3 drops a pool's default headers
    when a request brings its own, so the client sets it on every request."""
    from recording_storage.dracoon.client import DracoonClient
    from tests.support.emulator_fixtures import login_password

    client = DracoonClient(emulator.api_url, "service", login_password("service"))
    try:
        assert client.get_node(1000).name == "Recordings"  # the first seed room
    finally:
        client.close()
    api = [e for e in contract_recorder.exchanges if e.path.startswith("/api/")]
    assert api and all(
        e.request_headers.get("user-agent", "").startswith("recording-storage") for e in api
    ), {e.request_headers.get("user-agent") for e in api}


def test_the_summary_adds_up_the_tallies_of_parallel_workers():
    """Under pytest-xdist each worker checks its own tests' exchanges and hands its tally to
    the controller as plain data (tests/support/emulator_fixtures.py)."""
    controller = SessionTally()
    for status in (418, 404):  # one worker with an allowed deviation, one without
        recorder = ContractRecorder(
            [AllowEntry("GET", "/v4/nodes/{node_id}", "status", "because", status=418)]
        )
        recorder.observe(exchange(status=status, body=ERROR | {"code": status}))
        recorder.observe(exchange(status=404, body=ERROR | {"errorCode": -1}))
        worker = SessionTally()
        worker.add(recorder, recorder.violations())
        controller.merge(json.loads(json.dumps(worker.to_json())))
    assert (controller.tests, controller.exchanges, controller.unexplained) == (2, 4, 2)
    assert controller.allowed == {"GET /v4/nodes/{node_id} [status]": 1}
    assert "4 emulator exchanges in 2 tests" in controller.summary()[0]
    assert "2 unexplained violations" in controller.summary()[0]


@pytest.mark.slow
def test_a_parallel_run_reports_every_workers_exchanges():
    """The wiring: ``pytest -n 2`` prints one summary line over both workers' tests."""
    chosen = "record_every_exchange or identifies_itself"
    # Plugins these tests do not use stay off: loading schemathesis and hypothesis costs each
    # of the three pytest processes seconds of CPU (~16 s of CPU for this test with them, ~5 s
    # without).
    unused_plugins = ["-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:anyio"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *unused_plugins, "-n", "2",
         "-q", "--dist", "load", str(Path(__file__)), "-k", chosen],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=240, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    assert "2 passed" in result.stdout
    assert re.search(r"DRACOON contract: \d+ emulator exchanges in 2 tests", result.stdout), (
        result.stdout[-3000:]
    )
