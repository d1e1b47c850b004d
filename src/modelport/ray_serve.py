"""modelport on Ray Serve: each model a deployment with replicas of its own, behind a front
deployment that speaks modelport's protocols, so clients do not change.

    modelport serve REPO --ray ADDRESS --http-port 8000       # the CLI deploys and waits
    serve run modelport.ray_serve:app repository=/models       # or Serve's own CLI

The front (deployment ``modelport``) is modelport's REST application (V2, ``/predict``, TF
Serving, SageMaker, health, ``/metrics``) behind Ray's HTTP proxy. Its registry holds, for
every model version, a :class:`ReplicatedModel`: requests are decoded and validated at the
front and their tensors go through a ``DeploymentHandle`` to the deployment named after the
model (replica actors are titled ``ServeReplica:modelport:<model>``). Each replica is a
modelport registry of that one model: it loads it as a single server would (checksums,
pickle policy, threads) and batches (``dynamic_batching`` works inside every replica). A
request whose replica dies is sent again to another (an inference depends on its inputs
alone); a model's errors come back as the same 4xx/5xx a single server answers.

Ray is the optional extra ``modelport[ray]``; this module is imported only with ``--ray``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from ray.exceptions import ActorUnavailableError, RayActorError, RayError, RayTaskError
from ray.serve.handle import DeploymentHandle
from starlette.types import ASGIApp

import ray
from modelport.config import ModelConfig
from modelport.errors import ErrorCode, InferenceFailed, ModelNotReady, ModelportError, error_for
from modelport.model import LoadedModel
from modelport.repository.layout import ModelSource
from modelport.runtimes import RuntimeOptions
from modelport.server import Server
from modelport.settings import Settings
from modelport.tensor import TensorSpec
from modelport.types import ModelMetadata, Traced
from ray import serve

logger = logging.getLogger(__name__)

APP = "modelport"
FRONT = "modelport"
RETRY_WINDOW_S = 30.0
"""How long a request whose replica died keeps trying others (or its replacement)."""
RETRY_DELAY_S = 0.2
Arrays = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class ReplicaOptions:
    """How each model's deployment scales: ``replicas`` to start with; autoscaling on
    ongoing requests up to ``max_replicas`` when it is larger."""

    replicas: int = 1
    max_replicas: int = 0
    target_ongoing_requests: float = 2.0
    max_ongoing_requests: int = 64
    """Requests one replica takes at once (room for its batcher to form batches)."""
    replica_cpus: float = 1.0

    def deployment_options(self, name: str) -> dict[str, Any]:
        options: dict[str, Any] = {
            "name": name,
            "max_ongoing_requests": self.max_ongoing_requests,
            "ray_actor_options": {"num_cpus": self.replica_cpus},
        }
        if self.max_replicas > self.replicas:
            options["autoscaling_config"] = {
                "min_replicas": self.replicas,
                "initial_replicas": self.replicas,
                "max_replicas": self.max_replicas,
                "target_ongoing_requests": self.target_ongoing_requests,
                "upscale_delay_s": 2.0,
                "downscale_delay_s": 60.0,
            }
        else:
            options["num_replicas"] = self.replicas
        return options


@dataclass(frozen=True)
class Described:
    """What a replica says about one version of its model (or why it did not load)."""

    version: str
    metadata: ModelMetadata | None = None
    config: ModelConfig = field(default_factory=ModelConfig)
    labels: Mapping[str, Sequence[str]] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class Refusal:
    """A model's error, sent back to the front to be raised as itself."""

    code: ErrorCode
    message: str


class ModelReplica:
    """One replica of one model: a modelport registry serving that model alone."""

    async def __init__(self, settings: Settings, name: str) -> None:  # type: ignore[misc]
        self._name = name
        alone = dataclasses.replace(
            settings,
            model_control_mode="explicit",
            load_models=(name,),
            intra_op_threads=settings.intra_op_threads or _replica_cpus(),
        )
        self._server = Server(alone)
        await self._server.load_models()

    def describe(self) -> list[Described]:
        ready = {m.version: m for m in self._server.registry.ready_models(self._name)}
        found = []
        for entry in self._server.registry.index():
            model = ready.get(entry.version)
            if model is None:
                found.append(Described(entry.version, reason=entry.reason or entry.state))
            else:
                labels = dict(model.labels)
                found.append(Described(model.version, model.metadata, model.config, labels))
        return found

    async def infer(
        self, version: str, inputs: dict[str, np.ndarray], outputs: list[str], timeout_us: int
    ) -> dict[str, np.ndarray] | Refusal:
        try:
            model = self._server.registry.get(self._name, version)
            return dict(await model.run(inputs, outputs, timeout_us))
        except ModelportError as exc:
            return Refusal(exc.code, exc.message)


class _Described:
    """The runtime of a model that runs elsewhere: its signature, and no inference here."""

    def __init__(self, metadata: ModelMetadata) -> None:
        self.platform = metadata.platform
        self.inputs: tuple[TensorSpec, ...] = metadata.inputs
        self.outputs: tuple[TensorSpec, ...] = metadata.outputs

    def infer(self, inputs: Arrays, outputs: Sequence[str]) -> Arrays:
        raise InferenceFailed("this model runs on its Ray deployment")

    def unload(self) -> None:
        """Its replicas belong to Ray."""


@dataclass
class ReplicatedModel(LoadedModel):
    """A model version at the front: each call goes to one of its deployment's replicas."""

    handle: DeploymentHandle[Any] | None = None

    def __post_init__(self) -> None:
        """No execution of its own: every call awaits a replica."""

    def runs_now(self) -> bool:
        return False

    def runs_inline(self) -> bool:
        return False

    def claim(self) -> bool:
        return False  # no gRPC thread computes it: its calls await a replica on the loop

    async def run_timed(
        self,
        inputs: Arrays,
        outputs: Sequence[str],
        timeout_us: int = 0,
        trace: Traced | None = None,
    ) -> tuple[Arrays, int, int]:
        """The replica's answer; its whole round trip counts as compute."""
        self.inflight += 1
        started = time.perf_counter_ns()
        try:
            answer = await self._call(dict(inputs), list(outputs), timeout_us)
        finally:
            self.inflight -= 1
        if isinstance(answer, Refusal):
            raise error_for(answer.code, answer.message)
        return answer, 0, time.perf_counter_ns() - started

    async def _call(
        self, inputs: dict[str, np.ndarray], outputs: list[str], timeout_us: int
    ) -> dict[str, np.ndarray] | Refusal:
        assert self.handle is not None
        lost: RayError | None = None
        deadline = time.monotonic() + RETRY_WINDOW_S
        attempt = 0
        while time.monotonic() < deadline:
            attempt += 1
            try:
                answer: dict[str, np.ndarray] | Refusal = await self.handle.infer.remote(
                    self.version, inputs, outputs, timeout_us
                )
                return answer
            except (RayActorError, ActorUnavailableError) as exc:  # the replica went away
                lost = exc
                await asyncio.sleep(min(RETRY_DELAY_S * attempt, 1.0))
            except RayTaskError as exc:
                raise InferenceFailed(f"model {self.metadata.name}: {exc.cause!r}") from exc
        name = self.metadata.name
        raise ModelNotReady(f"model {name}: no replica answered ({type(lost).__name__})")

    def close(self) -> None:
        """Its replicas belong to Ray: nothing to release here."""


def replicated_model(
    models: Mapping[str, DeploymentHandle[Any]],
    source: ModelSource,
    options: RuntimeOptions,
    default_max_batch: int,
    require_checksums: bool,
) -> LoadedModel:
    """The front's loader: a version as its deployment's replicas describe it."""
    handle = models.get(source.name)
    if handle is None:
        raise ModelNotReady(f"model {source.name} has no Ray deployment; deploy again")
    versions = handle.describe.remote().result(timeout_s=600)
    found = next((d for d in versions if d.version == str(source.version)), None)
    if found is None or found.metadata is None:
        raise ValueError(found.reason if found else "not loaded by its replicas")
    return ReplicatedModel(
        found.metadata,
        found.version,
        _Described(found.metadata),
        found.config,
        found.labels,
        inline=True,  # no executor: the call awaits its replica
        handle=handle,
    )


@serve.ingress()
class Front:
    """modelport's REST application, its models served by their deployments."""

    def __init__(self, settings: Settings, models: dict[str, DeploymentHandle[Any]]) -> None:
        self._settings = settings
        self._models = models

    async def __serve_build_asgi_app__(self) -> ASGIApp:
        loader = partial(replicated_model, self._models)
        self._server = Server(dataclasses.replace(self._settings, allow_grpc=False), loader=loader)
        await self._server.load_models()
        return self._server.build_app()


def application(settings: Settings, options: ReplicaOptions) -> Any:
    """The Serve application: a deployment per model in the repository, and the front."""
    names = sorted({item.name for item in Server(settings).control.scan(False)})
    replica: Any = serve.deployment(ModelReplica)
    models = {
        name: replica.options(**options.deployment_options(name)).bind(settings, name)
        for name in names
    }
    front: Any = serve.deployment(Front)
    return front.options(name=FRONT, max_ongoing_requests=1000).bind(settings, models)


def app(args: dict[str, str]) -> Any:
    """For ``serve run modelport.ray_serve:app repository=DIR`` (also ``replicas``,
    ``max_replicas``, ``target_ongoing_requests``, ``replica_cpus``, as the CLI's flags)."""
    settings = Settings(model_repositories=(args["repository"],))
    options = ReplicaOptions(
        replicas=int(args.get("replicas", 1)),
        max_replicas=int(args.get("max_replicas", 0)),
        target_ongoing_requests=float(args.get("target_ongoing_requests", 2.0)),
        replica_cpus=float(args.get("replica_cpus", 1.0)),
    )
    return application(settings, options)


def deploy(settings: Settings, options: ReplicaOptions, address: str) -> None:
    """Deploy on the cluster at ``address``, serve until SIGINT/SIGTERM, then delete the
    application (its replicas go; the cluster stays)."""
    ray.init(address=address, logging_level=logging.WARNING)
    try:
        start(settings, options)
        url = f"http://{settings.host}:{settings.http_port}"
        print(f"modelport serving on Ray at {url} (V2: {url}/v2)", flush=True)
        _wait_for_signal()
        print("modelport: deleting the Ray Serve application", flush=True)
        serve.delete(APP)
    finally:
        ray.shutdown()


def start(settings: Settings, options: ReplicaOptions) -> None:
    """Start Serve's proxy on ``settings.host:http_port`` (on the head node only) and run
    the application; returns once every deployment is running."""
    http = {"host": settings.host, "port": settings.http_port}
    serve.start(proxy_location="HeadOnly", http_options=http)
    serve.run(application(settings, options), name=APP, route_prefix="/")


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def _replica_cpus() -> int:
    """The CPUs Ray gave this replica (its intra-op threads), at least one."""
    context: Any = ray.get_runtime_context()
    assigned = context.get_assigned_resources().get("CPU", 1.0)
    return max(1, int(assigned))
