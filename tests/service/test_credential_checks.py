"""The health prober's credential checks against the DRACOON emulator over real HTTP: an
accepted account, a refused password, a refused key-pair password and an unreachable server,
each with what it logs (one 15018 line per refused instance and check, never a secret)."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from recording_storage.ops.health import (
    CREDENTIALS_ACCEPTED,
    CREDENTIALS_REFUSED,
    CREDENTIALS_UNKNOWN,
    CredentialChecks,
)
from tests.support.emulator_fixtures import encryption_password, login_password

pytestmark = pytest.mark.timeout(120)


def instance(domain, base_url, password, crypto):
    return SimpleNamespace(domain=domain, base_url=base_url, login="service", password=password,
                           encryption_password=crypto)  # fmt: skip


@pytest.fixture
def checks(emulator):
    settings = SimpleNamespace(
        dracoon=SimpleNamespace(
            base_url=emulator.api_url, client_id="dracoon_legacy_scripting", client_secret=""
        )
    )
    return CredentialChecks(settings, timeout=5)


def test_accepted_refused_and_unknown(checks, emulator, caplog):
    good = instance("good.example", emulator.api_url, login_password("service"),
                    encryption_password("service"))  # fmt: skip
    bad_login = instance("login.example", emulator.api_url, "not-the-password",
                         encryption_password("service"))  # fmt: skip
    bad_crypto = instance("crypto.example", emulator.api_url, login_password("service"),
                          "not-the-crypto-password")  # fmt: skip
    gone = instance("gone.example", "http://127.0.0.1:9/api/v4", "x", "y")
    caplog.set_level(logging.INFO)

    results = {i.domain: checks.check(i) for i in (good, bad_login, bad_crypto, gone)}

    assert results["good.example"].state == CREDENTIALS_ACCEPTED
    assert results["login.example"].state == CREDENTIALS_REFUSED
    assert "login of 'service' refused" in results["login.example"].detail
    assert results["crypto.example"].state == CREDENTIALS_REFUSED
    assert "key pair" in results["crypto.example"].detail
    assert results["gone.example"].state == CREDENTIALS_UNKNOWN  # an outage is no verdict
    refused = [r for r in caplog.records if getattr(r, "code", None) == 15018]
    assert sorted(r.instance for r in refused) == ["crypto.example", "login.example"]
    assert all(r.levelno == logging.ERROR and "configurator" in r.getMessage() for r in refused)
    text = caplog.text + json.dumps([r.to_json() for r in results.values()])
    for secret in ("not-the-password", "not-the-crypto-password", login_password("service"),
                   encryption_password("service")):  # fmt: skip
        assert secret not in text


def test_the_key_pair_is_unlocked_again_only_after_a_change(checks, emulator, monkeypatch):
    from recording_storage.dracoon.client import DracoonClient

    unlocks = []
    original = DracoonClient.key_pair

    def counting(self):
        unlocks.append(self.username)
        return original.fget(self)

    monkeypatch.setattr(DracoonClient, "key_pair", property(counting))
    good = instance("good.example", emulator.api_url, login_password("service"),
                    encryption_password("service"))  # fmt: skip
    assert checks.check(good).state == CREDENTIALS_ACCEPTED
    assert checks.check(good).state == CREDENTIALS_ACCEPTED
    assert len(unlocks) == 1  # the second check only logged in
    changed = instance("good.example", emulator.api_url, login_password("service"), "wrong")
    assert checks.check(changed).state == CREDENTIALS_REFUSED
    assert len(unlocks) == 2
