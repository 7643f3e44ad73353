"""deploy/kubernetes (kustomize base + overlays), deploy/iam and the alert/dashboard files.

No cluster here, so: built-in kinds are validated against Kubernetes' own JSON schemas
(kubernetes-validate, strict, shipped with the package: works offline); custom resources
(KEDA, Prometheus Operator) are checked for the fields their operators need and for pointing
at the right things; the configuration in the Secrets passes the service's validation; the
PromQL only names metrics the service exports (or the listed exporter metrics), and
``promtool`` checks the rules where it is installed; the IAM policy lists exactly the AWS
calls the code makes. Overlays are rendered with ``kubectl kustomize`` where kubectl exists.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from botocore.session import get_session

from recording_storage.cli import build_parser
from recording_storage.config import load_settings
from recording_storage.ops import metrics
from recording_storage.workers.options import SupervisionOptions
from tests.packaging.test_docs import anchors
from tests.support.paths import PROJECT_ROOT

KUBERNETES = PROJECT_ROOT / "deploy" / "kubernetes"
BASE = KUBERNETES / "base"
OVERLAYS = sorted(p.parent for p in (KUBERNETES / "overlays").glob("*/kustomization.yaml"))
IAM = PROJECT_ROOT / "deploy" / "iam"
OPERATIONS = PROJECT_ROOT / "docs" / "operations.md"
KUBERNETES_VERSION = "1.30.0"  # the oldest Kubernetes the manifests are meant for

# Metrics of other exporters that the alerts and the dashboard may use (docs/operations.md).
EXTERNAL_METRICS = {
    # prometheus/cloudwatch_exporter, namespace AWS/SQS
    "aws_sqs_approximate_number_of_messages_visible_average",
    "aws_sqs_approximate_age_of_oldest_message_maximum",
    # kube-state-metrics
    "kube_pod_container_status_restarts_total",
    "kube_cronjob_status_last_successful_time",
}
# After SIGKILL of stragglers the master waits this long for them (workers/master.py).
KILL_WAIT_SECONDS = 10
SHUTDOWN_MARGIN_SECONDS = 20


# -- loading -----------------------------------------------------------------------------------


def base_documents() -> list[dict]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    documents = []
    for name in kustomization["resources"]:
        documents += [d for d in yaml.safe_load_all((BASE / name).read_text()) if d]
    return documents


@cache
def rendered(directory: Path) -> tuple[dict, ...]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


needs_kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl (with kustomize) is not installed"
)
TREES = [pytest.param(None, id="base-files")] + [
    pytest.param(d, id=str(d.relative_to(KUBERNETES)), marks=needs_kubectl)
    for d in [BASE, *OVERLAYS]
]


def documents_of(tree: Path | None) -> list[dict]:
    return base_documents() if tree is None else list(rendered(tree))


def one(documents: list[dict], kind: str, name: str | None = None) -> dict:
    found = [
        d
        for d in documents
        if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, (kind, name, len(found))
    return found[0]


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def transferer(documents) -> tuple[dict, dict, dict]:
    deployment = one(documents, "Deployment", "recording-storage")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    return deployment, pod, container


def config_of(documents, tmp_path: Path):
    secret = one(documents, "Secret", "recording-storage-config")
    data = secret["stringData"]
    (tmp_path / "app.conf").write_text(data["app.conf"])
    (tmp_path / "pubsub" / "sqs").mkdir(parents=True, exist_ok=True)
    (tmp_path / "pubsub" / "sqs" / "topics.yml").write_text(data["topics.yml"])
    settings = load_settings(tmp_path / "app.conf", env={})
    settings.require_queue_url()
    return settings


# -- schemas -----------------------------------------------------------------------------------


BUILT_IN = {"v1", "apps/v1", "batch/v1", "policy/v1", "networking.k8s.io/v1"}


@pytest.mark.parametrize("tree", TREES)
def test_built_in_kinds_pass_the_kubernetes_schema(tree):
    documents = documents_of(tree)
    checked = 0
    for document in documents:
        if document["apiVersion"] in BUILT_IN:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
            checked += 1
    kinds = {d["kind"] for d in documents}
    assert {"Deployment", "CronJob", "PodDisruptionBudget", "NetworkPolicy"} <= kinds
    assert {"ServiceAccount", "Secret"} <= kinds and checked >= 8
    custom = {d["kind"] for d in documents if d["apiVersion"] not in BUILT_IN}
    assert custom == {"ScaledObject", "TriggerAuthentication", "PodMonitor", "PrometheusRule"}


def test_a_schema_violation_is_caught():
    """The validator is not a no-op: a misspelt field fails."""
    deployment, _, _ = transferer(base_documents())
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["terminationGracePeriod"] = 120
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


# -- the workloads -------------------------------------------------------------------------------


@pytest.mark.parametrize("tree", TREES)
def test_config_secret_passes_validation_and_the_sharer_runs_only_as_the_cronjob(tree, tmp_path):
    documents = documents_of(tree)
    settings = config_of(documents, tmp_path)
    assert settings.workers.global_sharer.count == 0
    assert settings.http.address.endswith(":8080")
    _, _, container = transferer(documents)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == 8080
    cronjob = one(documents, "CronJob", "recording-storage-sharer")
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    job_pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (sharer,) = job_pod["containers"]
    # entrypoint.sh runs its arguments: `recording-storage ... share` must parse.
    assert sharer["args"][0] == "recording-storage"
    args = build_parser().parse_args(sharer["args"][1:])
    assert args.handler.__name__ == "cmd_share"
    mount = next(m for m in sharer["volumeMounts"] if m["name"] == "config")
    assert args.config == f"{mount['mountPath']}/app.conf"
    assert sharer["image"] == container["image"]


@pytest.mark.parametrize("tree", TREES)
def test_probes_volumes_and_security(tree):
    documents = documents_of(tree)
    _, pod, container = transferer(documents)
    # One endpoint per question (docs/operations.md, "Health check"); /livez never looks at
    # a dependency, so an outage cannot restart pods whatever the thresholds.
    paths = {"startupProbe": "/startupz", "readinessProbe": "/readyz", "livenessProbe": "/livez"}
    for probe, path in paths.items():
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    for mount in container["volumeMounts"]:
        assert mount["name"] in volumes
    secrets = {d["metadata"]["name"] for d in documents if d["kind"] == "Secret"}
    assert volumes["config"]["secret"]["secretName"] in secrets
    for source in container["envFrom"]:
        assert source["secretRef"]["name"] in secrets
    env = {e["name"]: e["value"] for e in container["env"]}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert env["RECORDING_STORAGE_CONFIG_DIR"] == mount["mountPath"]
    workloads = [
        pod["spec"],
        one(documents, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"],
    ]
    for spec in workloads:
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["automountServiceAccountToken"] is False
        for c in spec["containers"]:
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert any(m["mountPath"] == "/tmp" for m in c["volumeMounts"])


@pytest.mark.parametrize("tree", TREES)
def test_termination_grace_covers_the_whole_shutdown_with_margin(tree, tmp_path):
    documents = documents_of(tree)
    settings = config_of(documents, tmp_path)
    options = SupervisionOptions.from_settings(settings, env={})
    _, pod, _ = transferer(documents)
    budget = options.graceful_timeout + options.cancel_timeout + KILL_WAIT_SECONDS
    assert budget == 90  # the numbers docs/operations.md explains
    assert pod["spec"]["terminationGracePeriodSeconds"] >= budget + SHUTDOWN_MARGIN_SECONDS


@pytest.mark.parametrize("tree", TREES)
def test_service_accounts_iam_role_and_the_sharer_without_aws(tree):
    documents = documents_of(tree)
    _, pod, _ = transferer(documents)
    account = one(documents, "ServiceAccount", pod["spec"]["serviceAccountName"])
    role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert re.fullmatch(r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+", role)
    job_pod = one(documents, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    sharer_account = one(documents, "ServiceAccount", job_pod["serviceAccountName"])
    assert "eks.amazonaws.com/role-arn" not in sharer_account["metadata"].get("annotations", {})


@pytest.mark.parametrize("tree", TREES)
def test_selectors_of_pdb_networkpolicy_and_podmonitor_match_the_pods(tree):
    documents = documents_of(tree)
    deployment, pod, container = transferer(documents)
    labels = pod["metadata"]["labels"]
    assert matches(deployment["spec"]["selector"]["matchLabels"], labels)
    pdb = one(documents, "PodDisruptionBudget")
    assert matches(pdb["spec"]["selector"]["matchLabels"], labels)
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]
    sharer_labels = one(documents, "CronJob")["spec"]["jobTemplate"]["spec"]["template"][
        "metadata"
    ]["labels"]
    assert not matches(pdb["spec"]["selector"]["matchLabels"], sharer_labels)
    policy = one(documents, "NetworkPolicy")
    for pod_labels in (labels, sharer_labels):
        assert matches(policy["spec"]["podSelector"]["matchLabels"], pod_labels)
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    ingress_ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert ingress_ports == {container["ports"][0]["containerPort"]}
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert egress_ports == {53, 443}
    monitor = one(documents, "PodMonitor")
    assert matches(monitor["spec"]["selector"]["matchLabels"], labels)
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in {p["name"] for p in container["ports"]}
    assert endpoint["path"] == "/metrics"


@pytest.mark.parametrize("tree", TREES)
def test_keda_scales_the_deployment_on_its_own_queue(tree, tmp_path):
    documents = documents_of(tree)
    settings = config_of(documents, tmp_path)
    scaled = one(documents, "ScaledObject")
    deployment, _, _ = transferer(documents)
    assert scaled["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert "replicas" not in deployment["spec"]  # KEDA owns it
    assert 0 <= scaled["spec"]["minReplicaCount"] < scaled["spec"]["maxReplicaCount"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "aws-sqs-queue"
    meta = trigger["metadata"]
    assert meta["queueURL"] == settings.queue_url
    assert meta["awsRegion"] == settings.aws.region
    assert int(meta["queueLength"]) == settings.workers.file_transferer.count
    auth = one(documents, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert auth["spec"]["podIdentity"] == {"provider": "aws", "identityOwner": "workload"}


# -- alerts and dashboard ------------------------------------------------------------------------


def service_metric_names() -> set[str]:
    names = set()
    built = metrics._build()
    for field in dataclasses.fields(built):
        metric = getattr(built, field.name)
        if metric._type == "counter":
            names.add(metric._name + "_total")
        elif metric._type == "histogram":
            names.update(metric._name + s for s in ("_bucket", "_count", "_sum"))
        else:
            names.add(metric._name)
    status = metrics.StatusCollector(lambda: ({"w": (True, 0.0)}, {"p": (True, 0.0)}))
    names.update(family.name for family in status.collect())
    return names


PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan",
}  # fmt: skip


def metric_names_in(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords,
    label names (inside {} or the parentheses of by/on/...), durations or strings."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", text
    )  # label lists
    text = re.sub(r"\$\w+|\$\{\w+\}", "", text)  # Grafana variables
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        following = text[match.end() :].lstrip()
        aggregation = re.match(r"(by|without)\b", following)
        if following.startswith("(") or aggregation or word.lower() in PROMQL_WORDS:
            continue  # a function or aggregation, or a keyword
        names.add(word)
    return names


def test_the_promql_name_extraction_itself():
    assert metric_names_in(
        'sum by (reason) (rate(a_total{x="b c"}[5m])) / on() group_left(le) b_sum > 0 unless c'
    ) == {"a_total", "b_sum", "c"}


def alert_rules() -> list[dict]:
    rule = one(base_documents(), "PrometheusRule")
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def dashboard() -> dict:
    return json.loads((BASE / "grafana-dashboard.json").read_text())


def test_alerts_cover_the_issue_and_each_has_a_runbook_section():
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names))
    assert {
        "RecordingStorageNoSuccess",
        "RecordingStorageDLQGrowing",
        "RecordingStorageCircuitOpen",
        "RecordingStorageWorkersRestarting",
        "RecordingStorageOldestMessageStuck",
    } <= set(names)
    headings = anchors(OPERATIONS)
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page == "docs/operations.md" and anchor == rule["alert"].lower()
        assert anchor in headings, f"no runbook section for {rule['alert']}"


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_overlay_alerts_name_the_overlays_queues(overlay, tmp_path):
    documents = list(rendered(overlay))
    queue = config_of(documents, tmp_path).queue_url.rsplit("/", 1)[-1]
    rule = one(documents, "PrometheusRule")
    exprs = " ".join(r["expr"] for g in rule["spec"]["groups"] for r in g["rules"])
    assert set(re.findall(r'queue_name="([^"]+)"', exprs)) == {queue, f"{queue}-dlq"}


def test_every_expression_names_only_exported_or_listed_metrics():
    known = service_metric_names() | EXTERNAL_METRICS
    expressions = [(r["alert"], r["expr"]) for r in alert_rules()]
    for panel in dashboard()["panels"]:
        expressions += [(panel["title"], t["expr"]) for t in panel["targets"]]
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            metric = variable["definition"].split("(", 1)[1].split(",")[0]
            expressions.append((variable["name"], metric))
    used = set()
    for where, expr in expressions:
        names = metric_names_in(expr)
        assert names, (where, expr)
        assert names <= known, f"{where}: unknown metric(s) {names - known}"
        used |= names
    # Every exporter metric listed is used, and documented for the operators.
    assert used >= EXTERNAL_METRICS
    doc = OPERATIONS.read_text()
    for name in EXTERNAL_METRICS:
        assert f"`{name}`" in doc, name


def test_dashboard_is_a_grafana_dashboard():
    board = dashboard()
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 30
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"] and all(t["refId"] for t in panel["targets"])
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
@pytest.mark.parametrize("tree", TREES)
def test_promtool_accepts_the_rules(tree, tmp_path):
    rule = one(documents_of(tree), "PrometheusRule")
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


# -- IAM ---------------------------------------------------------------------------------------

# Code that runs as the operator (dlq command), not as the service.
OPERATOR_MODULES = {"recording_storage/aws/dlq.py"}
# Not AWS: DRACOON's client and the emulator have methods with S3-like names.
NOT_AWS = ("recording_storage/dracoon/",)
# boto3 operations whose IAM action has another name.
S3_ACTIONS = {
    "HeadObject": "s3:GetObject",
    "HeadBucket": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "ListBuckets": "s3:ListAllMyBuckets",
}
SQS_BATCH = {"ChangeMessageVisibilityBatch", "DeleteMessageBatch", "SendMessageBatch"}
# Used by the code but left out of the production policy on purpose (docs/operations.md, IAM).
CONDITIONAL = {"s3:ListAllMyBuckets"}  # health probe, only when s3.allowedBuckets is empty


def boto3_operations() -> dict[str, tuple[str, str]]:
    """python method name -> (service, operation) for S3 and SQS."""
    from botocore import xform_name

    session = get_session()
    methods = {}
    for service in ("s3", "sqs"):
        for operation in session.get_service_model(service).operation_names:
            methods[xform_name(operation)] = (service, operation)
    return methods


def iam_action(service: str, operation: str) -> str:
    if service == "s3":
        return S3_ACTIONS.get(operation, f"s3:{operation}")
    if operation in SQS_BATCH:
        operation = operation.removesuffix("Batch")
    return f"sqs:{operation}"


def actions_used_by_code() -> dict[str, set[str]]:
    """IAM actions per role ("service", "operator") from the boto3 method names in the code."""
    methods = boto3_operations()
    used: dict[str, set[str]] = {"service": set(), "operator": set()}
    for path in sorted((PROJECT_ROOT / "recording_storage").rglob("*.py")):
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        if relative.startswith(NOT_AWS):
            continue
        role = "operator" if relative in OPERATOR_MODULES else "service"
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in methods:
                used[role].add(iam_action(*methods[node.attr]))
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef) and deletes_a_version(function):
                used[role].add("s3:DeleteObjectVersion")
    return used


def deletes_a_version(function: ast.FunctionDef) -> bool:
    """DeleteObject with a VersionId needs s3:DeleteObjectVersion (versioned buckets)."""
    nodes = list(ast.walk(function))
    deletes = any(isinstance(n, ast.Attribute) and n.attr == "delete_object" for n in nodes)
    version = any(
        (isinstance(n, ast.Constant) and n.value == "VersionId")
        or (isinstance(n, ast.keyword) and n.arg == "VersionId")
        for n in nodes
    )
    return deletes and version


def policy_actions(name: str) -> set[str]:
    policy = json.loads((IAM / name).read_text())
    assert policy["Version"] == "2012-10-17"
    actions = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow" and "*" not in json.dumps(statement["Action"])
        assert statement["Resource"] != "*", statement["Sid"]
        actions.update(statement["Action"])
    return actions


def test_the_code_scan_finds_the_calls_it_should():
    used = actions_used_by_code()
    assert {"sqs:ReceiveMessage", "s3:GetObject", "s3:DeleteObject"} <= used["service"]
    assert "s3:DeleteObjectVersion" in used["service"]  # aws/s3.py deletes by VersionId
    assert {"sqs:SendMessage", "sqs:PurgeQueue"} <= used["operator"]


def test_service_policy_is_exactly_what_the_service_calls():
    assert (
        policy_actions("recording-storage-policy.json")
        == actions_used_by_code()["service"] - CONDITIONAL
    )
    doc = OPERATIONS.read_text()
    for action in CONDITIONAL:
        assert f"`{action}`" in doc


def test_operator_policy_is_exactly_what_the_dlq_command_calls():
    assert policy_actions("dlq-operator-policy.json") == actions_used_by_code()["operator"]


# Synthetic series for `promtool test rules`: each alert fires where it should, and the
# NoSuccess alert stays quiet while jobs succeed. (alert, input series, eval time, labels)
ALERT_CASES = [
    (
        "RecordingStorageNoSuccess",
        [
            ('recording_storage_jobs_received_total{namespace="rs",pod="p"}', "0+1x120"),
            ('recording_storage_jobs_succeeded_total{namespace="rs",pod="p"}', "5x120"),
        ],
        "40m",
        [{"severity": "critical"}],
    ),
    (
        "RecordingStorageNoSuccess",
        [
            ('recording_storage_jobs_received_total{namespace="rs",pod="p"}', "0+1x120"),
            ('recording_storage_jobs_succeeded_total{namespace="rs",pod="p"}', "0+1x120"),
        ],
        "40m",
        [],
    ),
    (
        "RecordingStorageDLQGrowing",
        [
            (
                'aws_sqs_approximate_number_of_messages_visible_average{queue_name="recordings-dlq"}',
                "0 0 0 1 1 1 2 2 2 3x30",
            ),
        ],
        "20m",
        [{"queue_name": "recordings-dlq", "severity": "warning"}],
    ),
    (
        "RecordingStorageCircuitOpen",
        [('recording_storage_circuit_open{namespace="rs",pod="p",scope="dracoon"}', "1x30")],
        "20m",
        [{"namespace": "rs", "scope": "dracoon", "severity": "warning"}],
    ),
    (
        "RecordingStorageWorkersRestarting",
        [
            (
                'recording_storage_worker_restarts_total{namespace="rs",pod="p",'
                'worker="file_transferer-1",cause="exited"}',
                "0+1x30",
            )
        ],
        "20m",
        [{"namespace": "rs", "pod": "p", "severity": "warning"}],
    ),
    (
        "RecordingStorageOldestMessageStuck",
        [
            (
                'aws_sqs_approximate_age_of_oldest_message_maximum{queue_name="recordings"}',
                "7000+60x60",
            )
        ],
        "30m",
        [{"queue_name": "recordings", "severity": "warning"}],
    ),
    (
        "RecordingStorageSharerFailing",
        [
            (
                'kube_cronjob_status_last_successful_time{namespace="rs",'
                'cronjob="recording-storage-sharer"}',
                "0x300",
            )
        ],
        "4h",
        [{"namespace": "rs", "severity": "warning"}],
    ),
]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_alerts_fire_on_synthetic_series(tmp_path):
    rule = one(base_documents(), "PrometheusRule")
    groups = json.loads(json.dumps(rule["spec"]["groups"]))
    for group in groups:  # annotations are checked above; promtool would compare them too
        for r in group["rules"]:
            r.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    tests = [
        {
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in series],
            "alert_rule_test": [
                {
                    "eval_time": at,
                    "alertname": alert,
                    "exp_alerts": [{"exp_labels": labels} for labels in expected],
                }
            ],
        }
        for alert, series, at, expected in ALERT_CASES
    ]
    assert {case[0] for case in ALERT_CASES} == {r["alert"] for r in alert_rules()}
    (tmp_path / "alerts_test.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests})
    )
    result = subprocess.run(
        ["promtool", "test", "rules", "alerts_test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
