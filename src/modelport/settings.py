"""Server settings: defaults, overlaid by ``MODELPORT_*`` environment variables, overlaid by
command-line flags (the CLI does the last step). Every numeric setting is range-checked here,
so a bad value stops the server at start naming its flag and variable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelport.memory import parse_bytes

ENV_PREFIX = "MODELPORT_"
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    model_repositories: tuple[str, ...] = ()
    model_files: tuple[str, ...] = ()
    model_dirs: tuple[str, ...] = ()
    """Single models' directories (``<model>/<version>/...``), each served under its name."""
    host: str = "127.0.0.1"
    http_port: int = 8000
    default_model: str = ""
    log_level: str = "info"
    log_format: str = "text"
    """``text`` or ``json`` (one object per line), for the log and the access lines."""
    access_log: bool = False
    """One line per request on stdout (see ``accesslog.py``)."""
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_json_depth: int = 100
    intra_op_threads: int = 0
    inter_op_threads: int = 0
    strict_readiness: bool = True
    exit_timeout_secs: float = 30.0
    http_header_timeout_secs: float = 10.0
    """A request head must arrive within this many seconds (slowloris defence)."""
    http_body_timeout_secs: float = 60.0
    """A request body must arrive within this many seconds of its head."""
    port_file: str = ""
    grpc_port: int = 8001
    grpc_max_message_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    grpc_max_concurrent_calls: int = 128
    """gRPC calls served at once, each in a thread (an open stream holds one for its life);
    a call beyond it is refused at once with RESOURCE_EXHAUSTED, never queued."""
    allow_grpc: bool = True
    allow_metrics: bool = True
    allow_console: bool = True
    """Serve the web console (``/``, ``/docs``, ``/openapi.json``, ``/console/...``)."""
    metrics_port: int = -1  # -1: only /metrics on the HTTP port; 0: a free port
    model_control_mode: str = "none"  # none | poll | explicit, as Triton
    repository_poll_secs: float = 15.0
    load_models: tuple[str, ...] = ()
    workers: int = 1
    """Worker processes serving the same ports; weights are shared between them."""
    shared_weights_dir: str = ""
    """Where shared-weight copies of models are kept (default: ~/.cache/modelport)."""
    model_memory_budget: int = 0
    """Bytes the loaded models may hold; beyond it the least recently used idle ones are
    parked and restored on their next request (0: no budget, every model stays loaded)."""
    default_max_batch_size: int = 1024
    """max_batch_size for batchable models whose config does not set one."""
    allow_pickle: bool = False
    """Load formats that run code (pickle, joblib, Keras .h5), each only if its SHA-256 is
    listed in the model's ``trusted_sha256``."""
    api_keys: str = ""
    """A YAML file of API keys with scopes, models and quotas (``keys.py``); re-read when it
    changes. Set: every request needs a key, except health and metrics unless protected."""
    auth_health: bool = False
    """With keys: health and readiness need a key too."""
    auth_metrics: bool = False
    """With keys: /metrics needs a key with the read scope."""
    quota_rate: float = 0.0
    """Requests/s per key (for keys that set none) or per client address without keys; 0: off."""
    quota_concurrency: int = 0
    """Requests in flight per key or client address; 0: off."""
    tls_cert: str = ""
    tls_key: str = ""
    """PEM certificate chain and private key: HTTP and gRPC are served over TLS."""
    tls_client_ca: str = ""
    """PEM CA: clients must present a certificate it signed (mutual TLS)."""
    require_checksums: bool = False
    """Refuse a version without ``checksums.sha256``."""
    model_name: str = ""
    """The name to serve the one model found under (a file or folder named otherwise)."""
    multi_model_root: str = ""
    """SageMaker multi-model endpoints: ``POST /models`` loads models from inside this folder
    (``/opt/ml/models``); empty: that API is off."""
    cache_dir: str = ""
    """Where remote repositories (s3://, gs://, ...) are cached (default ~/.cache/modelport)."""
    predict_route: str = ""
    """Also answer Vertex AI's predict body at this path (AIP_PREDICT_ROUTE)."""
    health_route: str = ""
    """Also answer readiness with 200/503 at this path (AIP_HEALTH_ROUTE)."""
    deployed_model_id: str = ""
    """``deployedModelId`` in Vertex AI answers (AIP_DEPLOYED_MODEL_ID)."""

    def __post_init__(self) -> None:
        if self.log_format not in ("text", "json"):
            raise ValueError(
                f"--log-format (MODELPORT_LOG_FORMAT) is text or json, got {self.log_format!r}"
            )
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("--tls-cert and --tls-key go together")
        if self.tls_client_ca and not self.tls_cert:
            raise ValueError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
        for name, (low, high) in _BOUNDS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                flag, env = f"--{name.replace('_', '-')}", ENV_PREFIX + name.upper()
                within = f"at least {low:g}" if high == _NO_MAX else f"from {low:g} to {high:g}"
                raise ValueError(f"{flag} ({env}) must be {within}, got {value}")


_NO_MAX = float("inf")
_BOUNDS: dict[str, tuple[float, float]] = {
    "http_port": (0, 65535),
    "grpc_port": (0, 65535),
    "metrics_port": (-1, 65535),
    "workers": (1, _NO_MAX),
    "intra_op_threads": (0, _NO_MAX),
    "inter_op_threads": (0, _NO_MAX),
    "max_request_bytes": (1, _NO_MAX),
    "max_json_depth": (1, _NO_MAX),
    "grpc_max_message_bytes": (1, _NO_MAX),
    "grpc_max_concurrent_calls": (1, _NO_MAX),
    "default_max_batch_size": (0, _NO_MAX),
    "exit_timeout_secs": (0, _NO_MAX),
    "http_header_timeout_secs": (1e-3, _NO_MAX),
    "http_body_timeout_secs": (1e-3, _NO_MAX),
    "repository_poll_secs": (1e-3, _NO_MAX),
    "quota_rate": (0, _NO_MAX),
    "quota_concurrency": (0, _NO_MAX),
    "model_memory_budget": (0, _NO_MAX),
}
"""Each numeric setting's allowed range; anything else is refused at start with its flag."""


_SIZES = frozenset({"model_memory_budget"})
"""Settings given in bytes, which also take units (``2GiB``)."""


def settings_from(env: Mapping[str, str], **flags: Any) -> Settings:
    """Defaults, overlaid by ``MODELPORT_*`` variables, overlaid by flags that are not None."""
    values: dict[str, Any] = {}
    for spec in dataclasses.fields(Settings):
        raw = env.get(ENV_PREFIX + spec.name.upper())
        if raw is not None:
            values[spec.name] = _parse_env(spec.name, str(spec.type), raw)
    values.update({key: value for key, value in flags.items() if value is not None})
    return Settings(**values)


def _parse_env(name: str, kind: str, raw: str) -> Any:
    try:
        if kind.startswith("tuple"):
            return tuple(part for part in raw.split(",") if part)
        if kind == "bool":
            return _parse_bool(raw)
        if name in _SIZES:
            return parse_bytes(raw)
        return {"int": int, "float": float}.get(kind, str)(raw)
    except ValueError as exc:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r}: {exc}") from exc


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")
