"""``modelport.Client``: numpy in, numpy out, over V2 REST (JSON or binary) or V2 gRPC.

Built on the same codec modules as the server. Works with any Open Inference Protocol
server, not only modelport. Errors come back as the same ``ModelportError`` classes the
server raised (``ModelNotFound``, ``InvalidInput``, ...), with the server's message.

    with Client("127.0.0.1:8000") as client:
        probabilities = client.predict("digits", images)        # one input, first output
        outputs = client.infer("add_sub", {"a": a, "b": b})     # every output, by name
"""

from __future__ import annotations

import http.client
import math
import urllib.parse
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Protocol

import grpc
import numpy as np
import orjson

from modelport.errors import ErrorCode, InvalidInput, ServerUnreachable, error_for, shown
from modelport.protocol import v2_binary, v2_client, v2_grpc
from modelport.protocol._generated import feedback_pb2_grpc as fb_grpc
from modelport.protocol._generated import grpc_service_pb2 as pb
from modelport.protocol._generated import grpc_service_pb2_grpc as pb_grpc
from modelport.protocol.status import CODE_OF_GRPC, CODE_OF_HTTP
from modelport.tensor import datatype, datatype_of
from modelport.types import (
    InferInput,
    InferOutput,
    InferRequest,
    InferResponse,
    ModelMetadata,
    RequestedOutput,
)


class _Transport(Protocol):
    def infer(self, request: InferRequest) -> InferResponse: ...
    def metadata(self, model: str, version: str) -> ModelMetadata: ...
    def ready(self) -> bool: ...
    def feedback(self, model: str, request_id: str, labels: list[object]) -> bool: ...
    def close(self) -> None: ...


class Client:
    def __init__(
        self,
        url: str,
        protocol: Literal["rest", "grpc", "tfserving"] = "rest",
        binary: bool = True,
        timeout: float = 60.0,
    ) -> None:
        """``url`` is ``host:port`` (an ``http://`` prefix is accepted for REST)."""
        address = url.removeprefix("http://").rstrip("/")
        self._transport: _Transport = (
            _Grpc(address, timeout)
            if protocol == "grpc"
            else _TfServing(address, binary, timeout)
            if protocol == "tfserving"
            else _Rest(address, binary, timeout)
        )

    def infer(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        outputs: Sequence[str] = (),
        version: str = "",
        request_id: str = "",
    ) -> dict[str, np.ndarray]:
        """Every requested output (all of the model's when ``outputs`` is empty), by name."""
        tensors = tuple(
            InferInput(name, datatype_of(np.asarray(a)).name, np.asarray(a))
            for name, a in inputs.items()
        )
        request = InferRequest(
            model, tensors, version, request_id, outputs=tuple(RequestedOutput(n) for n in outputs)
        )
        response = self._transport.infer(request)
        return {output.name: output.data for output in response.outputs}

    def predict(self, model: str, x: np.ndarray, version: str = "") -> np.ndarray:
        """A one-input model's first output; ``x`` is cast to the input's datatype, and rows
        are reshaped to the input's shape when only the layout differs (784 → 28x28)."""
        meta = self.metadata(model, version)
        spec = meta.inputs[0]
        cast = _shaped(np.asarray(x).astype(datatype(spec.datatype).numpy, copy=False), spec.shape)
        return self.infer(model, {spec.name: cast}, [meta.outputs[0].name], version)[
            meta.outputs[0].name
        ]

    def metadata(self, model: str, version: str = "") -> ModelMetadata:
        return self._transport.metadata(model, version)

    def feedback(self, model: str, request_id: str, labels: Sequence[object]) -> bool:
        """The true labels of an earlier request's rows (its ``request_id``, as given to
        :meth:`infer`), for the model's request log and live metrics; True when joined
        to its prediction at once. Over REST (modelport's route) or gRPC (modelport.v1.Feedback)."""
        return self._transport.feedback(model, request_id, list(labels))

    def ready(self) -> bool:
        return self._transport.ready()

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _Rest:
    """V2 over HTTP/1.1 with one keep-alive connection (re-opened when the server closes it)."""

    def __init__(self, address: str, binary: bool, timeout: float) -> None:
        host, _, port = address.rpartition(":")
        if not port.isdigit():
            raise InvalidInput(f"the server address must be HOST:PORT, got {shown(address)}")
        self._connection = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=timeout)
        self._address = address
        self._binary = binary

    def _call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> http.client.HTTPResponse:
        for attempt in (1, 2):
            try:
                self._connection.request(method, path, body, dict(headers or {}))
                return self._connection.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self._connection.close()
                if attempt == 2:
                    raise unreachable(self._address, exc) from exc
            except (OSError, http.client.HTTPException) as exc:
                self._connection.close()
                raise unreachable(self._address, exc) from exc
        raise AssertionError("unreachable")

    def infer(self, request: InferRequest) -> InferResponse:
        body, headers = v2_client.encode_request(request, self._binary)
        response = self._call(
            "POST", _path(request.model_name, request.model_version) + "/infer", body, headers
        )
        content = _checked(response)
        return v2_client.decode_response(content, response.getheader(v2_binary.HEADER))

    def metadata(self, model: str, version: str) -> ModelMetadata:
        content = _checked(self._call("GET", _path(model, version)))
        return v2_client.decode_metadata(orjson.loads(content))

    def feedback(self, model: str, request_id: str, labels: list[object]) -> bool:
        body = orjson.dumps({"id": request_id, "labels": labels}, option=orjson.OPT_SERIALIZE_NUMPY)
        headers = {"Content-Type": "application/json"}
        content = _checked(self._call("POST", _path(model, "") + "/feedback", body, headers))
        return bool(orjson.loads(content)["joined"])

    def ready(self) -> bool:
        response = self._call("GET", "/v2/health/ready")
        response.read()
        return response.status == 200

    def close(self) -> None:
        self._connection.close()


class _TfServing(_Rest):
    """Inference over TF Serving's REST API (``:predict`` with columnar ``inputs``); metadata
    and health over V2, which modelport serves on the same port."""

    def infer(self, request: InferRequest) -> InferResponse:
        meta = self.metadata(request.model_name, request.model_version)
        columns = {t.name: _json_ready(t.data) for t in request.inputs}
        body = orjson.dumps({"inputs": columns}, option=orjson.OPT_SERIALIZE_NUMPY)
        path = "/v1/models/" + urllib.parse.quote(request.model_name, safe="")
        path += f"/versions/{request.model_version}" if request.model_version else ""
        headers = {"Content-Type": "application/json"}
        answer = orjson.loads(_checked(self._call("POST", path + ":predict", body, headers)))
        outputs = answer["outputs"]
        named = outputs if isinstance(outputs, dict) else {meta.outputs[0].name: outputs}
        wanted = [o.name for o in request.outputs] or list(named)
        types = {spec.name: spec.datatype for spec in meta.outputs}
        return InferResponse(
            request.model_name,
            request.model_version,
            tuple(_output(name, types[name], named[name]) for name in wanted),
        )


def _json_ready(data: np.ndarray) -> Any:
    if data.dtype == object:
        return [item.decode() if isinstance(item, bytes) else item for item in data.tolist()]
    return data


def _output(name: str, datatype_name: str, value: Any) -> InferOutput:
    row = datatype(datatype_name)
    array = np.asarray(value, dtype=object if row.name == "BYTES" else row.numpy)
    return InferOutput(name, row.name, array)


def _shaped(x: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    row = tuple(shape[1:])
    if x.ndim == 0 or -1 in row or x.shape[1:] == row:
        return x
    if math.prod(x.shape[1:]) == math.prod(row):
        return x.reshape(len(x), *row)
    return x  # the server explains the mismatch


def _path(model: str, version: str) -> str:
    quoted = urllib.parse.quote(model, safe="")
    return f"/v2/models/{quoted}" + (f"/versions/{urllib.parse.quote(version)}" if version else "")


def _checked(response: http.client.HTTPResponse) -> bytes:
    content = response.read()
    if response.status == 200:
        return content
    try:
        message = str(orjson.loads(content)["error"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        message = content.decode(errors="replace") or f"HTTP {response.status}"
    raise error_for(CODE_OF_HTTP.get(response.status, ErrorCode.INTERNAL), message)


class _Grpc:
    def __init__(self, address: str, timeout: float) -> None:
        self._channel = grpc.insecure_channel(address)
        self._address = address
        self._stub = pb_grpc.GRPCInferenceServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._feedback = fb_grpc.FeedbackStub(self._channel)  # type: ignore[no-untyped-call]
        self._timeout = timeout

    def infer(self, request: InferRequest) -> InferResponse:
        message = v2_grpc.encode_infer_request(request)
        return v2_grpc.decode_infer_response(self._unary(self._stub.ModelInfer, message))

    def metadata(self, model: str, version: str) -> ModelMetadata:
        message = pb.ModelMetadataRequest(name=model, version=version)
        return v2_grpc.decode_metadata(self._unary(self._stub.ModelMetadata, message))

    def ready(self) -> bool:
        return bool(self._unary(self._stub.ServerReady, pb.ServerReadyRequest()).ready)

    def feedback(self, model: str, request_id: str, labels: list[object]) -> bool:
        message = v2_grpc.encode_feedback(model, request_id, _labels(labels))
        return bool(self._unary(self._feedback.ModelFeedback, message).joined)

    def _unary(self, method: Any, message: Any) -> Any:
        try:
            return method(message, timeout=self._timeout)
        except grpc.RpcError as exc:
            details = exc.details() or str(exc.code())
            if exc.code() is grpc.StatusCode.UNAVAILABLE and _NOT_CONNECTED in details:
                raise _grpc_unreachable(self._address, details) from exc
            code = CODE_OF_GRPC.get(exc.code().value[0], ErrorCode.INTERNAL)
            raise error_for(code, details) from exc

    def close(self) -> None:
        self._channel.close()


def _labels(labels: list[object]) -> list[str | int | float | bool]:
    """Labels as the feedback message carries them (numpy scalars as Python values)."""
    found = [v.item() if isinstance(v, np.generic) else v for v in labels]
    if not all(isinstance(v, str | int | float | bool) for v in found):
        raise InvalidInput("each label must be a number, a string or a boolean")
    return found  # type: ignore[return-value]


_HTTP2_PREFACE = "\x00\x00"  # an HTTP/2 frame header where an HTTP/1.1 status line belongs
_NOT_CONNECTED = "failed to connect"


def unreachable(address: str, exc: Exception) -> ServerUnreachable:
    """What went wrong reaching a REST server, and what to try."""
    if isinstance(exc, ConnectionRefusedError):
        return ServerUnreachable(
            f"cannot connect to http://{address}: connection refused; is modelport serving "
            "there? (start it with `modelport serve`; its HTTP port is 8000 by default)"
        )
    if isinstance(exc, http.client.BadStatusLine) and _HTTP2_PREFACE in str(exc):
        return ServerUnreachable(
            f"{address} speaks gRPC (HTTP/2), not REST: use --protocol grpc, or give the "
            "server's HTTP port (8000 by default)"
        )
    if isinstance(exc, TimeoutError):
        return ServerUnreachable(f"no answer from http://{address} in time ({exc})")
    return ServerUnreachable(f"cannot talk HTTP to {address}: {type(exc).__name__}: {exc}")


def _grpc_unreachable(address: str, details: str) -> ServerUnreachable:
    if "http1" in details.lower() or "http/1" in details.lower():
        return ServerUnreachable(
            f"{address} speaks HTTP/1.1, not gRPC: use --protocol rest, or give the server's "
            "gRPC port (8001 by default)"
        )
    return ServerUnreachable(
        f"cannot connect to the gRPC server at {address}; is modelport serving gRPC there? "
        f"(8001 by default) [{details.splitlines()[0]}]"
    )
