"""The audit trail: one hash-chained, checkpoint-signed record per audited event.

A service beneath the use cases: anything above storage records an
``AuditEvent`` (``domain.audit``) through ``log.AuditLog``; the gRPC layer's
edge (``api.edge``, ``api.audit``) records one per RPC. ``chain`` (checkpoints and
verification; pure), ``export`` (the offline export format; pure),
``store`` (tables and checkpoint file), ``log`` (the in-process writer),
``verify`` (the database trail checked, a period exported) and ``rotation``
(a new signing key). Keys and signatures come from ``exchange_service.signing``;
``pantau audit`` is ``exchange_service.cli.audit``. Imports no gRPC.
"""
