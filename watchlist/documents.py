"""Travel document numbers as compared across sources."""

from __future__ import annotations

import re

_DROPPED = re.compile(r"[\s\-<./]")
VALID_DOCUMENT_NUMBER = re.compile(r"^[A-Z0-9]{1,20}$")


def normalize_document_number(raw: str) -> str:
    """Upper-case, without spaces, hyphens, dots, slashes or MRZ filler ``<``."""
    return _DROPPED.sub("", raw).upper()
