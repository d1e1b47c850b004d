"""Generated from proto/grpc_service.proto by scripts/gen-proto; do not edit."""
