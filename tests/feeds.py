"""The feed signing keys of test settings and test processes.

Every process that writes alert events seals them into the agencies' feeds,
so it needs the feed keys: these make a key set whose first key signs from
long before any test clock's instant, and give the settings (or the
environment) that open it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exchange_service.signing.keyset import KeySet

FEED_KEY_PASSPHRASE = "suite feed key passphrase"
FEED_KEYS_FROM = datetime(2000, 1, 1, tzinfo=UTC)


def feed_key_settings(directory: Path) -> dict[str, Any]:
    """Settings of a key set in ``directory`` (made, or reused)."""
    KeySet.open(directory, FEED_KEY_PASSPHRASE.encode(), create_at=FEED_KEYS_FROM)
    return {"feed_keys_dir": directory, "feed_key_passphrase": FEED_KEY_PASSPHRASE}


def feed_key_environment(directory: Path) -> dict[str, str]:
    """The same as ``PANTAU_*`` variables, for a process of the test's own."""
    feed_key_settings(directory)
    return {
        "PANTAU_FEED_KEYS_DIR": str(directory),
        "PANTAU_FEED_KEY_PASSPHRASE": FEED_KEY_PASSPHRASE,
    }
