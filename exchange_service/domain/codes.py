"""Country and organisation codes accepted in travel documents (ISO 3166-1, ICAO 9303)."""

from __future__ import annotations

import functools

import pycountry

from exchange_service.data.loader import icao_additional_state_codes

# ICAO 9303 writes Germany as "D"; we store ISO's code so one country has one code.
_ALIASES = {"D": "DEU", "D<<": "DEU"}


@functools.cache
def _iso_codes() -> frozenset[str]:
    return frozenset(country.alpha_3 for country in pycountry.countries)


def normalize_state_code(raw: str) -> str:
    """Upper-cases, trims and maps ICAO aliases; the result may still be unknown."""
    code = raw.strip().upper()
    return _ALIASES.get(code, code)


def is_known_state_code(code: str) -> bool:
    """True for an ISO 3166-1 alpha-3 code or an ICAO 9303 additional code (``XXA``, ``UNO``)."""
    return code in _iso_codes() or code in icao_additional_state_codes()
