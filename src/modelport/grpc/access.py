"""The access policy on gRPC: which action each RPC is, and an interceptor for the services
that are not inference (health, reflection, RPCs modelport does not implement).

Inference-service RPCs are checked in the servicer, which knows the model each request
names; every other RPC is checked here, by method alone. The interceptor is installed only
when API keys are configured, so it costs nothing otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc

from modelport.auth import ANYWHERE, AccessPolicy, Action, Model
from modelport.errors import ModelportError, QuotaExceeded
from modelport.grpc.errors import GRPC_STATUS

ACTIONS: dict[str, tuple[Action, str | None]] = {
    "ServerLive": (Action.HEALTH, None),
    "ServerReady": (Action.HEALTH, None),
    "ModelReady": (Action.HEALTH, None),
    "ServerMetadata": (Action.READ, None),
    "ModelMetadata": (Action.READ, "name"),
    "ModelConfig": (Action.READ, "name"),
    "ModelStatistics": (Action.READ, "name"),  # no name: every model's
    "RepositoryIndex": (Action.READ, ANYWHERE),
    "RepositoryModelLoad": (Action.ADMIN, "model_name"),
    "RepositoryModelUnload": (Action.ADMIN, "model_name"),
    "ModelInfer": (Action.INFER, "model_name"),
    "ModelStreamInfer": (Action.INFER, "model_name"),
    "ModelFeedback": (Action.INFER, "model_name"),
}
"""Inference- and feedback-service RPC → its action, and the request field naming its model
(None: no model; ANYWHERE: every model)."""


def action_of(method: str, request: Any) -> tuple[Action, Model]:
    action, field = ACTIONS[method]
    if field is None or field == ANYWHERE:
        return action, field
    return action, str(getattr(request, field))


def authorization(context: grpc.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata():
        if key == "authorization":
            return str(value)
    return None


def peer_host(context: grpc.ServicerContext) -> str:
    """``ipv4:127.0.0.1:5000`` → ``127.0.0.1``; ``ipv6:[::1]:5000`` → ``::1``."""
    address = str(context.peer()).partition(":")[2]
    return address.rpartition(":")[0].strip("[]")


def trailers_for(exc: ModelportError) -> tuple[tuple[str, str], ...]:
    if isinstance(exc, QuotaExceeded):
        return (("retry-after", str(exc.retry_after)),)
    return ()


class AccessInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, policy: AccessPolicy, services: tuple[str, ...]) -> None:
        self.policy = policy
        self.services = services
        """The services whose servicers check each call against its model."""

    def intercept_service(self, continuation: Callable[[Any], Any], details: Any) -> Any:
        handler = continuation(details)
        service, _, method = str(details.method).lstrip("/").rpartition("/")
        if handler is None or (service in self.services and method in ACTIONS):
            return handler  # the servicer checks it against the model it names
        action = Action.HEALTH if service.startswith("grpc.health.") else Action.READ
        metadata = dict(details.invocation_metadata or ())
        try:
            self.policy.admit(metadata.get("authorization"), "", action, None).release()
        except ModelportError as exc:
            return _refusing(handler, exc)
        return handler


def _refusing(handler: Any, exc: ModelportError) -> Any:
    """A handler of the same kind that answers every call with ``exc``'s status."""

    def refuse(request: Any, context: grpc.ServicerContext) -> Any:
        if isinstance(request, Iterator):  # a client stream: take its first message first,
            next(request, None)  # so the client is not cut off while still sending it
        context.abort(GRPC_STATUS[exc.code], exc.message)

    kinds = {
        "unary_unary": grpc.unary_unary_rpc_method_handler,
        "unary_stream": grpc.unary_stream_rpc_method_handler,
        "stream_unary": grpc.stream_unary_rpc_method_handler,
        "stream_stream": grpc.stream_stream_rpc_method_handler,
    }
    kind = next(k for k in kinds if getattr(handler, k) is not None)
    return kinds[kind](
        refuse,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
