"""``config check`` and ``serve`` validate every ``RECORDING_STORAGE_*`` variable: each knob
alone (range, number), knobs that break each other, entrypoint.sh's variables, and typos."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recording_storage.config.kinds import Number
from recording_storage.config.schema import ENTRYPOINT, KNOBS
from recording_storage.workers.options import (
    ENTRYPOINT_ENV,
    OptionsError,
    SupervisionOptions,
    check_environment,
    env_name,
)


@pytest.fixture
def conf(tmp_path):
    (tmp_path / "instances.yaml").write_text("{}\n")
    (tmp_path / "pubsub" / "sqs").mkdir(parents=True)
    (tmp_path / "pubsub" / "sqs" / "topics.yml").write_text(
        "recordings: http://127.0.0.1:9/123456789012/q\n"
    )
    path = tmp_path / "app.conf"
    path.write_text("logger.format = text\nhttp.address = 127.0.0.1:0\n")
    return path


def run_cli(conf, *command: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in __import__("os").environ.items()
             if not k.startswith(("RS_", "RECORDING_STORAGE_"))}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "recording_storage.cli", "--config", str(conf), *command],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", **env},
    )


def test_every_option_is_a_declared_knob_and_defaults_pass():
    from dataclasses import fields

    # one attribute per declared knob, int exactly where the knob is declared whole
    declared = {knob.key: knob for knob in KNOBS}
    assert {f.name for f in fields(SupervisionOptions)} == set(declared)
    for field in fields(SupervisionOptions):
        kind = declared[field.name].kind
        assert isinstance(kind, Number) and kind.why, field.name
        assert (field.type == "int") == kind.whole, field.name
        assert field.default == declared[field.name].default_value, field.name
    assert check_environment({}) == ([], [])


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("RECORDING_STORAGE_TICK", "0", "spin"),
        ("RECORDING_STORAGE_SQS_WAIT_SECONDS", "45", "longer than 20 s"),
        ("RECORDING_STORAGE_SQS_VISIBILITY_SECONDS", "0", "run twice"),
        ("RECORDING_STORAGE_HEARTBEAT_TIMEOUT", "soon", "must be a number of seconds"),
        ("RECORDING_STORAGE_CIRCUIT_FAILURES", "2.5", "must be a whole number"),
        ("RECORDING_STORAGE_PROBE_INTERVAL", "nan", "finite"),
        ("RECORDING_STORAGE_RETRY_DELAY_SECONDS", "-1", "must not be negative"),
        ("RECORDING_STORAGE_CONFIG_BUCKET", "My_Bucket", "S3 bucket name"),
        ("RECORDING_STORAGE_CONFIG_PREFIX", "/prod", "leading or double slash"),
        ("RECORDING_STORAGE_CONFIG_FILES", "app.conf ../secret", "relative path"),
    ],
)
def test_each_bad_value_is_named_with_a_reason(name, value, says):
    problems, _ = check_environment({name: value})
    assert len(problems) == 1 and problems[0].startswith(name), problems
    assert says in problems[0]


def test_values_that_break_each_other_and_typos():
    problems, warnings = check_environment({
        "RECORDING_STORAGE_PROBE_MAX_AGE": "20",  # next round arrives after 30 + 5 s
        "RECORDING_STORAGE_RETRY_DELAY_MAX_SECONDS": "10",  # below the first delay (30)
        "RECORDING_STORAGE_TIK": "1",
    })  # fmt: skip
    assert len(problems) == 2
    assert "RETRY_DELAY_MAX_SECONDS=10 and RECORDING_STORAGE_RETRY_DELAY_SECONDS=30" in problems[0]
    assert "PROBE_MAX_AGE=20 and RECORDING_STORAGE_PROBE_INTERVAL=30" in problems[1]
    assert warnings == [
        "environment variable RECORDING_STORAGE_TIK matches no option and is ignored"
    ]
    assert "RECORDING_STORAGE_CONFIG_DIR" in ENTRYPOINT_ENV  # known, never a warning
    assert check_environment({"RECORDING_STORAGE_CONFIG_DIR": "/app/conf"}) == ([], [])


def test_zero_turns_off_where_documented():
    options = SupervisionOptions().with_env(
        {env_name("progress_timeout"): "0", env_name("circuit_failures"): "0"}
    )
    assert (options.progress_timeout, options.circuit_failures) == (0, 0)
    with pytest.raises(OptionsError, match="or 0 to turn it off"):
        SupervisionOptions().with_env({env_name("circuit_failures"): "100000"})


def test_config_check_lists_every_bad_variable_without_a_traceback(conf):
    result = run_cli(conf, "config", "check", RECORDING_STORAGE_TICK="0",
                     RECORDING_STORAGE_SQS_WAIT_SECONDS="45",
                     RECORDING_STORAGE_SQS_VISIBILITY_SECONDS="0")  # fmt: skip
    assert result.returncode == 78, result.stderr
    assert "Traceback" not in result.stderr
    assert "configuration is invalid (3 problem(s))" in result.stderr
    for name in ("TICK", "SQS_WAIT_SECONDS", "SQS_VISIBILITY_SECONDS"):
        assert f"RECORDING_STORAGE_{name}=" in result.stderr
    ok = run_cli(conf, "config", "check", RECORDING_STORAGE_TIK="1")
    assert ok.returncode == 0, ok.stderr
    assert "warning: environment variable RECORDING_STORAGE_TIK matches no option" in ok.stderr


def test_serve_refuses_to_start_on_the_same_problems(conf):
    result = run_cli(conf, "serve", RECORDING_STORAGE_TICK="0")
    assert result.returncode == 78
    assert "Traceback" not in result.stderr + result.stdout
    assert "RECORDING_STORAGE_TICK='0': must be between 0.01 and 5" in result.stderr


def test_config_check_prints_every_knob_with_where_its_value_comes_from(conf):
    conf.write_text(conf.read_text() + "workers.shutdownGraceSeconds = 30\n")
    result = run_cli(conf, "config", "check", "--json", "--origins",
                     RECORDING_STORAGE_TICK="0.2")  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = __import__("json").loads(result.stdout)
    assert list(out["knobs"]) == [knob.env_var for knob in KNOBS]
    assert out["knobs"]["RECORDING_STORAGE_TICK"] == "0.2"
    assert out["knob_origins"]["RECORDING_STORAGE_TICK"] == "environment RECORDING_STORAGE_TICK"
    assert out["knobs"]["RECORDING_STORAGE_GRACEFUL_TIMEOUT"] == "30"
    assert out["knob_origins"]["RECORDING_STORAGE_GRACEFUL_TIMEOUT"] == (
        f"workers.shutdownGraceSeconds ({conf}:3)"
    )
    assert out["knobs"]["RECORDING_STORAGE_MAX_JOBS"] == "0"
    assert out["knob_origins"]["RECORDING_STORAGE_HEARTBEAT_INTERVAL"] == "default"
    text = run_cli(conf, "config", "check").stdout
    assert "\n# RECORDING_STORAGE_CIRCUIT_FAILURES = 5\n" in text  # commented: not app.conf


@given(st.sampled_from([*KNOBS, *ENTRYPOINT]), st.text(max_size=30))
def test_any_value_of_any_variable_is_accepted_or_refused_by_name(variable, value):
    """Every declared RECORDING_STORAGE_* variable: a value is taken, or refused in one line
    that names the variable (a combination rule names both); never another exception."""
    problems, warnings = check_environment({variable.env_var: value})
    assert warnings == []
    assert all(variable.env_var in problem for problem in problems), problems
