"""HTTP transport: routes, bodies and status codes around the data plane."""
