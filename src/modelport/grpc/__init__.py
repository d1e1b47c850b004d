"""gRPC transport: the V2 GRPCInferenceService, health and reflection around the data plane."""
