"""Which action an HTTP request is, for the access policy, and the guard in front of the
routes that are not inference (the inference routes ask the policy in ``inference.py``).

Every path maps to an action: health, metrics, read, infer or admin, with the model it is
about; a path no route serves is a read about every model, so with keys configured it is
refused (401) before anyone learns whether it exists.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from modelport.auth import ANYWHERE, AccessPolicy, Action, Model
from modelport.errors import ModelportError, QuotaExceeded, Unauthenticated
from modelport.protocol import jsonbody
from modelport.protocol.status import HTTP_STATUS
from modelport.rest.endpoints import send_reply

_TF_INFER = (":predict", ":classify", ":regress")


def http_action(path: str, default_model: str = "", method: str = "GET") -> tuple[Action, Model]:
    """The action and model of a request for ``path`` (already percent-decoded)."""
    parts = path.split("/")[1:]
    match parts:
        case ["models"]:  # SageMaker's multi-model API: list, or load (the name is in the body)
            return (Action.READ if method == "GET" else Action.ADMIN), ANYWHERE
        case ["models", model]:
            return (Action.ADMIN if method == "DELETE" else Action.READ), model
        case ["models", model, "invoke"]:
            return Action.INFER, model
        case ["v2", "health", _] | ["v2", "models", _, "ready"] | ["ping"]:
            return Action.HEALTH, None
        case ["v2", "models", _, "versions", _, "ready"]:
            return Action.HEALTH, None
        case ["metrics"]:
            return Action.METRICS, None
        case [""] | ["docs"] | ["console", "live"] | ["console", "models", _]:
            return Action.PAGE, None
        case ["console", "assets", *_]:
            return Action.PAGE, None
        case ["v2"] | ["v1"] | ["console", "overview.json"]:
            return Action.READ, None
        case ["v2", "models", "stats"] | ["v2", "repository", "index"]:
            return Action.READ, ANYWHERE
        case ["v2", "models", model, *rest]:
            writes = rest[-1:] in (["infer"], ["feedback"])
            return (Action.INFER if writes else Action.READ), model
        case ["v2", "repository", "models", model, "load" | "unload"]:
            return Action.ADMIN, model
        case ["v1", "models", first, *rest]:
            return _tf_serving(first, rest)
        case ["predict"]:
            return Action.INFER, default_model
        case ["models", model, "predict"]:
            return Action.INFER, model
    return Action.READ, ANYWHERE


def _tf_serving(first: str, rest: list[str]) -> tuple[Action, Model]:
    name = first.partition(":")[0]
    last = rest[-1] if rest else first
    return (Action.INFER if last.endswith(_TF_INFER) else Action.READ), name


def refusal(exc: ModelportError) -> tuple[int, dict[str, str], bytes]:
    """The answer to a refused request: its status, and beside the JSON body how to
    authenticate (401) or when to come back (429)."""
    headers = {"content-type": "application/json"}
    if isinstance(exc, Unauthenticated):
        headers["www-authenticate"] = 'Bearer realm="modelport"'
    if isinstance(exc, QuotaExceeded):
        headers["retry-after"] = str(exc.retry_after)
    return HTTP_STATUS[exc.code], headers, jsonbody.error_body(exc.message)


def authorization_of(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None


def client_of(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


class AccessGuard:
    """Pure ASGI: asks the policy before the wrapped app sees the request; releases the
    request's pass when the app is done."""

    def __init__(
        self,
        app: ASGIApp,
        policy: AccessPolicy,
        default_model: str = "",
        health_paths: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.policy = policy
        self.default_model = default_model
        self.health_paths = health_paths
        """Extra paths that are health probes (a cloud's configured health route)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.policy.active:
            await self.app(scope, receive, send)
            return
        action, model = http_action(scope["path"], self.default_model, scope["method"])
        if scope["path"] in self.health_paths:
            action, model = Action.HEALTH, None
        try:
            admitted = self.policy.admit(authorization_of(scope), client_of(scope), action, model)
        except ModelportError as exc:
            await send_reply(send, *refusal(exc))
            return
        try:
            await self.app(scope, receive, send)
        finally:
            admitted.release()
