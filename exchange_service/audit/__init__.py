"""The audit trail: one hash-chained, checkpoint-signed record per RPC, verifiable offline.

``chain`` (records, checkpoints, verification; pure), ``export`` (the offline
export format; pure), ``keys`` (the Ed25519 key files), ``store`` (tables and
checkpoint file), ``log`` (the in-process writer), ``interceptor`` (the gRPC
side) and ``commands`` (``pantau audit verify|export``).
"""
