"""Schema-based fuzzing of the emulator with schemathesis, driven by DRACOON's description.

For every operation the emulator implements (taken from its own route table, so new
endpoints are fuzzed as soon as they exist), schemathesis generates requests from the
description's schemas -- valid ones and deliberately broken ones -- and checks each answer:
no 5xx, a status the description lists, the listed content type, a body that matches its
schema. The contract recorder checks the same answers once more (documented error codes).
The run is bounded and reproducible: a fixed number of examples per operation, derandomized,
no example database.
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import schemathesis
from dracoon_emulator import EmulatorServer
from dracoon_emulator.app import EmulatorApp
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.contract import SESSION, ContractRecorder, description, report, template_for
from tests.support.emulator_fixtures import default_seed, login_password

# One xdist worker runs this module's tests (scripts/test.sh: --dist loadgroup):
# one emulator for the whole module (fuzz_target).
pytestmark = pytest.mark.xdist_group("schema_fuzz")

EXAMPLES_PER_OPERATION = 6
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)
# Downloads: the description gives their error answers the file's media type; DRACOON (and
# the emulator) answer errors as JSON. tests/contract/allowlist.yaml explains it once more.
FILE_MEDIA_TYPE_ON_ERRORS = {
    ("GET", "/v4/downloads/{token}"),
    ("GET", "/v4/nodes/files/{file_id}/downloads"),
}


def implemented_operations() -> set[tuple[str, str]]:
    """(METHOD, description template) for every API route of the emulator."""
    with tempfile.TemporaryDirectory() as scratch:
        routes = EmulatorApp(None, Path(scratch), persist=False).router.routes
    found = set()
    for route in routes:
        if not route.pattern.startswith("/api/v4/"):
            continue
        sample = re.sub(r"\{\w+(?::int)?\}", "1", route.pattern)[len("/api") :]
        template = template_for(sample)
        if template and route.method.lower() in description()["paths"][template]:
            found.add((route.method, template))
    return found


IMPLEMENTED = implemented_operations()
schema = schemathesis.openapi.from_dict(description()).include(
    lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in IMPLEMENTED
)
# Only the generated (hypothesis) phase, bounded by EXAMPLES_PER_OPERATION: the coverage phase
# adds ~60 deterministic requests per operation (several thousand in all), beyond the budget.
schema.config.phases.coverage.enabled = False


@pytest.fixture(scope="module")
def fuzz_target(test_key_pairs):
    """One emulator for the whole fuzz run (default seed) and a token of its room admin."""
    recorder = ContractRecorder()
    server = EmulatorServer(default_seed(test_key_pairs), observer=recorder.observe).start()
    form = urllib.parse.urlencode(
        {"grant_type": "password", "username": "service", "password": login_password("service")}
    ).encode()
    request = urllib.request.Request(
        f"{server.base_url}/oauth/token",
        data=form,
        headers={
            "Authorization": "Basic " + base64.b64encode(b"dracoon_legacy_scripting:").decode(),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        token = json.loads(answer.read())["access_token"]
    yield server, token, recorder
    server.stop()
    violations = recorder.violations()
    SESSION.add(recorder, violations)
    assert not violations, report(violations)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_emulator_answers_generated_requests_by_the_description(case, fuzz_target):
    server, token, _ = fuzz_target
    response = case.call(
        base_url=server.base_url + "/api",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    checks = CHECKS
    if response.status_code >= 400 and (case.method, case.path) in FILE_MEDIA_TYPE_ON_ERRORS:
        checks = (not_a_server_error, status_code_conformance)
    case.validate_response(response, checks=checks)


def test_methods_outside_http_servers_list_get_the_routers_405(fuzz_target):
    """schemathesis' coverage phase (off above, for the budget) sent TRACE and QUERY, which
    http.server answered with its own 501; every method now reaches the router."""
    server, token, _ = fuzz_target
    paths = sorted({template for _, template in IMPLEMENTED})
    for template in paths:
        path = re.sub(r"\{\w+\}", "1", template)
        for method in ("TRACE", "QUERY"):
            request = urllib.request.Request(
                f"{server.base_url}/api{path}",
                method=method,
                headers={"Authorization": f"Bearer {token}"},
            )
            with pytest.raises(urllib.error.HTTPError) as answer:
                urllib.request.urlopen(request, timeout=30)
            body = json.loads(answer.value.read())
            assert (answer.value.code, body["code"]) == (405, 405), (method, path, body)
