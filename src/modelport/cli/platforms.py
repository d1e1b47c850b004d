"""The clouds' container contracts, read from the environment each sets, so the same image
runs unchanged on each:

- SageMaker runs the image with the argument ``serve``; the model is in ``/opt/ml/model``
  (``SM_MODEL_DIR``); the port is 8080 (``SAGEMAKER_BIND_TO_PORT``); it probes ``GET /ping``
  and sends ``POST /invocations``.
- Vertex AI sets ``AIP_HTTP_PORT``, ``AIP_HEALTH_ROUTE``, ``AIP_PREDICT_ROUTE``,
  ``AIP_STORAGE_URI`` (where the model is) and ``AIP_DEPLOYED_MODEL_ID``.
- Azure ML online endpoints set ``AZUREML_MODEL_DIR``; scoring is ``POST /score``, and the
  deployment names the probes (``/v2/health/live``, ``/v2/health/ready``).

Explicit flags and ``MODELPORT_*`` variables win over what a platform implies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SAGEMAKER_MODEL_DIR = "/opt/ml/model"
SAGEMAKER_MODELS_DIR = "/opt/ml/models"


@dataclass(frozen=True)
class Platform:
    name: str = ""
    flags: dict[str, Any] = field(default_factory=dict)
    model_path: str = ""
    """Where the platform put the model (used when no existing path is given)."""


def detect(env: Mapping[str, str], path_given: bool = False) -> Platform:
    """The platform whose environment this is; ``/opt/ml/model`` alone counts as SageMaker
    only when no path to serve was given (SageMaker passes just ``serve``)."""
    if "AIP_HTTP_PORT" in env or "AIP_PREDICT_ROUTE" in env:
        flags = {
            "http_port": int(env.get("AIP_HTTP_PORT", "8080")),
            "host": "0.0.0.0",
            "predict_route": env.get("AIP_PREDICT_ROUTE", ""),
            "health_route": env.get("AIP_HEALTH_ROUTE", ""),
            "deployed_model_id": env.get("AIP_DEPLOYED_MODEL_ID", ""),
        }
        return Platform("Vertex AI", flags, env.get("AIP_STORAGE_URI", ""))
    sagemaker_dir = not path_given and Path(SAGEMAKER_MODEL_DIR).is_dir()
    if "SAGEMAKER_BIND_TO_PORT" in env or "SM_MODEL_DIR" in env or sagemaker_dir:
        port = int(env.get("SAGEMAKER_BIND_TO_PORT", "8080"))
        model = env.get("SM_MODEL_DIR", SAGEMAKER_MODEL_DIR)
        sagemaker: dict[str, Any] = {"http_port": port, "host": "0.0.0.0"}
        if env.get("SAGEMAKER_MULTI_MODEL", "").lower() in ("true", "1"):
            sagemaker["multi_model_root"] = SAGEMAKER_MODELS_DIR  # models come by POST /models
            model = ""
        return Platform("SageMaker", sagemaker, model)
    if "AZUREML_MODEL_DIR" in env:
        return Platform("Azure ML", {"host": "0.0.0.0"}, env["AZUREML_MODEL_DIR"])
    return Platform()


def merged(platform: Platform, flags: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """``flags`` with the platform's values where neither a flag nor a MODELPORT_ variable
    says otherwise."""
    found = dict(flags)
    for key, value in platform.flags.items():
        if found.get(key) is None and f"MODELPORT_{key.upper()}" not in env:
            found[key] = value
    return found
