"""Ed25519 signing for everything Pantau vouches for: audit checkpoints and exports now,
signed alerts next.

``keys`` names keys and signs and verifies bytes, with a ``Keyring`` of the keys a
verifier trusts and for what; ``files`` keeps key pairs on disk and rotates them.
Nothing here knows gRPC, the database or what the signed bytes mean.
"""

from exchange_service.signing.keys import (
    Keyring,
    TrustedKey,
    key_id,
    raw_public_key,
    sign,
    signature_valid,
)

__all__ = ["Keyring", "TrustedKey", "key_id", "raw_public_key", "sign", "signature_valid"]
