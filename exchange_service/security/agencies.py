"""The agencies file: who may call Pantau, as what kind, with which data view."""

from __future__ import annotations

import tomllib
from pathlib import Path
from types import MappingProxyType
from typing import Any

from exchange_service.domain.agencies import Agency, AgencyKind, DataView
from exchange_service.security.agency_identity import is_valid_agency_id


class AgencyFileError(ValueError):
    """The agencies file is malformed; the message names the entry and key."""


def _agency(index: int, raw: dict[str, Any]) -> Agency:
    where = f"agency[{index}]"
    unknown = set(raw) - {"id", "name", "kind", "view", "rate_limit_per_second", "rate_limit_burst"}
    if unknown:
        raise AgencyFileError(f"{where}: unknown keys {sorted(unknown)}")
    agency_id = raw.get("id", "")
    if not isinstance(agency_id, str) or not is_valid_agency_id(agency_id):
        raise AgencyFileError(f"{where}.id: {agency_id!r} is not a valid agency id")
    name = raw.get("name", "")
    if not isinstance(name, str) or not name.strip():
        raise AgencyFileError(f"{where}.name: is required")
    try:
        kind = AgencyKind(raw.get("kind", ""))
    except ValueError as error:
        raise AgencyFileError(
            f"{where}.kind: {raw.get('kind')!r} is not one of {list(AgencyKind)}"
        ) from error
    default_view = DataView.DISTRICT if kind is AgencyKind.LOCAL_GOVERNMENT else DataView.FULL
    try:
        view = DataView(raw.get("view", default_view))
    except ValueError as error:
        raise AgencyFileError(
            f"{where}.view: {raw.get('view')!r} is not one of {list(DataView)}"
        ) from error
    if kind is AgencyKind.LOCAL_GOVERNMENT and view is not DataView.DISTRICT:
        raise AgencyFileError(
            f"{where}.view: a LOCAL_GOVERNMENT agency gets the DISTRICT view only"
        )
    per_second = raw.get("rate_limit_per_second")
    burst = raw.get("rate_limit_burst")
    if per_second is not None and (not isinstance(per_second, int | float) or per_second <= 0):
        raise AgencyFileError(f"{where}.rate_limit_per_second: must be a positive number")
    if burst is not None and (not isinstance(burst, int) or burst < 1):
        raise AgencyFileError(f"{where}.rate_limit_burst: must be a positive integer")
    return Agency(
        id=agency_id,
        name=name.strip(),
        kind=kind,
        view=view,
        rate_limit_per_second=float(per_second) if per_second is not None else None,
        rate_limit_burst=burst,
    )


def load_agencies(path: Path) -> MappingProxyType[str, Agency]:
    """Agencies by id; raises AgencyFileError naming the bad entry."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise AgencyFileError(f"{path}: {error}") from error
    entries = document.get("agency", [])
    if not isinstance(entries, list) or not entries:
        raise AgencyFileError(f"{path}: no [[agency]] entries")
    agencies: dict[str, Agency] = {}
    for index, raw in enumerate(entries):
        agency = _agency(index, raw)
        if agency.id in agencies:
            raise AgencyFileError(f"agency[{index}].id: {agency.id!r} appears twice")
        agencies[agency.id] = agency
    return MappingProxyType(agencies)
