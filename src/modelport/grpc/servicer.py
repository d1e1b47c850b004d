"""GRPCInferenceService: each method decodes, calls the data plane, encodes. Nothing else."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from modelport.dataplane import DataPlane
from modelport.errors import ErrorCode, ModelportError
from modelport.grpc.errors import GRPC_STATUS
from modelport.protocol import v2_grpc
from modelport.protocol._generated import grpc_service_pb2 as pb
from modelport.protocol._generated import grpc_service_pb2_grpc as pb_grpc

logger = logging.getLogger(__name__)

STREAM_CONCURRENCY = 64
"""Requests of one ModelStreamInfer stream in flight at once; reading pauses beyond it."""

Request = TypeVar("Request")
Response = TypeVar("Response")
Handler = Callable[[Any, Request, grpc.aio.ServicerContext], Awaitable[Response]]


def mapped(method: Handler[Request, Response]) -> Handler[Request, Response]:
    """Turn a ModelportError into its status code; anything else into a logged INTERNAL."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Request, context: grpc.aio.ServicerContext) -> Response:
        try:
            return await method(self, request, context)
        except ModelportError as exc:
            self.count_failure(method.__name__, request, exc.code)
            await context.abort(GRPC_STATUS[exc.code], exc.message)
        except Exception:
            logger.exception("unexpected error in %s", method.__name__)
            self.count_failure(method.__name__, request, ErrorCode.INTERNAL)
            await context.abort(grpc.StatusCode.INTERNAL, "internal server error; see the log")
        raise AssertionError("unreachable: abort raises")

    return wrapper


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, dataplane: DataPlane) -> None:
        self.dataplane = dataplane

    def count_failure(self, method: str, request: Any, code: ErrorCode) -> None:
        if method in ("ModelInfer", "ModelStreamInfer"):
            self.dataplane.count_failure(code, getattr(request, "model_name", ""))

    @mapped
    async def ServerLive(self, request: pb.ServerLiveRequest, context: Any) -> Any:
        return pb.ServerLiveResponse(live=self.dataplane.live())

    @mapped
    async def ServerReady(self, request: pb.ServerReadyRequest, context: Any) -> Any:
        return pb.ServerReadyResponse(ready=self.dataplane.ready())

    @mapped
    async def ModelReady(self, request: pb.ModelReadyRequest, context: Any) -> Any:
        ready = self.dataplane.model_ready(request.name, request.version)
        return pb.ModelReadyResponse(ready=ready)

    @mapped
    async def ServerMetadata(self, request: pb.ServerMetadataRequest, context: Any) -> Any:
        return v2_grpc.server_metadata_response(self.dataplane.server_metadata())

    @mapped
    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context: Any) -> Any:
        metadata = self.dataplane.model_metadata(request.name, request.version)
        return v2_grpc.metadata_response(metadata)

    @mapped
    async def ModelConfig(self, request: pb.ModelConfigRequest, context: Any) -> Any:
        metadata, config = self.dataplane.model_config(request.name, request.version)
        return v2_grpc.model_config_response(metadata, config)

    @mapped
    async def ModelStatistics(self, request: pb.ModelStatisticsRequest, context: Any) -> Any:
        entries = self.dataplane.statistics(request.name, request.version)
        return v2_grpc.statistics_response(entries)

    @mapped
    async def RepositoryIndex(self, request: pb.RepositoryIndexRequest, context: Any) -> Any:
        return v2_grpc.index_response(self.dataplane.repository_index(request.ready))

    @mapped
    async def RepositoryModelLoad(self, request: Any, context: Any) -> Any:
        parameters = v2_grpc.parameters_of(request.parameters)
        await self.dataplane.load_model(request.model_name, parameters)
        return pb.RepositoryModelLoadResponse()

    @mapped
    async def RepositoryModelUnload(self, request: Any, context: Any) -> Any:
        await self.dataplane.unload_model(request.model_name)
        return pb.RepositoryModelUnloadResponse()

    @mapped
    async def ModelInfer(self, request: pb.ModelInferRequest, context: Any) -> Any:
        return await self._infer(request)

    async def _infer(self, request: pb.ModelInferRequest) -> pb.ModelInferResponse:
        response = await self.dataplane.infer(v2_grpc.decode_infer_request(request))
        return v2_grpc.encode_infer_response(response)

    async def ModelStreamInfer(
        self, requests: AsyncIterator[pb.ModelInferRequest], context: Any
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        """Requests of a stream run concurrently; each answer (or error) is matched by id."""
        answers: asyncio.Queue[pb.ModelStreamInferResponse | None] = asyncio.Queue()
        reader = asyncio.create_task(self._read_stream(requests, answers))
        try:
            while (answer := await answers.get()) is not None:
                yield answer
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _read_stream(
        self,
        requests: AsyncIterator[pb.ModelInferRequest],
        answers: asyncio.Queue[pb.ModelStreamInferResponse | None],
    ) -> None:
        slots = asyncio.Semaphore(STREAM_CONCURRENCY)

        async def answer(request: pb.ModelInferRequest) -> None:
            try:
                await answers.put(await self._stream_answer(request))
            finally:
                slots.release()

        try:
            async with asyncio.TaskGroup() as group:
                async for request in requests:
                    await slots.acquire()
                    group.create_task(answer(request))
        finally:
            await answers.put(None)

    async def _stream_answer(self, request: pb.ModelInferRequest) -> pb.ModelStreamInferResponse:
        try:
            return pb.ModelStreamInferResponse(infer_response=await self._infer(request))
        except ModelportError as exc:
            self.count_failure("ModelStreamInfer", request, exc.code)
            return pb.ModelStreamInferResponse(error_message=exc.message)
        except Exception:
            logger.exception("unexpected error in a streamed inference")
            self.count_failure("ModelStreamInfer", request, ErrorCode.INTERNAL)
            return pb.ModelStreamInferResponse(error_message="internal server error; see the log")
