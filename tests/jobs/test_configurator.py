"""The HTTP configurator client against a real HTTP server (pytest-httpserver), and the
file: configurator."""

from __future__ import annotations

import json
import threading

import pytest
from werkzeug import Response

from recording_storage.config import load_settings
from recording_storage.configurator import (
    ConfiguratorUnavailableError,
    FileConfigurator,
    HttpConfigurator,
    InstanceConfigError,
    UnknownInstanceError,
    make_configurator,
)
from recording_storage.configurator.cache import TtlCache

KEYS = {
    "recordings.storage": "dracoon",
    "recordings.dracoon.parent-room-id": "12",
    "recordings.dracoon.login": "svc",
    "recordings.dracoon.password": "pw-secret",
    "recordings.dracoon.encryption-password": "enc-secret",
    "recordings.dracoon.targets": '[{"meetingTypeId": "*any*", "copyTo": [{"path": "x"}]}]',
}


def configurator(httpserver, **kwargs) -> HttpConfigurator:
    options = {"timeout": 0.5, "retries": 1, "backoff_factor": 0, "cache_ttl": 60} | kwargs
    return HttpConfigurator(httpserver.url_for("/api"), **options)


def test_get_instance(httpserver):
    httpserver.expect_request("/api/instances/a.example.com").respond_with_json(KEYS)
    config = configurator(httpserver, token="tok").get_instance("a.example.com")
    assert config.parent_room_id == 12 and config.login == "svc" and config.uses_dracoon
    assert config.password == "pw-secret"
    assert "secret" not in repr(config)


def test_token_is_sent(httpserver):
    httpserver.expect_request(
        "/api/instances/a.example.com", headers={"Authorization": "Bearer tok"}
    ).respond_with_json(KEYS)
    assert configurator(httpserver, token="tok").get_instance("a.example.com").login == "svc"


def test_nested_keys_are_accepted(httpserver):
    nested = {"recordings": {"storage": "dracoon", "dracoon": {"login": "n", "password": "p",
                                                               "parent-room-id": 3}}}  # fmt: skip
    httpserver.expect_request("/api/instances/n.example.com").respond_with_json(nested)
    config = configurator(httpserver).get_instance("n.example.com")
    assert (config.login, config.parent_room_id) == ("n", 3)


def test_unknown_instance_is_404(httpserver):
    httpserver.expect_request("/api/instances/nope.example.com").respond_with_data(
        "not found", status=404
    )
    with pytest.raises(UnknownInstanceError, match=r"nope\.example\.com") as info:
        configurator(httpserver).get_instance("nope.example.com")
    assert info.value.retryable is False


def test_invalid_domain_never_reaches_the_server(httpserver):
    with pytest.raises(UnknownInstanceError):
        configurator(httpserver).get_instance("../admin")


def test_5xx_is_retried_then_unavailable(httpserver):
    calls = []

    def handler(request):
        calls.append(1)
        return Response("boom", status=503)

    httpserver.expect_request("/api/instances/a.example.com").respond_with_handler(handler)
    with pytest.raises(ConfiguratorUnavailableError, match="HTTP 503") as info:
        configurator(httpserver, retries=2).get_instance("a.example.com")
    assert info.value.retryable is True
    assert len(calls) == 3


def test_5xx_then_success(httpserver):
    answers = [Response("boom", status=502), Response(json.dumps(KEYS), status=200)]
    httpserver.expect_request("/api/instances/a.example.com").respond_with_handler(
        lambda request: answers.pop(0)
    )
    assert configurator(httpserver).get_instance("a.example.com").login == "svc"


def test_timeout_is_unavailable(httpserver):
    release = threading.Event()

    def slow(request):
        release.wait(5)  # released below, so the server is free for the next test
        return Response(json.dumps(KEYS))

    httpserver.expect_request("/api/instances/a.example.com").respond_with_handler(slow)
    try:
        with pytest.raises(ConfiguratorUnavailableError, match="did not answer"):
            configurator(httpserver, timeout=0.3, retries=0).get_instance("a.example.com")
    finally:
        release.set()


def test_connection_refused_is_unavailable():
    client = HttpConfigurator("http://127.0.0.1:9/api", timeout=0.5, retries=0)
    with pytest.raises(ConfiguratorUnavailableError, match=r"127\.0\.0\.1:9"):
        client.get_instance("a.example.com")


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"text"'])
def test_malformed_json(httpserver, body):
    httpserver.expect_request("/api/instances/a.example.com").respond_with_data(body)
    with pytest.raises(ConfiguratorUnavailableError, match="JSON"):
        configurator(httpserver).get_instance("a.example.com")


def test_bad_key_types_name_the_key_not_the_value(httpserver):
    bad = KEYS | {"recordings.dracoon.parent-room-id": "twelve",
                  "recordings.dracoon.password": ["pw-secret"]}  # fmt: skip
    httpserver.expect_request("/api/instances/a.example.com").respond_with_json(bad)
    with pytest.raises(InstanceConfigError) as info:
        configurator(httpserver).get_instance("a.example.com")
    assert "parent-room-id" in str(info.value) and "recordings.dracoon.password" in str(info.value)
    assert "pw-secret" not in str(info.value)


def test_ttl_cache_and_stale_answer_during_outage(httpserver):
    answers = [Response(json.dumps(KEYS)), Response("down", status=500), Response("down", 500)]
    httpserver.expect_request("/api/instances/a.example.com").respond_with_handler(
        lambda request: answers.pop(0)
    )
    now = [0.0]
    client = configurator(httpserver, retries=0)
    client._cache = TtlCache(10, stale_for=100, clock=lambda: now[0])
    assert client.get_instance("a.example.com").login == "svc"
    assert client.get_instance("a.example.com").login == "svc"  # cached: no request
    assert len(answers) == 2
    now[0] = 20  # expired; the configurator is down: the last good answer is used
    assert client.get_instance("a.example.com").login == "svc"
    now[0] = 500  # too old to serve
    with pytest.raises(ConfiguratorUnavailableError):
        client.get_instance("a.example.com")


def test_list_dracoon_instances_follows_next(httpserver):
    httpserver.expect_request("/api/instances", query_string="storage=dracoon").respond_with_json(
        {"instances": {"a.example.com": KEYS, "b.example.com": KEYS | {
            "recordings.storage": "none"}}, "next": "/api/instances?page=2"})  # fmt: skip
    httpserver.expect_request("/api/instances", query_string="page=2").respond_with_json(
        {"instances": {"c.example.com": KEYS, "broken.example.com": {
            "recordings.storage": "dracoon", "recordings.dracoon.parent-room-id": "x"}},
         "next": None})  # fmt: skip
    domains = [c.domain for c in configurator(httpserver).list_dracoon_instances()]
    assert domains == ["a.example.com", "c.example.com"]


def test_list_without_instances_object(httpserver):
    httpserver.expect_request("/api/instances").respond_with_json({"items": []})
    with pytest.raises(ConfiguratorUnavailableError, match="instances"):
        configurator(httpserver).list_dracoon_instances()


def test_file_configurator(tmp_path):
    path = tmp_path / "instances.yaml"
    path.write_text(json.dumps({"A.example.com": KEYS, "plain.example.com": {
        "recordings.storage": "none"}}))  # fmt: skip
    files = FileConfigurator(path)
    assert files.get_instance("a.example.com").login == "svc"  # domains are case-insensitive
    with pytest.raises(UnknownInstanceError):
        files.get_instance("other.example.com")
    assert [c.domain for c in files.list_dracoon_instances()] == ["A.example.com"]
    path.write_text(
        "b.example.com:\n  recordings.storage: dracoon\n  recordings.dracoon.login: b\n"
    )
    assert files.get_instance("b.example.com").login == "b"  # re-read after a change
    path.write_text("[not, a, mapping]")
    with pytest.raises(ConfiguratorUnavailableError, match="must map"):
        files.get_instance("b.example.com")
    path.unlink()
    with pytest.raises(ConfiguratorUnavailableError, match="cannot be read"):
        files.get_instance("b.example.com")


def test_make_configurator_picks_by_url(tmp_path):
    conf = tmp_path / "app.conf"
    conf.write_text("configurator.url = file:inst.yaml\n")
    chosen = make_configurator(load_settings(conf, env={}))
    assert isinstance(chosen, FileConfigurator) and chosen.path == tmp_path / "inst.yaml"
    chosen = make_configurator(load_settings(None, env={"RS_CONFIGURATOR_URL": "https://c/x"}))
    assert isinstance(chosen, HttpConfigurator) and chosen.base_url == "https://c/x"


def test_require_dracoon_names_missing_keys():
    from recording_storage.configurator import InstanceConfig

    config = InstanceConfig.from_mapping("a.example.com", {"recordings.storage": "dracoon"})
    with pytest.raises(InstanceConfigError) as info:
        config.require_dracoon()
    for key in ("parent-room-id", "login", "password"):
        assert f"recordings.dracoon.{key} is missing" in str(info.value)


# -- hostile answers (issue 13): retryable errors naming the URL, never a wedged worker --------


@pytest.fixture
def hostile():
    from tests.support.hostile_server import HostileServer

    with HostileServer() as server:
        yield server


def hostile_configurator(server, **kwargs) -> HttpConfigurator:
    options = {"timeout": 30, "retries": 1, "backoff_factor": 0, "cache_ttl": 60} | kwargs
    return HttpConfigurator(server.url + "/api", **options)


def unavailable(call) -> ConfiguratorUnavailableError:
    with pytest.raises(ConfiguratorUnavailableError) as info:
        call()
    assert info.value.retryable is True
    assert "/api/instances" in str(info.value)
    return info.value


@pytest.mark.timeout(60)
def test_trickling_answer_ends_at_the_call_deadline(hostile):
    from tests.support.hostile_server import Rule, json_answer

    hostile.add(Rule("/api/instances/a.example.com", json_answer(KEYS), trickle=0.2))
    client = hostile_configurator(hostile, call_deadline=1.0)  # reads alone would wait 30 s
    error = unavailable(lambda: client.get_instance("a.example.com"))
    assert "within 1s" in str(error) and "callDeadlineSeconds" in str(error)
    assert hostile.count("/api/instances") == 1


def nested(depth: int) -> dict:
    value: dict = {"x": 1}
    for _ in range(depth):
        value = {"recordings": value}
    return value


@pytest.mark.parametrize(
    "action",
    ["html", "deep", "deep-recursion", "huge", "no-recordings-keys"],
)
def test_malformed_or_huge_answers_are_retryable(hostile, action):
    from tests.support import hostile_server as h

    make = {
        "html": lambda: h.html(),
        "deep": lambda: h.json_answer({"recordings": nested(40)}),
        "deep-recursion": lambda: h.deep_json(200_000),
        "huge": lambda: h.huge(2 * 1024 * 1024, declare=False),
        "no-recordings-keys": lambda: h.json_answer({"error": "upstream timed out"}),
    }[action]
    hostile.add(h.Rule("/api/instances/a.example.com", make()))
    client = hostile_configurator(hostile, max_answer_bytes=1024 * 1024)
    unavailable(lambda: client.get_instance("a.example.com"))


def test_instance_list_whose_next_points_back_stops(hostile):
    from tests.support.hostile_server import Rule, json_answer

    answer = {"instances": {"a.example.com": KEYS}, "next": "/api/instances?storage=dracoon"}
    hostile.add(Rule("/api/instances", json_answer(answer)))
    error = unavailable(hostile_configurator(hostile).list_dracoon_instances)
    assert "repeats the page" in str(error)
    assert hostile.count("/api/instances") == 1
