"""The Kubernetes manifests under deploy/k8s validate against the API schemas of one Kubernetes version."""

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

K8S_DIR = Path(__file__).resolve().parent.parent / "deploy" / "k8s"
# The schemas of this version ship with kubernetes-validate 1.37.0; strict mode also rejects unknown fields.
KUBERNETES_VERSION = "1.33.0"
MANIFESTS = sorted(path for path in K8S_DIR.glob("*.yaml") if path.name != "kustomization.yaml")


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def documents_by_kind() -> dict[str, dict[str, Any]]:
    return {document["kind"]: document for path in MANIFESTS for document in load_documents(path)}


@pytest.mark.parametrize("path", MANIFESTS, ids=[path.stem for path in MANIFESTS])
def test_k8s_manifest_is_valid(path: Path) -> None:
    for document in load_documents(path):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_k8s_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text())

    assert sorted(kustomization["resources"]) == sorted(path.name for path in MANIFESTS)


def test_k8s_deployment_probes_health_routes() -> None:
    container = documents_by_kind()["Deployment"]["spec"]["template"]["spec"]["containers"][0]

    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_k8s_deployment_runs_non_root_read_only() -> None:
    pod = documents_by_kind()["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert mounts["/models"]["readOnly"] is True
    assert "/tmp" in mounts


def test_k8s_deployment_sets_resource_limits() -> None:
    resources = documents_by_kind()["Deployment"]["spec"]["template"]["spec"]["containers"][0]["resources"]

    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) == {"cpu", "memory"}


def test_k8s_job_and_deployment_share_model_claim() -> None:
    documents = documents_by_kind()
    claim = documents["PersistentVolumeClaim"]["metadata"]["name"]

    for kind in ("Job", "Deployment"):
        volumes = documents[kind]["spec"]["template"]["spec"]["volumes"]
        assert {"claimName": claim} in [
            {"claimName": volume["persistentVolumeClaim"]["claimName"]} for volume in volumes if "persistentVolumeClaim" in volume
        ]


def test_k8s_autoscaler_targets_deployment() -> None:
    documents = documents_by_kind()

    assert documents["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == documents["Deployment"]["metadata"]["name"]
