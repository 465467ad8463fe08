"""Pantau core: stay registry, storage, gRPC API and the `pantau` command."""
