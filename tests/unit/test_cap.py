"""CAP 1.2 documents of feed entries: valid against the OASIS schema, Alert/Update/Cancel with
their references, in Indonesian and English, and nothing the agency's view withholds."""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from datetime import datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from joserfc import jwk, jws
from joserfc.errors import BadSignatureError, SecurityWarning
from lxml import etree
from pantau.v1 import alerts_pb2 as apb

from exchange_service.data import loader
from exchange_service.domain.agencies import DataView
from exchange_service.domain.alerts import AlertEventKind, RuleName, SubjectKind
from exchange_service.domain.feed import FeedEntry
from exchange_service.signing import jws as pantau_jws
from exchange_service.signing.keys import key_id, raw_public_key
from exchange_service.signing.keyset import Signer, b64url
from exchange_service.wire.cap import (
    CAP_MEDIA_TYPE,
    CapInvalid,
    CapOptions,
    CapReference,
    cap_document,
    cap_field,
    cap_identifier,
    cap_parameters,
    district_areas,
    validate_cap,
)
from tests import cap_samples
from tests.clock import CLOCK

NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
OPTIONS = CapOptions(sender="kanim-tarempa@imigrasi.go.id", status="Exercise")
KEY = Ed25519PrivateKey.generate()
SIGNER = Signer(key_id(KEY.public_key()), KEY)
AT = CLOCK.now()


def _document(entry: FeedEntry, references: tuple[CapReference, ...] = ()) -> bytes:
    return cap_document(entry, apb.AlertEvent.FromString(entry.payload), OPTIONS, references, AT)


def _lifecycle_documents(view: DataView = DataView.DISTRICT) -> list[bytes]:
    """Each entry's document, with the references of the earlier ones of its alert."""
    made = cap_samples.entries(cap_samples.lifecycle(AT), SIGNER, AT, view=view)
    documents: list[bytes] = []
    earlier: dict[str, list[CapReference]] = {}
    for entry in made:
        event = apb.AlertEvent.FromString(entry.payload)
        references = tuple(earlier.get(event.alert_id, ()))
        document = cap_document(entry, event, OPTIONS, references, AT)
        root = validate_cap(document)
        earlier.setdefault(event.alert_id, []).append(
            CapReference(
                cap_field(root, "sender"), cap_field(root, "identifier"), cap_field(root, "sent")
            )
        )
        documents.append(document)
    return documents


def _verify_detached(token: str, payload: bytes) -> None:
    public = jwk.import_key(
        {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw_public_key(KEY.public_key()))}
    )
    with warnings.catch_warnings():
        # RFC 9864 deprecates the name "EdDSA" for what is the same Ed25519 signature.
        warnings.filterwarnings("ignore", category=SecurityWarning)
        jws.deserialize_compact(token, public, algorithms=["EdDSA", "Ed25519"], payload=payload)


def test_every_kind_of_event_is_a_cap_alert_the_oasis_schema_accepts() -> None:
    documents = _lifecycle_documents()
    kinds = [
        root.findtext(
            "cap:info/cap:parameter[cap:valueName='pantau:eventKind']/cap:value", namespaces=NS
        )
        for root in (etree.fromstring(d) for d in documents)
    ]
    assert kinds == ["OPENED", "UPDATED", "ESCALATED", "REVIEWED", "RESOLVED", "OPENED"]
    for document in documents:
        root = validate_cap(document)
        assert cap_field(root, "status") == "Exercise"
        assert cap_field(root, "scope") == "Restricted"
        assert "pemkab-anambas" in cap_field(root, "restriction")
        # CAP's date-times: whole seconds and an explicit offset, WIB here.
        assert cap_field(root, "sent").endswith("+07:00")
        assert "." not in cap_field(root, "sent")


def test_the_first_document_of_an_alert_is_an_alert_later_ones_update_it_and_resolved_cancels() -> (
    None
):
    roots = [etree.fromstring(d) for d in _lifecycle_documents()]
    assert [cap_field(r, "msgType") for r in roots] == [
        "Alert",
        "Update",
        "Update",
        "Update",
        "Cancel",
        "Alert",
    ]
    identifiers = [cap_field(r, "identifier") for r in roots]
    assert identifiers[0] == cap_identifier(OPTIONS, "pemkab-anambas", 1)
    assert len(set(identifiers)) == 6
    assert cap_field(roots[0], "references") == ""
    sent = cap_field(roots[0], "sent")
    # Each later document of the alert names every earlier one, oldest first.
    for index in range(1, 5):
        expected = " ".join(f"{OPTIONS.sender},{i},{sent}" for i in identifiers[:index])
        assert cap_field(roots[index], "references") == expected
    # The second alert starts its own thread.
    assert cap_field(roots[5], "references") == ""
    cancel = roots[4]
    assert cancel.findtext("cap:info/cap:urgency", namespaces=NS) == "Past"
    assert cancel.findtext("cap:info/cap:responseType", namespaces=NS) == "AllClear"
    assert "keberangkatan" in cancel.findtext("cap:info/cap:description", namespaces=NS)


def test_each_document_speaks_indonesian_and_english() -> None:
    root = etree.fromstring(_lifecycle_documents()[0])
    infos = root.findall("cap:info", NS)
    assert [i.findtext("cap:language", namespaces=NS) for i in infos] == ["id-ID", "en-US"]
    indonesian, english = infos
    assert indonesian.findtext("cap:event", namespaces=NS) == "WNA melampaui izin tinggal"
    assert (
        english.findtext("cap:event", namespaces=NS)
        == "Foreign national overstaying the stay permit"
    )
    assert indonesian.findtext("cap:headline", namespaces=NS) == (
        "Peringatan baru: WNA melampaui izin tinggal (Kec. Siantan)"
    )
    assert english.findtext("cap:headline", namespaces=NS) == (
        "New alert: Foreign national overstaying the stay permit (Siantan district)"
    )
    described = indonesian.findtext("cap:description", namespaces=NS)
    assert "TAN Wei Ming (MYS) melampaui izin tinggal VISIT selama 37 hari" in described
    assert "Rp 37.000.000" in described
    assert "Kecamatan Siantan (21.05.01)" in described
    assert "has overstayed the VISIT permit by 37 days" in english.findtext(
        "cap:description", namespaces=NS
    )
    assert "Pasal 78 ayat (1)" in indonesian.findtext("cap:instruction", namespaces=NS)
    for info in infos:
        assert info.findtext("cap:category", namespaces=NS) == "Security"
        assert info.findtext("cap:severity", namespaces=NS) == "Severe"
        assert info.findtext("cap:urgency", namespaces=NS) == "Immediate"
        assert info.findtext("cap:certainty", namespaces=NS) == "Observed"
    escalated = etree.fromstring(_lifecycle_documents()[2])
    assert escalated.findtext("cap:info/cap:severity", namespaces=NS) == "Extreme"
    assert "Tingkat keparahan naik menjadi kritis" in escalated.findtext(
        "cap:info/cap:description", namespaces=NS
    )


def test_the_parameters_carry_the_entrys_place_in_the_feed() -> None:
    made = cap_samples.entries(cap_samples.lifecycle(AT)[:2], SIGNER, AT)
    first, second = (validate_cap(_document(e)) for e in made)
    for root in (first, second):
        # Both languages carry them: a receiver may read either.
        assert len(root.findall("cap:info", NS)) == 2
        for info in root.findall("cap:info", NS):
            names = [
                p.findtext("cap:valueName", namespaces=NS)
                for p in info.findall("cap:parameter", NS)
            ]
            assert {
                "pantau:agency",
                "pantau:sequence",
                "pantau:previousHash",
                "pantau:entryHash",
                "pantau:eventId",
            } <= set(names)
    one, two = cap_parameters(first), cap_parameters(second)
    assert one["pantau:agency"] == "pemkab-anambas"
    assert (one["pantau:sequence"], two["pantau:sequence"]) == ("1", "2")
    assert one["pantau:previousHash"] == "00" * 32
    assert one["pantau:entryHash"] == hashlib.sha256(made[0].payload).hexdigest()
    assert two["pantau:previousHash"] == one["pantau:entryHash"]
    assert one["pantau:eventId"] == "100"
    assert one["pantau:alertId"] == str(cap_samples.ALERT_ID)


def test_the_area_is_the_district_by_its_kemendagri_code_and_polygons_never_a_person() -> None:
    root = etree.fromstring(_lifecycle_documents()[0])
    area = root.find("cap:info/cap:area", NS)
    assert (
        area.findtext("cap:areaDesc", namespaces=NS)
        == "Kecamatan Siantan, Kabupaten Kepulauan Anambas"
    )
    codes = {
        g.findtext("cap:valueName", namespaces=NS): g.findtext("cap:value", namespaces=NS)
        for g in area.findall("cap:geocode", NS)
    }
    assert codes["KEMENDAGRI"] == "21.05.01"
    assert codes["BPS"] == loader.bps_district_codes()["21.05.01"]
    polygons = [p.text for p in area.findall("cap:polygon", NS)]
    assert 1 <= len(polygons) <= OPTIONS.max_polygons
    (siantan,) = [
        b for b in loader.boundaries(loader.BoundaryLayer.DISTRICTS) if b.code == "21.05.01"
    ]
    vertices = {
        (round(lat, 5), round(lon, 5))
        for part in siantan.geometry["coordinates"]
        for lon, lat in part[0]
    }
    for polygon in polygons:
        points = [tuple(float(x) for x in pair.split(",")) for pair in polygon.split()]
        assert len(points) >= 4
        assert points[0] == points[-1]
        # "lat,lon": every point is one of the district boundary's own vertices.
        assert set(points) <= vertices


def test_a_district_view_document_holds_no_coordinates_of_the_person_nor_withheld_fields() -> None:
    district = b"".join(_lifecycle_documents(DataView.DISTRICT)).decode()
    full = b"".join(_lifecycle_documents(DataView.FULL)).decode()
    for lat, lon in (cap_samples.HOME, *cap_samples.FAR):
        for text in (f"{lat}", f"{lon}", f"{lat:.4f}", f"{lon:.4f}", f"{lat:.3f},{lon:.3f}"):
            assert text not in district
            # Not even the FULL view's document places the person: the area is the district's.
            assert text not in full
    for withheld in ("VISIT-2026-0001", "PT Tarempa Marine", "Hang Tuah", "Wisma Matak"):
        assert withheld not in district
    # The FULL view (the police) receives the summary, which names the permit.
    assert "VISIT-2026-0001" in full


def test_an_unknown_district_is_the_whole_regency() -> None:
    event = cap_samples.alert_event(AlertEventKind.OPENED, 1, AT, district_code="")
    (entry,) = cap_samples.entries([event], SIGNER, AT)
    root = validate_cap(_document(entry))
    area = root.find("cap:info/cap:area", NS)
    assert area.findtext("cap:areaDesc", namespaces=NS) == "Kabupaten Kepulauan Anambas"
    assert area.findtext("cap:geocode/cap:value", namespaces=NS) == "21.05"
    assert area.findall("cap:polygon", NS)


def test_a_document_of_another_entry_is_refused() -> None:
    first, second = cap_samples.entries(cap_samples.lifecycle(AT)[:2], SIGNER, AT)
    with pytest.raises(ValueError, match="feed position"):
        cap_document(first, apb.AlertEvent.FromString(second.payload), OPTIONS, (), AT)
    with pytest.raises(ValueError, match="timezone"):
        cap_document(
            first, apb.AlertEvent.FromString(first.payload), OPTIONS, (), AT.replace(tzinfo=None)
        )


def test_a_tampered_document_fails_the_schema_or_its_signature() -> None:
    document = _lifecycle_documents()[0]
    token = pantau_jws.detached(SIGNER, document, content_type=CAP_MEDIA_TYPE)
    _verify_detached(token, document)
    # Out of the schema: caught by validation, naming the line.
    bad_type = document.replace(b"<msgType>Alert</msgType>", b"<msgType>Alarm</msgType>")
    with pytest.raises(CapInvalid, match=r"line \d+: .*msgType"):
        validate_cap(bad_type)
    with pytest.raises(CapInvalid, match="not well-formed"):
        validate_cap(document[:-20])
    # Still valid CAP, but not what was signed: the signature says so.
    worse = document.replace(b"<severity>Severe</severity>", b"<severity>Minor</severity>")
    validate_cap(worse)
    with pytest.raises(BadSignatureError):
        _verify_detached(token, worse)


def test_validation_refuses_entities_and_reads_no_file() -> None:
    document = (
        _lifecycle_documents()[0]
        .replace(
            b"<?xml version='1.0' encoding='UTF-8'?>\n",
            b'<?xml version="1.0"?>\n<!DOCTYPE alert [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n',
        )
        .replace(b"<source>Pantau</source>", b"<source>&secret;</source>")
    )
    assert b"&secret;" in document
    with pytest.raises(CapInvalid, match="DOCTYPE"):
        validate_cap(document)


def test_a_document_expires_a_set_time_after_it_was_sent() -> None:
    root = etree.fromstring(_lifecycle_documents()[0])
    sent = datetime.fromisoformat(cap_field(root, "sent"))
    for info in root.findall("cap:info", NS):
        expires = datetime.fromisoformat(info.findtext("cap:expires", namespaces=NS))
        assert expires - sent == OPTIONS.expires_after


def test_a_district_known_only_by_its_centroid_is_a_circle_around_it() -> None:
    areas = district_areas((), loader.places(), OPTIONS)
    (centroid,) = [
        p
        for p in loader.places()
        if p.kind is loader.PlaceKind.DISTRICT_CENTROID and p.code == "21.05.06"
    ]
    jemaja = areas["21.05.06"]
    assert jemaja.name == "Jemaja"
    assert jemaja.polygons == ()
    assert jemaja.circle == f"{centroid.latitude:.5f},{centroid.longitude:.5f} 10"
    assert len(areas) == 10


@pytest.mark.parametrize("rule", list(RuleName))
def test_every_rule_has_its_words_and_falls_back_when_its_facts_are_withheld(
    rule: RuleName,
) -> None:
    event = cap_samples.alert_event(
        AlertEventKind.OPENED, 1, AT, rule=rule, evidence={"person_name": "Lars Olsen"}
    )
    (entry,) = cap_samples.entries([event], SIGNER, AT)
    root = validate_cap(_document(entry))
    indonesian, english = root.findall("cap:info", NS)
    assert indonesian.findtext("cap:event", namespaces=NS) != english.findtext(
        "cap:event", namespaces=NS
    )
    said = english.findtext("cap:description", namespaces=NS)
    assert said.startswith(f"The early-warning rule {rule} holds for Lars Olsen.")
    assert "{" not in said
    assert indonesian.findtext("cap:description", namespaces=NS).startswith(
        f"Aturan peringatan dini {rule} berlaku untuk Lars Olsen."
    )


def test_a_sponsor_is_never_named() -> None:
    event = dataclasses.replace(
        cap_samples.alert_event(
            AlertEventKind.OPENED,
            1,
            AT,
            rule=RuleName.SPONSOR_OVERSTAY_CLUSTER,
            evidence={"sponsor": "PT Tarempa Marine", "sponsees_overstaying": 4, "min_sponsees": 3},
        ),
        subject_kind=SubjectKind.SPONSOR,
        subject_id="sponsor-7f3a",
    )
    (entry,) = cap_samples.entries([event], SIGNER, AT)
    document = _document(entry)
    indonesian, english = validate_cap(document).findall("cap:info", NS)
    assert indonesian.findtext("cap:description", namespaces=NS).startswith(
        "Seorang penjamin memiliki 4 WNA yang dijaminnya melampaui izin tinggal (ambang 3)."
    )
    assert english.findtext("cap:description", namespaces=NS).startswith(
        "A sponsor has 4 sponsored foreign nationals overstaying (threshold 3)."
    )
    assert b"PT Tarempa Marine" not in document
