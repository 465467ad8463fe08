"""The agencies file: who may call Pantau, as what kind, with which data view."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from types import MappingProxyType
from typing import Any

from exchange_service.domain.agencies import Agency, AgencyKind, DataView
from exchange_service.domain.alerts import RuleName, Severity
from exchange_service.domain.feed import ChannelKind, FeedSubscription, PushChannel
from exchange_service.security.agency_identity import is_valid_agency_id

_DISTRICT_CODE = re.compile(r"\d{2}\.\d{2}\.\d{2}")
_HOST_PORT = re.compile(r"[A-Za-z0-9.\-]+:\d{1,5}|\[[0-9A-Fa-f:]+\]:\d{1,5}")


class AgencyFileError(ValueError):
    """The agencies file is malformed; the message names the entry and key."""


def _agency(index: int, raw: dict[str, Any]) -> Agency:
    where = f"agency[{index}]"
    unknown = set(raw) - {
        "id",
        "name",
        "kind",
        "view",
        "rate_limit_per_second",
        "rate_limit_burst",
        "feed",
        "push",
    }
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
        feed=_feed(where, raw["feed"]) if "feed" in raw else None,
        push=_push(where, raw.get("push", []), has_feed="feed" in raw),
    )


def _rules(where: str, raw: object) -> frozenset[RuleName]:
    if not isinstance(raw, list) or not raw:
        raise AgencyFileError(f"{where}: must be a non-empty list")
    try:
        return frozenset(RuleName(item) for item in raw)
    except ValueError as error:
        raise AgencyFileError(f"{where}: {error}; one of {[str(k) for k in RuleName]}") from error


def _feed(where: str, raw: object) -> FeedSubscription:
    where = f"{where}.feed"
    if not isinstance(raw, dict):
        raise AgencyFileError(f"{where}: must be a table")
    unknown = set(raw) - {"rules", "min_severity", "districts"}
    if unknown:
        raise AgencyFileError(f"{where}: unknown keys {sorted(unknown)}")
    rules = _rules(f"{where}.rules", raw["rules"]) if "rules" in raw else None
    try:
        severity = Severity(raw.get("min_severity", Severity.INFO))
    except ValueError as error:
        raise AgencyFileError(
            f"{where}.min_severity: {raw.get('min_severity')!r} is not one of {list(Severity)}"
        ) from error
    districts = raw.get("districts")
    if districts is not None and (
        not isinstance(districts, list)
        or not districts
        or not all(isinstance(code, str) and _DISTRICT_CODE.fullmatch(code) for code in districts)
    ):
        raise AgencyFileError(
            f"{where}.districts: must be a non-empty list of Kemendagri district codes (21.05.01)"
        )
    return FeedSubscription(
        rules=rules,
        min_severity=severity,
        districts=frozenset(districts) if districts is not None else None,
    )


def _push(where: str, raw: object, *, has_feed: bool) -> tuple[PushChannel, ...]:
    if not isinstance(raw, list):
        raise AgencyFileError(f"{where}.push: must be a list of tables ([[agency.push]])")
    if raw and not has_feed:
        raise AgencyFileError(f"{where}.push: an agency with push channels needs [agency.feed]")
    channels: list[PushChannel] = []
    for index, entry in enumerate(raw):
        at = f"{where}.push[{index}]"
        if not isinstance(entry, dict):
            raise AgencyFileError(f"{at}: must be a table")
        unknown = set(entry) - {"channel", "target", "ca_file", "server_name"}
        if unknown:
            raise AgencyFileError(f"{at}: unknown keys {sorted(unknown)}")
        try:
            kind = ChannelKind(entry.get("channel", ""))
        except ValueError as error:
            raise AgencyFileError(
                f"{at}.channel: {entry.get('channel')!r} is not one of {list(ChannelKind)}"
            ) from error
        target = entry.get("target", "")
        if not isinstance(target, str) or not target.strip():
            raise AgencyFileError(f"{at}.target: is required")
        if kind is ChannelKind.WEBHOOK and not target.startswith("https://"):
            raise AgencyFileError(f"{at}.target: a webhook is delivered over https:// only")
        if kind is ChannelKind.GRPC and not _HOST_PORT.fullmatch(target):
            raise AgencyFileError(f"{at}.target: must be host:port")
        if any(channel.kind is kind for channel in channels):
            raise AgencyFileError(f"{at}.channel: {kind} appears twice")
        ca_file, server_name = entry.get("ca_file"), entry.get("server_name")
        for key, value in (("ca_file", ca_file), ("server_name", server_name)):
            if value is not None and (not isinstance(value, str) or not value):
                raise AgencyFileError(f"{at}.{key}: must be a non-empty string")
        channels.append(
            PushChannel(kind=kind, target=target, ca_file=ca_file, server_name=server_name)
        )
    return tuple(channels)


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
