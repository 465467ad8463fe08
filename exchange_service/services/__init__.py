"""The use cases, one module per area; each takes the values it needs and a unit of work.

``registry`` writes the stay registry, ``queries`` reads it. They import no
gRPC, protobuf or database code: storage comes in through ``ports``, wired by
the composition root (``exchange_service.app``).
"""

from exchange_service.services.queries import Queries, QueryOptions
from exchange_service.services.registry import LodgingImport, Registry, RegistryOptions

__all__ = ["LodgingImport", "Queries", "QueryOptions", "Registry", "RegistryOptions"]
