"""The gRPC server: V2 inference, modelport.v1.Feedback, grpc.health.v1 and reflection, with
explicit size limits.

grpcio's thread-pool server, not ``grpc.aio``: on one core it serves about 1.5x the calls
(benchmarks/results). Its threads hand inferences to the event loop (``bridge.py``).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import grpc
from google.protobuf import descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from modelport.accesslog import AccessLog
from modelport.auth import AccessPolicy
from modelport.dataplane import DataPlane
from modelport.grpc.access import AccessInterceptor
from modelport.grpc.bridge import LoopBridge
from modelport.grpc.servicer import FeedbackServicer, InferenceServicer
from modelport.protocol._generated import feedback_pb2 as fb
from modelport.protocol._generated import feedback_pb2_grpc as fb_grpc
from modelport.protocol._generated import grpc_service_pb2 as pb
from modelport.protocol._generated import grpc_service_pb2_grpc as pb_grpc
from modelport.tracing import Tracing

SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
FEEDBACK = fb.DESCRIPTOR.services_by_name["Feedback"].full_name
DEFAULT_CALLS = 128
"""Calls served at once, one thread each (an open stream holds its thread); more are
refused with RESOURCE_EXHAUSTED rather than queued without an answer."""


def _reflection_pool() -> descriptor_pool.DescriptorPool:
    """Our messages live in private pools (see scripts/gen-proto); feedback and health join
    the inference service's there so reflection can describe all three."""
    for descriptor in (fb.DESCRIPTOR, health_pb2.DESCRIPTOR):
        try:
            pb.POOL.FindFileByName(descriptor.name)
        except KeyError:
            pb.POOL.AddSerializedFile(descriptor.serialized_pb)
    return pb.POOL


class GrpcServer:
    def __init__(
        self,
        dataplane: DataPlane,
        max_message_bytes: int,
        max_calls: int = DEFAULT_CALLS,
        policy: AccessPolicy | None = None,
        credentials: grpc.ServerCredentials | None = None,
        access: AccessLog | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._access = access
        self._tracing = tracing
        self._dataplane = dataplane
        self._policy = policy or AccessPolicy()
        self._credentials = credentials
        self._max = max_message_bytes
        self._calls = max_calls
        self._server: grpc.Server | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._health = health.HealthServicer()

    async def start(self, host: str, port: int, reuse_port: bool = False) -> int:
        """Listen on ``host:port`` (0 picks a free port); returns the bound port. With
        ``reuse_port``, worker processes share the port and the kernel spreads connections."""
        options = [
            ("grpc.max_receive_message_length", self._max),
            ("grpc.max_send_message_length", self._max),
            ("grpc.so_reuseport", int(reuse_port)),
        ]
        pool = ThreadPoolExecutor(self._calls, thread_name_prefix="modelport-grpc")
        keyed = self._policy.keyring is not None  # the interceptor only where keys exist
        interceptors = [AccessInterceptor(self._policy, (SERVICE, FEEDBACK))] if keyed else []
        server = grpc.server(
            pool, options=options, maximum_concurrent_rpcs=self._calls, interceptors=interceptors
        )
        bridge = LoopBridge(self._dataplane, asyncio.get_running_loop())
        servicer = InferenceServicer(bridge, self._policy, self._access, self._tracing)
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
        feedback = FeedbackServicer(bridge, self._policy, self._access, self._tracing)
        fb_grpc.add_FeedbackServicer_to_server(feedback, server)  # type: ignore[no-untyped-call]
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        names = (SERVICE, FEEDBACK, health.SERVICE_NAME, reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, server, pool=_reflection_pool())
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            if self._credentials is None:
                bound = int(server.add_insecure_port(address))
            else:
                bound = int(server.add_secure_port(address, self._credentials))
        except RuntimeError:  # grpcio raises where it used to return 0
            return 0
        server.start()
        self._server, self._pool = server, pool
        for service in ("", SERVICE):
            self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        return bound

    async def stop(self, grace: float) -> None:
        """Report NOT_SERVING, then let in-flight calls finish within ``grace`` seconds (the
        loop keeps running meanwhile: their inferences need it)."""
        if self._server is None:
            return
        self._health.enter_graceful_shutdown()
        stopped = self._server.stop(grace)
        await asyncio.to_thread(stopped.wait)
        if self._pool is not None:
            self._pool.shutdown(wait=False)  # grpcio leaves the pool it was given running
        self._server = self._pool = None
