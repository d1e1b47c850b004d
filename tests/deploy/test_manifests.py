"""The Kubernetes and KServe manifests, rendered and validated offline: `kubectl kustomize`
renders every overlay, `kubernetes-validate --strict` checks the built-in kinds, and
`check-jsonschema` the ServiceMonitor and KServe objects against their CRDs' own schemas
(tests/deploy/schemas). No API server is involved."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[2]
OVERLAYS = ("cpu", "gpu", "remote-repository")
SCHEMAS = Path(__file__).parent / "schemas"
CRDS = {
    "ServiceMonitor": "servicemonitor-v1.json",
    "ClusterServingRuntime": "clusterservingruntime-v1alpha1.json",
    "InferenceService": "inferenceservice-v1beta1.json",
}
BIN = Path(sys.executable).parent


def render(overlay: str) -> list[dict[str, Any]]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    path = ROOT / "deploy" / "kubernetes" / "overlays" / overlay
    out = subprocess.run(
        ["kubectl", "kustomize", str(path)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def kserve() -> list[dict[str, Any]]:
    found = []
    for path in sorted((ROOT / "deploy" / "kserve").glob("*.yaml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def strict(schema: Any) -> Any:
    """Close every object that lists its properties, as kubectl --strict does."""
    if isinstance(schema, dict):
        closed = {key: strict(value) for key, value in schema.items()}
        open_ended = closed.get("x-kubernetes-preserve-unknown-fields")
        if "properties" in closed and "additionalProperties" not in closed and not open_ended:
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


def check_against_crd(doc: dict[str, Any], tmp_path: Path) -> None:
    schema = tmp_path / f"{doc['kind']}.schema.json"
    schema.write_text(json.dumps(strict(json.loads((SCHEMAS / CRDS[doc["kind"]]).read_text()))))
    instance = tmp_path / f"{doc['kind']}-{doc['metadata']['name']}.json"
    instance.write_text(json.dumps(doc))
    done = subprocess.run(
        [str(BIN / "check-jsonschema"), "--schemafile", str(schema), str(instance)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def check_builtin(docs: list[dict[str, Any]], tmp_path: Path) -> None:
    path = tmp_path / "builtin.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    done = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "--quiet", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_renders_and_validates(overlay: str, tmp_path: Path) -> None:
    docs = render(overlay)
    kinds = {doc["kind"] for doc in docs}
    assert kinds == {
        "ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler",
        "PodDisruptionBudget", "ServiceMonitor",
    }  # fmt: skip
    check_builtin([d for d in docs if d["kind"] not in CRDS], tmp_path)
    for doc in docs:
        if doc["kind"] in CRDS:
            check_against_crd(doc, tmp_path)


@pytest.mark.parametrize("name", ["kserve-modelport", "digits", "fraud"])
def test_kserve_objects_validate(name: str, tmp_path: Path) -> None:
    doc = next(d for d in kserve() if d["metadata"]["name"] == name)
    check_against_crd(doc, tmp_path)


def test_the_runtime_advertises_every_format_and_both_protocols() -> None:
    runtime = next(d for d in kserve() if d["kind"] == "ClusterServingRuntime")
    formats = {f["name"] for f in runtime["spec"]["supportedModelFormats"]}
    assert formats == {"onnx", "pytorch", "tensorflow", "sklearn", "xgboost", "lightgbm", "custom"}
    assert runtime["spec"]["protocolVersions"] == ["v2", "grpc-v2"]
    container = runtime["spec"]["containers"][0]
    assert container["name"] == "kserve-container" and "/mnt/models" in container["args"]
    assert {"--model_name={{.Name}}", "--http_port=8080", "--grpc_port=8081"} <= set(
        container["args"]
    )
    assert [p["name"] for p in container["ports"]] == ["h2c"]


def test_the_pod_is_locked_down_and_drains_in_time() -> None:
    docs = render("cpu")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    settings = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001
    guard = container["securityContext"]
    assert guard["readOnlyRootFilesystem"] and not guard["allowPrivilegeEscalation"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["grpc"]["port"] == 8001
    pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    drain = float(settings["MODELPORT_EXIT_TIMEOUT_SECS"])
    assert pre_stop + drain < pod["terminationGracePeriodSeconds"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/models"]["readOnly"] and "/tmp" in mounts
