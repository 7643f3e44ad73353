"""No secret leaks: a full transfer, a sharer pass, failing runs and a running service are
checked for every secret they handled — DRACOON and encryption passwords, the OAuth access and
refresh tokens and upload tokens the emulator issued, the unlocked private key, every file key
and the secret app.conf keys — in logs, error messages, JSON output, /metrics and /healthcheck.
"""

from __future__ import annotations

import base64
import json
import os
import uuid

import pytest
from Crypto.PublicKey import RSA

from recording_storage.dracoon.crypto import (
    EncryptedFileKey,
    UserKeyPair,
    UserKeyPairContainer,
    decrypt_file_key,
)
from tests.jobs.conftest import DOMAIN, readme_message
from tests.service.support import ANY_PORT, FAST_OPTIONS, ServiceProcess, wait_for
from tests.support.emulator_fixtures import encryption_password, login_password

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

APP_SECRETS = {
    "RS_DRACOON_PASSWORD": "app-dracoon-pw-Q7x2",
    "RS_DRACOON_ENCRYPTIONPASSWORD": "app-crypto-pw-Z9k4",
    "RS_DRACOON_TEST_PASSWORD": "test-dracoon-pw-M3v8",
    "RS_CONFIGURATOR_TOKEN": "configurator-token-R5w1",
}
WRONG_PASSWORD = "wrong-dracoon-pw-L8q3"
WRONG_CRYPTO = "wrong-crypto-pw-T6j9"


def private_key_forms(container: dict, password: str) -> list[str]:
    """The unlocked private key as PEM lines (PKCS#1 and PKCS#8) and its exponent in hex."""
    pair = UserKeyPairContainer.from_json(container)
    key = RSA.import_key(pair.private_key_container.private_key, passphrase=password)
    forms = [f"{key.d:x}"[:64]]
    for pkcs in (1, 8):
        pem = key.export_key(format="PEM", pkcs=pkcs).decode()
        forms += [line for line in pem.splitlines() if len(line) == 64]
    return forms


def issued_secrets(emulator, key_pair: UserKeyPair, user_id: int) -> dict[str, list[str]]:
    """Tokens the emulator issued and the plain file keys of every file it holds."""
    state = emulator.app.state
    snapshot = state.snapshot()
    secrets = {
        "access tokens": [t["value"] for t in snapshot["access_tokens"]],
        "refresh tokens": [t["value"] for t in snapshot["refresh_tokens"]],
        "upload tokens": [u["token"] for u in snapshot["uploads"]],
        "file keys": [],
    }
    for node in list(state.nodes.values()):
        for key in node.file_keys.get(user_id, {}).values():
            plain = decrypt_file_key(EncryptedFileKey.from_json(key), key_pair).key
            secrets["file keys"] += [base64.b64encode(plain).decode(), plain.hex()]
            secrets["file keys"] += [base64.urlsafe_b64encode(plain).decode(), plain.hex().upper()]
    return secrets


def assert_no_secret(texts: dict[str, str], secrets: list[str]) -> None:
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret ({secret[:4]}...) appears in {where}"


def test_no_secret_in_logs_errors_metrics_or_health(service, s3_bucket, moto_server,
                                                    test_key_pairs):  # fmt: skip
    outputs: dict[str, str] = {}
    env = dict(APP_SECRETS)

    def run(label: str, *args: str, **kwargs) -> tuple[int, dict | None]:
        status, out, err = service.cli(*args, env=env, **kwargs)
        outputs[label] = err + json.dumps(out)
        return status, out

    # A full transfer into the encrypted room, then a sharer pass for a new member.
    s3_bucket.put("s/video.mp4", os.urandom(3 * 64 * 1024 + 5))
    job = readme_message(bucket=s3_bucket.name, keys=["s/video.mp4"], targets=[{"path": "sec"}])
    status, out = run("transfer", "transfer", "--message", "-", message=job)
    assert status == 0, outputs["transfer"]
    container, _ = test_key_pairs["bob"]
    service.admin("POST", "/emulator/users",
                  {"login": "dave", "password": "dave-pw", "key_pair": container})  # fmt: skip
    room = service.node("/Recordings")
    service.admin("PUT", f"/emulator/rooms/{room['id']}/members",
                  {"login": "dave", "permissions": ["read"]})  # fmt: skip
    status, report = run("share", "share")
    assert status == 0 and report["keys_set"] >= 1, outputs["share"]

    # Failing runs: wrong DRACOON password, then wrong encryption password.
    s3_bucket.put("s/other.mp4", b"x" * 1000)
    job = readme_message(bucket=s3_bucket.name, keys=["s/other.mp4"], targets=[{"path": "sec2"}])
    service.set_instance(**{"recordings.dracoon.password": WRONG_PASSWORD})
    status, out = run("wrong password", "transfer", "--message", "-", message=job)
    assert status in (1, 4) and out["status"] == "failed", outputs["wrong password"]
    service.set_instance(**{"recordings.dracoon.password": login_password("service"),
                            "recordings.dracoon.encryption-password": WRONG_CRYPTO})  # fmt: skip
    status, out = run("wrong crypto", "transfer", "--message", "-", message=job)
    assert status in (1, 4) and out["status"] == "failed", outputs["wrong crypto"]
    status, _ = run("share with wrong crypto", "share")  # nothing missing: may not unlock
    assert status in (0, 1)
    service.set_instance(
        **{"recordings.dracoon.encryption-password": encryption_password("service")}
    )
    status, out = run("config check", "config", "check", "--json", "--origins")
    assert status == 0

    # The running service: one job through SQS, then /metrics and /healthcheck.
    outputs.update(_serve_one_job(service, s3_bucket, moto_server.client("sqs"), env))

    service_pair_json, service_pw = test_key_pairs["service"]
    key_pair = UserKeyPair.unlock(UserKeyPairContainer.from_json(service_pair_json), service_pw)
    service_user = service.emulator.app.state.user_by_login("service")
    issued = issued_secrets(service.emulator, key_pair, service_user.id)
    assert all(issued.values()), {kind: len(values) for kind, values in issued.items()}
    assert len(issued["file keys"]) >= 2 * 4  # the CLI's and the service's uploads
    secrets = [
        login_password("service"),
        encryption_password("service"),
        WRONG_PASSWORD,
        WRONG_CRYPTO,
        *APP_SECRETS.values(),
        *private_key_forms(service_pair_json, service_pw),
        *(secret for values in issued.values() for secret in values),
    ]
    assert all(outputs.values())
    assert "Bad credentials" in outputs["wrong password"]  # the failure is reported
    assert_no_secret(outputs, secrets)


def _serve_one_job(service, s3_bucket, sqs, env) -> dict[str, str]:
    queue_url = sqs.create_queue(QueueName=f"sec-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    topics = service.conf.parent / "pubsub" / "sqs" / "topics.yml"
    topics.parent.mkdir(parents=True, exist_ok=True)
    topics.write_text(f"recordings: {queue_url}\n")
    http = ANY_PORT
    process = ServiceProcess(
        [os.sys.executable, "-m", "recording_storage.cli", "--config", str(service.conf), "serve"],
        env={
            **service.env,
            **FAST_OPTIONS,
            **env,
            "RS_HTTP_ADDRESS": http,
            "RS_DRACOON_BASEURL": service.emulator.api_url,
        },
        log_path=service.tmp_path / "serve.log",
        http=http,
    ).start()
    try:
        process.wait_listening(timeout=60)
        s3_bucket.put("q/video.mp4", os.urandom(100_000))
        job = readme_message(bucket=s3_bucket.name, keys=["q/video.mp4"], targets=[{"path": "q"}])
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(job))
        wait_for(lambda: _has_file(service, "/Recordings/q"), 90, "the job to be transferred")
        wait_for(lambda: process.health()[0] == 200, 30, "a healthy service")
        metrics = process.get("/metrics")[1].decode()
        health = process.get("/healthcheck")[1].decode()
        assert "dracoon" in metrics.lower() and '"status"' in health
    finally:
        process.stop()
    return {"serve log": process.log_text(), "/metrics": metrics, "/healthcheck": health}


def _has_file(service, room_path: str) -> bool:
    try:
        return bool(service.files_in(room_path))
    except AssertionError:
        return False


def test_reprs_hide_secrets(service, test_key_pairs):
    from recording_storage.configurator import make_configurator

    settings = service.settings(**APP_SECRETS)
    instance = make_configurator(settings).get_instance(DOMAIN)
    client = service.client_as("service")
    try:
        key_pair = client.key_pair
        texts = {
            "repr(Settings)": repr(settings),
            "repr(InstanceConfig)": repr(instance),
            "repr(DracoonClient)": repr(client) + str(vars(client).keys()),
            "repr(UserKeyPair)": repr(key_pair),
        }
    finally:
        client.close()
    container, password = test_key_pairs["service"]
    secrets = [login_password("service"), encryption_password("service"), *APP_SECRETS.values()]
    assert_no_secret(texts, secrets + private_key_forms(container, password))
