"""Property test: random JSON bodies and query strings get a DRACOON answer, never a 5xx.

Complements the hand-picked cases in test_robustness.py: hypothesis mixes the fields the
endpoints expect (with values of any JSON type) and real node ids, so requests get past the
first checks and reach the deeper validation.
"""

from __future__ import annotations

import json
import urllib.parse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FIELDS = [
    "name",
    "parentId",
    "items",
    "id",
    "userId",
    "fileId",
    "fileKey",
    "size",
    "permissions",
    "expiration",
    "expireAt",
    "enableExpiration",
    "notes",
    "resolutionStrategy",
    "directS3Upload",
    "isEncrypted",
    "inheritPermissions",
    "firstPartNumber",
    "lastPartNumber",
    "parts",
    "version",
    "privateKeyContainer",
    "publicKeyContainer",
    "classification",
    "deletedNodeIds",
    "text",
    "nodeIds",
    "quota",
    "timestampCreation",
    "userName",
    "language",
    "keepShareLinks",
]
QUERY_KEYS = [
    "parent_id",
    "depth_level",
    "filter",
    "sort",
    "offset",
    "limit",
    "search_string",
    "room_id",
    "file_id",
    "user_id",
    "version",
    "name",
    "type",
    "hide_deleted",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["room", "fail", "overwrite", "RSA-4096", "A", "2025-01-01T00:00:00Z"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS), inner),
    max_leaves=8,
)
bodies = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5) | json_values

BODY_ENDPOINTS = [
    ("POST", "/nodes/rooms"),
    ("POST", "/nodes/folders"),
    ("POST", "/nodes/files/uploads"),
    ("POST", "/nodes/files/keys"),
    ("PUT", "/nodes/rooms/{plain}/users"),
    ("DELETE", "/nodes/rooms/{plain}/users"),
    ("PUT", "/nodes/rooms/{recordings}/encrypt"),
    ("POST", "/user/account/keypair"),
    ("PUT", "{upload_url}"),
    ("POST", "/nodes/files/uploads/{upload_id}/s3_urls"),
    ("PUT", "/nodes/files/uploads/{upload_id}/s3"),
    ("PUT", "/nodes/rooms/{plain}"),
    ("PUT", "/nodes/folders/{folder}"),
    ("PUT", "/nodes/files/{file}"),
    ("POST", "/nodes/{folder}/copy_to"),
    ("POST", "/nodes/{folder}/move_to"),
    ("POST", "/nodes/deleted_nodes/actions/restore"),
    ("DELETE", "/nodes/deleted_nodes"),
    ("POST", "/nodes/{file}/comments"),
    ("PUT", "/user/account"),
]
QUERY_ENDPOINTS = [
    "/nodes",
    "/nodes/search",
    "/nodes/missingFileKeys",
    "/user/account/keypair",
    "/nodes/{plain}/deleted_nodes",
    "/nodes/{plain}/deleted_nodes/versions",
    "/nodes/{file}/comments",
]

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _assert_dracoon_answer(reply, what):
    assert reply.status < 500, (what, reply.status, reply.data[:300])
    if reply.status >= 400:
        error = reply.json()
        assert error["code"] == reply.status and error["message"], (what, error)


def _ids(service):
    channel = service.post(
        "/nodes/files/uploads", {"parentId": service.node_id("/Plain"), "name": "fuzz.bin"}
    ).json()
    plain = service.node_id("/Plain")
    folder = service.post("/nodes/folders", {"parentId": plain, "name": "fuzz-folder"}).json()
    file = service.upload(plain, "fuzz-file.bin", b"fuzz").json()
    return {
        "plain": plain,
        "folder": folder["id"],
        "file": file["id"],
        "recordings": service.node_id("/Recordings"),
        "upload_id": channel["uploadId"],
        "upload_url": channel["uploadUrl"],
    }


def test_random_json_bodies_get_dracoon_answers(api):
    service = api("service")
    ids = _ids(service)

    @FUZZ
    @given(endpoint=st.sampled_from(BODY_ENDPOINTS), body=bodies)
    def check(endpoint, body):
        method, path = endpoint
        payload = json.dumps(body).encode()
        reply = service.request(
            method,
            path.format(**ids),
            body=payload,
            headers={"Content-Type": "application/json"},
        )
        _assert_dracoon_answer(reply, (method, path, payload))

    check()
    assert service.get("/user/account").status == 200


def test_random_query_strings_get_dracoon_answers(api):
    service = api("service")
    ids = _ids(service)
    params = st.lists(
        st.tuples(
            st.sampled_from(QUERY_KEYS),
            st.text(max_size=30) | st.integers(min_value=-(2**70), max_value=2**70).map(str),
        ),
        max_size=4,
    )

    @FUZZ
    @given(path=st.sampled_from(QUERY_ENDPOINTS), query=params)
    def check(path, query):
        url = path.format(**ids) + "?" + urllib.parse.urlencode(query)
        _assert_dracoon_answer(service.get(url), url)

    check()
    assert service.get("/user/account").status == 200
