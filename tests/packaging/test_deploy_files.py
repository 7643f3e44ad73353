"""The deployment files can't be built or applied here (no container runtime, no cluster), so
these tests check what can be checked: they parse, they point at things that exist, their
configuration passes the service's own validation, and the compose set-up script works
against a real moto server."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import urllib.request

import pytest
import yaml

from recording_storage.config import load_settings
from recording_storage.dracoon.emulator import EmulatorServer
from tests.support.paths import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
COMPOSE_DIR = DEPLOY / "compose"
YAML_FILES = sorted(
    [PROJECT_ROOT / "docker-compose.yml", *DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")]
)


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_yaml_files_parse(path):
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert documents and all(isinstance(d, dict) for d in documents)


# -- Dockerfile ------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (PROJECT_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def dockerignored() -> list[str]:
    lines = (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerfile_is_slim_non_root_with_healthcheck_and_entrypoint():
    instructions = dockerfile_instructions()
    kinds = [kind for kind, _ in instructions]
    assert instructions[0] == ("FROM", "python:3.11-slim")
    user = [arg for kind, arg in instructions if kind == "USER"]
    assert user and not user[-1].startswith(("root", "0"))
    (healthcheck,) = [arg for kind, arg in instructions if kind == "HEALTHCHECK"]
    assert "/healthcheck" in healthcheck and '"python"' in healthcheck and "curl" not in healthcheck
    assert dict(instructions)["ENTRYPOINT"] == '["/app/entrypoint.sh"]'
    assert kinds.index("USER") < kinds.index("ENTRYPOINT")
    assert any(kind == "RUN" and "pip install /tmp/src" in arg for kind, arg in instructions)


def test_dockerfile_healthcheck_command_is_valid_python():
    (healthcheck,) = [arg for kind, arg in dockerfile_instructions() if kind == "HEALTHCHECK"]
    argv = json.loads(healthcheck.split("CMD", 1)[1])
    assert argv[:2] == ["python", "-c"]
    compile(argv[2], "<healthcheck>", "exec")


def test_dockerfile_copies_only_files_that_exist_and_are_not_ignored():
    ignored = dockerignored()
    for kind, arg in dockerfile_instructions():
        if kind != "COPY":
            continue
        words = [w for w in shlex.split(arg) if not w.startswith("--")]
        for source in words[:-1]:
            assert (PROJECT_ROOT / source).exists(), source
            assert source not in ignored, f"{source} is in .dockerignore"


def test_dockerfile_user_matches_the_kubernetes_security_context():
    user = [arg for kind, arg in dockerfile_instructions() if kind == "USER"][-1]
    deployment = kubernetes("Deployment")[0]
    context = deployment["spec"]["template"]["spec"]["securityContext"]
    assert user == f"{context['runAsUser']}:{context['runAsGroup']}"


# -- Kubernetes ------------------------------------------------------------------------------


def kubernetes(kind: str) -> list[dict]:
    documents = yaml.safe_load_all((DEPLOY / "kubernetes" / "deployment.yaml").read_text())
    return [d for d in documents if d and d.get("kind") == kind]


def test_deployment_probes_annotations_and_secret_config():
    (deployment,) = kubernetes("Deployment")
    secrets = {s["metadata"]["name"]: s for s in kubernetes("Secret")}
    pod = deployment["spec"]["template"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert str(ports["http"]) == annotations["prometheus.io/port"]
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthcheck", "port": "http"}
    # Liveness is the more tolerant one (docs/operations.md, "Health check").
    liveness, readiness = container["livenessProbe"], container["readinessProbe"]
    assert (
        liveness["periodSeconds"] * liveness["failureThreshold"]
        > readiness["periodSeconds"] * readiness["failureThreshold"]
    )
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    for mount in container["volumeMounts"]:
        assert mount["name"] in volumes
    config = volumes["config"]["secret"]
    assert config["secretName"] in secrets
    assert {i["path"] for i in config["items"]} >= {"app.conf", "pubsub/sqs/topics.yml"}
    for source in container["envFrom"]:
        assert source["secretRef"]["name"] in secrets
    env = {e["name"]: e["value"] for e in container["env"]}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert env["RECORDING_STORAGE_CONFIG_DIR"] == mount["mountPath"]


def test_deployment_config_secret_passes_validation(tmp_path):
    (deployment,) = kubernetes("Deployment")
    secret = next(
        s for s in kubernetes("Secret") if s["metadata"]["name"] == "recording-storage-config"
    )
    data = secret["stringData"]
    (tmp_path / "app.conf").write_text(data["app.conf"])
    (tmp_path / "pubsub" / "sqs").mkdir(parents=True)
    (tmp_path / "pubsub" / "sqs" / "topics.yml").write_text(data["topics.yml"])
    settings = load_settings(tmp_path / "app.conf", env={})
    settings.require_queue_url()
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace >= settings.workers.shutdown_grace_seconds + 30
    assert settings.http.address.endswith(":8080")


# -- docker compose --------------------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())


def test_compose_stack_has_the_service_moto_and_the_emulator():
    services = compose()["services"]
    assert set(services) == {"moto", "dracoon", "setup", "recording-storage"}
    assert services["moto"]["image"].startswith("motoserver/moto")
    assert services["dracoon"]["entrypoint"] == ["dracoon-emulator"]
    service = services["recording-storage"]
    assert service["environment"]["RECORDING_STORAGE_CONFIG_BUCKET"]
    assert service["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert service["stop_grace_period"] == "90s"
    for spec in services.values():
        for volume in spec.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (PROJECT_ROOT / source).exists(), source


def test_compose_configuration_passes_validation():
    conf = COMPOSE_DIR / "conf"
    settings = load_settings(conf / "app.conf", env={})
    assert settings.queue_url.startswith("http://moto:5000/")
    assert settings.aws.endpoint_url == compose()["x-aws-env"]["RS_AWS_ENDPOINTURL"]
    instances = yaml.safe_load((conf / "instances.yaml").read_text())
    (instance,) = instances.values()
    assert instance["recordings.dracoon.base-url"] == settings.dracoon.base_url


def test_compose_seed_starts_the_emulator_with_the_configured_parent_room(test_key_pairs):
    seed = yaml.safe_load((COMPOSE_DIR / "dracoon-seed.yaml").read_text())
    for user in seed["users"]:  # pre-generated pairs instead of slow generation
        user.pop("encryption_password")
        user["key_pair"] = test_key_pairs[user["login"]][0]
    instance = next(
        iter(yaml.safe_load((COMPOSE_DIR / "conf" / "instances.yaml").read_text()).values())
    )
    with (
        EmulatorServer(seed) as server,
        urllib.request.urlopen(f"{server.base_url}/emulator/nodes") as answer,
    ):
        nodes = json.loads(answer.read())
    room = next(n for n in nodes if n["id"] == instance["recordings.dracoon.parent-room-id"])
    assert room["isEncrypted"] and room["path"] == "/Recordings"
    assert instance["recordings.dracoon.login"] in {u["login"] for u in seed["users"]}


@pytest.mark.slow
def test_compose_setup_script_prepares_moto_for_entrypoint(moto_server, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RS_", "AWS_"))}
    env.update(moto_server.env)
    env["SAMPLE_MESSAGE"] = str(PROJECT_ROOT / "scripts" / "demo" / "message.json")
    script = str(COMPOSE_DIR / "setup_local_aws.py")
    for command in ("create", "create", "send-sample"):  # create is idempotent
        result = subprocess.run(
            [sys.executable, script, command], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
    # What entrypoint.sh does with the compose service's environment.
    service_env = compose()["services"]["recording-storage"]["environment"]
    dest = tmp_path / "conf"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "recording_storage.ops.fetch_config",
            "--bucket",
            service_env["RECORDING_STORAGE_CONFIG_BUCKET"],
            "--prefix",
            service_env["RECORDING_STORAGE_CONFIG_PREFIX"],
            "--dest",
            str(dest),
            "app.conf",
            "pubsub/sqs/topics.yml",
            "instances.yaml?",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for name in ("app.conf", "pubsub/sqs/topics.yml", "instances.yaml"):
        assert (dest / name).read_bytes() == (COMPOSE_DIR / "conf" / name).read_bytes()
    sqs = moto_server.client("sqs")
    queue_url = sqs.get_queue_url(QueueName="recordings")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] in (10, "10")
    (message,) = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    assert json.loads(message["Body"])["storage"]["extra"]["aws.s3"]["bucket"] == "recordings-local"
    assert re.fullmatch(
        r"\d+",
        str(
            moto_server.client("s3").head_object(
                Bucket="recordings-local", Key="sandbox/test-video.mp4"
            )["ContentLength"]
        ),
    )
