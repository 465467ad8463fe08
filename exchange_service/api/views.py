"""Data views: what each kind of recipient may see of a response. Applied in one place.

The DISTRICT view (local government) drops travel-document and permit numbers,
sponsors, sighting references and place names, keeps only the birth year, and
gives places only as district and village: every GeoPoint and address line is
removed. The rules are keyed by message type, so a new RPC returning these
messages is covered without change.
"""

from __future__ import annotations

from google.protobuf.message import Message

from exchange_service.domain.agencies import DataView

_GEO_POINT = "pantau.v1.GeoPoint"

# Fields removed from each message type in the DISTRICT view.
_DISTRICT_DROPS: dict[str, tuple[str, ...]] = {
    "pantau.v1.TravelDocument": ("number", "expiry_date"),
    "pantau.v1.StayPermit": ("permit_number", "sponsor"),
    "pantau.v1.Address": ("line",),
    "pantau.v1.Sighting": ("reference", "place_name"),
    "pantau.v1.PersonNearby": ("distance_meters",),
}


def _district_view(message: Message) -> None:
    descriptor = message.DESCRIPTOR
    for field_name in _DISTRICT_DROPS.get(descriptor.full_name, ()):
        message.ClearField(field_name)
    if descriptor.full_name == "pantau.v1.Person" and message.HasField("birth_date"):
        birth = message.birth_date  # type: ignore[attr-defined]
        birth.month = 0
        birth.day = 0
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.message_type.full_name == _GEO_POINT:
            message.ClearField(field.name)
        elif field.is_repeated:
            if field.message_type.GetOptions().map_entry:
                continue
            for item in value:
                _district_view(item)
        else:
            _district_view(value)


def apply_view(message: Message, view: DataView) -> Message:
    """The message, trimmed in place to what the view allows."""
    if view is DataView.DISTRICT:
        _district_view(message)
    return message
