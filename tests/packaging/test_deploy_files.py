"""The deployment files can't be built or applied here (no container runtime, no cluster), so
these tests check what can be checked: they parse, they point at things that exist, their
configuration passes the service's own validation, and the compose set-up script works
against a real moto server."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml
from dracoon_emulator import EmulatorServer

from recording_storage.config import load_settings
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


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions per build stage (``FROM image AS name``), in order."""
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for kind, arg in dockerfile_instructions():
        if kind == "FROM":
            base, _, name = arg.partition(" AS ")
            current = stages.setdefault(name.strip(), [("FROM", base.strip())])
        elif current is not None:
            current.append((kind, arg))
    return stages


def test_dockerfile_base_image_is_python_311_slim_tag_or_digest():
    instructions = dockerfile_instructions()
    assert instructions[0][0] == "ARG"
    name, _, default = instructions[0][1].partition("=")
    assert name == "PYTHON_IMAGE"
    assert re.fullmatch(r"python:3\.11-slim(@sha256:[0-9a-f]{64})?", default)
    stages = dockerfile_stages()
    for stage in ("install", "runtime"):
        assert stages[stage][0] == ("FROM", "${PYTHON_IMAGE}")


def test_dockerfile_production_is_the_default_target_non_root_without_the_emulator():
    stages = dockerfile_stages()
    assert list(stages)[-1] == "production"  # `docker build .` builds the last stage
    production, emulator = stages["production"], stages["emulator"]
    for stage in (production, emulator):
        assert stage[0] == ("FROM", "runtime")
        user = [arg for kind, arg in stage if kind == "USER"]
        assert user and not user[-1].startswith(("root", "0"))
    # production copies the service's environment, which never had the emulator; only the
    # emulator target copies the one with emulator/ installed on top.
    copies = [arg for kind, arg in production if kind == "COPY"]
    assert copies == ["--from=install /opt/recording-storage /opt/recording-storage"]
    assert [arg for kind, arg in emulator if kind == "COPY"] == [
        "--from=install-emulator /opt/recording-storage /opt/recording-storage"
    ]
    install = stages["install"]
    assert not any("emulator" in arg for kind, arg in install if kind == "COPY")
    install_runs = " ".join(arg for kind, arg in install if kind == "RUN")
    assert 'find_spec("dracoon_emulator") is not None' in install_runs
    with_emulator = stages["install-emulator"]
    assert with_emulator[0] == ("FROM", "install")
    assert ("COPY", "emulator /tmp/emulator") in with_emulator
    assert any(kind == "RUN" and "pip install /tmp/emulator" in arg for kind, arg in with_emulator)
    # The service declares only its own console script; the emulator's is the emulator's.
    assert set(entry_points(PROJECT_ROOT / "setup.cfg")) == {"recording-storage"}
    assert entry_points(PROJECT_ROOT / "emulator" / "setup.cfg") == {
        "dracoon-emulator": "dracoon_emulator.cli:main"
    }
    runtime = stages["runtime"]
    (healthcheck,) = [arg for kind, arg in runtime if kind == "HEALTHCHECK"]
    assert "/livez" in healthcheck and '"python"' in healthcheck and "curl" not in healthcheck
    assert dict(runtime)["ENTRYPOINT"] == '["/app/entrypoint.sh"]'
    assert any(kind == "RUN" and "pip install /tmp/src" in arg for kind, arg in stages["install"])


def entry_points(setup_cfg: Path) -> dict[str, str]:
    import configparser

    parser = configparser.ConfigParser()
    parser.read(setup_cfg)
    lines = parser["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict(tuple(part.strip() for part in line.split("=", 1)) for line in lines)


def test_the_package_works_without_the_emulator(tmp_path):
    """The production image has no dracoon_emulator: every module imports, the CLI answers."""
    copy = tmp_path / "site"
    shutil.copytree(
        PROJECT_ROOT / "recording_storage",
        copy / "recording_storage",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    program = """
import importlib, pkgutil, sys
sys.modules["dracoon_emulator"] = None  # installed in the test venv: make any import fail
import recording_storage
assert recording_storage.__file__.startswith(sys.argv[1]), recording_storage.__file__
names = [m.name for m in pkgutil.walk_packages(recording_storage.__path__, "recording_storage.")]
for name in names:
    importlib.import_module(name)
assert not any("emulator" in name for name in names), names
from recording_storage.cli import main
for argv in (["version"], ["dlq", "list", "--help"], ["serve", "--help"], ["share", "--help"]):
    try:
        main(argv)
    except SystemExit as stop:
        assert stop.code == 0, (argv, stop.code)
print(len(names), "modules")
"""
    env = {**os.environ, "PYTHONPATH": str(copy)}
    result = subprocess.run(
        [sys.executable, "-c", program, str(copy)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("modules")


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
        if arg.startswith("--from="):
            continue  # from another build stage
        words = [w for w in shlex.split(arg) if not w.startswith("--")]
        for source in words[:-1]:
            assert (PROJECT_ROOT / source).exists(), source
            assert source not in ignored, f"{source} is in .dockerignore"


def test_dockerfile_user_matches_the_kubernetes_security_context():
    user = [arg for kind, arg in dockerfile_instructions() if kind == "USER"][-1]
    base = DEPLOY / "kubernetes" / "base"
    pods = [
        yaml.safe_load((base / "deployment.yaml").read_text())["spec"]["template"],
        yaml.safe_load((base / "sharer-cronjob.yaml").read_text())["spec"]["jobTemplate"]["spec"][
            "template"
        ],
    ]
    for pod in pods:
        context = pod["spec"]["securityContext"]
        assert user == f"{context['runAsUser']}:{context['runAsGroup']}"


# -- docker compose --------------------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())


def test_compose_stack_has_the_service_moto_and_the_emulator():
    services = compose()["services"]
    assert set(services) == {"moto", "dracoon", "setup", "recording-storage"}
    assert services["moto"]["image"].startswith("motoserver/moto")
    assert services["dracoon"]["entrypoint"] == ["dracoon-emulator"]
    # Only the emulator target has dracoon-emulator; the service runs the production image.
    assert services["dracoon"]["build"] == {"context": ".", "target": "emulator"}
    assert services["recording-storage"]["build"] == "."
    assert services["dracoon"]["image"] != services["recording-storage"]["image"]
    service = services["recording-storage"]
    assert service["environment"]["RECORDING_STORAGE_CONFIG_BUCKET"]
    assert service["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert service["stop_grace_period"] == "120s"  # docs/operations.md, "Graceful shutdown"
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


def test_entrypoint_reads_the_declared_variables_with_the_declared_defaults():
    """entrypoint.sh is shell and cannot import the declarations (config.schema.ENTRYPOINT):
    every RECORDING_STORAGE_* it reads is declared, with the default it uses."""
    from recording_storage.config.schema import ENTRYPOINT

    script = (PROJECT_ROOT / "entrypoint.sh").read_text()
    read = set(re.findall(r"\$\{?(RECORDING_STORAGE_[A-Z_]+)", script))
    assert read == {variable.env_var for variable in ENTRYPOINT}
    for variable in ENTRYPOINT:
        defaults = set(re.findall(r"\$\{" + variable.env_var + r":-([^}]*)\}", script))
        assert defaults <= {variable.default}, (variable.env_var, defaults)
        variable.parse(variable.default)  # the declared default passes its own check
