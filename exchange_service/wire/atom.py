"""An Atom feed (RFC 4287) of an agency's CAP documents, as CAP is distributed.

Each entry stands for one CAP document: its id is stable (derived from the
document's sender and identifier), its ``alternate`` link is the document
(``application/cap+xml``) and a ``related`` link its detached JWS
(``application/jose``). Entries are newest first; links are relative to the
feed, so the directory can be served or copied as it is.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from exchange_service.wire.cap import CAP_MEDIA_TYPE, atom_entry_id

ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
ATOM_MEDIA_TYPE = "application/atom+xml"
# RFC 7515's media type of a compact JWS.
JWS_MEDIA_TYPE = "application/jose"

_NS = f"{{{ATOM_NAMESPACE}}}"


@dataclass(frozen=True)
class AtomDocument:
    """One CAP document as the feed lists it: ``href`` and ``jws_href`` relative to the feed."""

    sender: str
    identifier: str
    title: str
    summary: str
    updated: datetime
    href: str
    jws_href: str


def atom_time(value: datetime) -> str:
    """RFC 3339 in UTC, whole seconds."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def feed_id(sender: str, agency_id: str) -> str:
    """The feed's stable id: one per sender and agency."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"cap-feed:{sender}:{agency_id}").urn


def atom_feed(
    documents: Sequence[AtomDocument],
    *,
    sender: str,
    agency_id: str,
    title: str,
    updated: datetime,
    self_href: str = "feed.atom",
) -> bytes:
    """The feed of ``documents`` (UTF-8, with an XML declaration), newest first.

    ``updated`` is the feed's time when it lists nothing; otherwise the
    latest document's (RFC 4287 asks for the last significant change).
    """
    feed = etree.Element(_NS + "feed", nsmap={None: ATOM_NAMESPACE})
    etree.SubElement(feed, _NS + "id").text = feed_id(sender, agency_id)
    etree.SubElement(feed, _NS + "title").text = title
    latest = max((d.updated for d in documents), default=updated)
    etree.SubElement(feed, _NS + "updated").text = atom_time(latest)
    author = etree.SubElement(feed, _NS + "author")
    etree.SubElement(author, _NS + "name").text = "Kantor Imigrasi Kelas II TPI Tarempa"
    etree.SubElement(author, _NS + "email").text = sender
    etree.SubElement(feed, _NS + "link", rel="self", type=ATOM_MEDIA_TYPE, href=self_href)
    for document in reversed(documents):
        entry = etree.SubElement(feed, _NS + "entry")
        etree.SubElement(entry, _NS + "id").text = atom_entry_id(
            document.sender, document.identifier
        )
        etree.SubElement(entry, _NS + "title").text = document.title
        etree.SubElement(entry, _NS + "updated").text = atom_time(document.updated)
        etree.SubElement(entry, _NS + "summary").text = document.summary
        etree.SubElement(
            entry, _NS + "link", rel="alternate", type=CAP_MEDIA_TYPE, href=document.href
        )
        etree.SubElement(
            entry,
            _NS + "link",
            rel="related",
            type=JWS_MEDIA_TYPE,
            href=document.jws_href,
            title="detached JWS of the CAP document",
        )
    return bytes(etree.tostring(feed, xml_declaration=True, encoding="UTF-8", pretty_print=True))
