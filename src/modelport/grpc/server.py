"""The gRPC server: V2 inference, grpc.health.v1 and reflection, with explicit size limits."""

from __future__ import annotations

import grpc
from google.protobuf import descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from modelport.dataplane import DataPlane
from modelport.grpc.servicer import InferenceServicer
from modelport.protocol._generated import grpc_service_pb2 as pb
from modelport.protocol._generated import grpc_service_pb2_grpc as pb_grpc

SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name


def _reflection_pool() -> descriptor_pool.DescriptorPool:
    """Our messages live in a private pool (see scripts/gen-proto); health joins them there so
    reflection can describe both."""
    try:
        pb.POOL.FindFileByName(health_pb2.DESCRIPTOR.name)
    except KeyError:
        pb.POOL.AddSerializedFile(health_pb2.DESCRIPTOR.serialized_pb)
    return pb.POOL


class GrpcServer:
    def __init__(self, dataplane: DataPlane, max_message_bytes: int) -> None:
        self._dataplane = dataplane
        self._max = max_message_bytes
        self._server: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer()

    async def start(self, host: str, port: int, reuse_port: bool = False) -> int:
        """Listen on ``host:port`` (0 picks a free port); returns the bound port. With
        ``reuse_port``, worker processes share the port and the kernel spreads connections."""
        options = [
            ("grpc.max_receive_message_length", self._max),
            ("grpc.max_send_message_length", self._max),
            ("grpc.so_reuseport", int(reuse_port)),
        ]
        server = grpc.aio.server(options=options)
        servicer = InferenceServicer(self._dataplane)
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        names = (SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME)
        reflection.enable_server_reflection(names, server, pool=_reflection_pool())
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        bound = int(server.add_insecure_port(address))
        await server.start()
        self._server = server
        for service in ("", SERVICE):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        return bound

    async def stop(self, grace: float) -> None:
        """Report NOT_SERVING, then let in-flight calls finish within ``grace`` seconds."""
        if self._server is None:
            return
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace)
        self._server = None
