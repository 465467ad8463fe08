"""The CAP channel: an agency's feed published to a directory as OASIS CAP 1.2 documents.

For each entry the directory gets ``<agency>-<sequence>.xml`` (the CAP
document, ``wire.cap``) and ``<agency>-<sequence>.xml.jws`` (a detached JWS
over the document's exact bytes, by the key in use when it was made); after
each push ``feed.atom`` (every document, newest first) and ``jwks.json`` (the
keys published now) are rewritten. A receiver can take the directory as it
is (a web server, rsync, a shared drive) and check it offline
(``agency_adapters.receivers.cap_import``).

Every file is written atomically (a temporary file, fsync, rename, fsync of
the directory), so a reader never sees half a file and a crash leaves
either the old file or the new one. A document once written is never
rewritten: a push that repeats entries changes nothing, and one that names
another entry at a sequence already written is refused. Only entries that
continue the directory's run from 1 are written; ``send`` returns the
highest sequence present with none missing before it, and the delivery
worker resumes after it.

The later documents of an alert reference the earlier ones (CAP's
``references``), so the directory keeps a small index (``index.json``) of
what it holds; it is rebuilt from the documents themselves when missing or
out of step with them.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from pantau.v1 import alerts_pb2 as apb

from exchange_service.domain.clock import Clock
from exchange_service.domain.feed import ChannelKind, DeliveryFailed, FeedEntry, PushChannel
from exchange_service.signing.jws import JwsSigner, detached
from exchange_service.signing.keyset import KeySetError
from exchange_service.wire.atom import AtomDocument, atom_feed
from exchange_service.wire.cap import (
    CAP_MEDIA_TYPE,
    PARAMETER_AGENCY,
    PARAMETER_ALERT_ID,
    PARAMETER_ENTRY_HASH,
    PARAMETER_SEQUENCE,
    CapInvalid,
    CapOptions,
    CapReference,
    cap_document,
    cap_field,
    cap_headline,
    cap_parameters,
    validate_cap,
)

ATOM_FILE = "feed.atom"
JWKS_FILE = "jwks.json"
INDEX_FILE = "index.json"
JWS_SUFFIX = ".jws"
# Sequences zero-padded so that the files sort in feed order.
_SEQUENCE_DIGITS = 10


class CapKeys(Protocol):
    """The feeds' keys as the CAP channel uses them (``signing.keyset.KeySet``)."""

    def signer_at(self, at: datetime) -> JwsSigner: ...

    def jwks(self, at: datetime) -> dict[str, Any]: ...


def document_name(agency_id: str, sequence: int) -> str:
    """The file of an agency's entry: ``pemkab-anambas-0000000042.xml``."""
    return f"{agency_id}-{sequence:0{_SEQUENCE_DIGITS}d}.xml"


def write_atomically(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` so that readers see the old file or the new, never a part."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    # The rename is durable only once the directory is.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@dataclass(frozen=True)
class PublishedDocument:
    """What the directory's index keeps of one document: enough for references and the feed."""

    sequence: int
    file: str
    agency_id: str
    alert_id: str
    entry_hash: str
    sender: str
    identifier: str
    sent: str
    msg_type: str
    headline_id: str
    headline_en: str

    @property
    def reference(self) -> CapReference:
        return CapReference(self.sender, self.identifier, self.sent)

    @classmethod
    def of_document(cls, file: str, xml: bytes) -> PublishedDocument:
        """The index record of a document as written (CapInvalid if it is not one)."""
        root = validate_cap(xml)
        parameters = cap_parameters(root)
        try:
            sequence = int(parameters[PARAMETER_SEQUENCE])
            agency_id = parameters[PARAMETER_AGENCY]
            alert_id = parameters[PARAMETER_ALERT_ID]
            entry_hash = parameters[PARAMETER_ENTRY_HASH]
        except (KeyError, ValueError) as error:
            raise CapInvalid(f"{file}: no Pantau feed position ({error})") from error
        return cls(
            sequence=sequence,
            file=file,
            agency_id=agency_id,
            alert_id=alert_id,
            entry_hash=entry_hash,
            sender=cap_field(root, "sender"),
            identifier=cap_field(root, "identifier"),
            sent=cap_field(root, "sent"),
            msg_type=cap_field(root, "msgType"),
            headline_id=cap_headline(root, "id-ID"),
            headline_en=cap_headline(root, "en-US"),
        )


def _contiguous(sequences: Iterable[int]) -> int:
    """The highest sequence with every one from 1 up to it present (0 for none)."""
    present = set(sequences)
    highest = 0
    while highest + 1 in present:
        highest += 1
    return highest


def _contiguous_after(present: Mapping[int, object], sequence: int) -> int:
    """From ``sequence`` (present, with all before it), the highest with none missing."""
    while sequence + 1 in present:
        sequence += 1
    return sequence


class CapPublisher:
    """``AlertSender`` of ``ChannelKind.CAP``: writes an agency's entries into the channel's
    directory as signed CAP documents with their Atom feed and keys (module docstring)."""

    def __init__(self, options: CapOptions, keys: CapKeys, clock: Clock) -> None:
        self._options = options
        self._keys = keys
        self._clock = clock

    @property
    def kind(self) -> ChannelKind:
        return ChannelKind.CAP

    def send(self, agency_id: str, channel: PushChannel, entries: Sequence[FeedEntry]) -> int:
        """Publishes the entries to ``channel.target``; the highest sequence now held there
        with none missing before it. Raises ``DeliveryFailed``."""
        if channel.kind is not ChannelKind.CAP:
            raise DeliveryFailed(f"the CAP publisher cannot push to a {channel.kind} channel")
        return self.publish(Path(channel.target), agency_id, entries)

    def close(self) -> None:
        """Nothing is held open between pushes."""

    def publish(self, directory: Path, agency_id: str, entries: Sequence[FeedEntry]) -> int:
        """Writes the entries not yet in ``directory`` that continue its run, then the feed
        and the keys; returns the highest sequence present with none missing before it."""
        others = sorted({e.agency_id for e in entries} - {agency_id})
        if others:
            raise DeliveryFailed(
                f"entries of {', '.join(others)} given for {agency_id}'s CAP directory",
                retryable=False,
            )
        try:
            directory.mkdir(parents=True, exist_ok=True)
            index = self._index(directory, agency_id)
            written = self._write_documents(directory, agency_id, index, entries)
            documents = [index[s] for s in sorted(index)]
            if written or not (directory / INDEX_FILE).exists():
                self._write_index(directory, agency_id, documents)
            now = self._clock()
            self._write_feed(directory, agency_id, documents, now)
            jwks = json.dumps(self._keys.jwks(now), indent=2, sort_keys=True).encode() + b"\n"
            path = directory / JWKS_FILE
            if not path.exists() or path.read_bytes() != jwks:
                write_atomically(path, jwks)
        except OSError as error:
            raise DeliveryFailed(f"cannot write the CAP directory {directory}: {error}") from error
        except KeySetError as error:
            raise DeliveryFailed(f"no key signs the CAP documents: {error}") from error
        return _contiguous(index)

    def _write_documents(
        self,
        directory: Path,
        agency_id: str,
        index: dict[int, PublishedDocument],
        entries: Sequence[FeedEntry],
    ) -> int:
        # The documents of one push are made at one instant, in whole seconds as CAP has it.
        sent = self._clock().replace(microsecond=0)
        signer: JwsSigner | None = None
        written = 0
        held_through = _contiguous(index)
        # Each alert's documents, oldest first: the references of its next one.
        threads: dict[str, list[CapReference]] = {}
        for sequence in sorted(index):
            threads.setdefault(index[sequence].alert_id, []).append(index[sequence].reference)
        for entry in sorted(entries, key=lambda e: e.sequence):
            held = index.get(entry.sequence)
            if held is not None:
                if held.entry_hash != entry.hash.hex():
                    raise DeliveryFailed(
                        f"{directory / held.file} holds another entry at sequence"
                        f" {entry.sequence} (entry hash {held.entry_hash}, not"
                        f" {entry.hash.hex()}): the directory is not this feed's",
                        retryable=False,
                    )
                self._ensure_signature(directory, held)
                continue
            if entry.sequence != held_through + 1:
                # A gap before it: the worker resends from what the directory holds.
                break
            event = apb.AlertEvent.FromString(entry.payload)
            thread = threads.setdefault(event.alert_id, [])
            name = document_name(agency_id, entry.sequence)
            try:
                xml = cap_document(entry, event, self._options, thread, sent)
                # Checked against the schema before anything of it is written.
                document = PublishedDocument.of_document(name, xml)
            except ValueError as error:
                raise DeliveryFailed(
                    f"entry {entry.sequence} cannot be written as CAP: {error}", retryable=False
                ) from error
            if signer is None:
                signer = self._keys.signer_at(sent)
            # The document first: a signature never stands without its document.
            write_atomically(directory / name, xml)
            token = detached(signer, xml, content_type=CAP_MEDIA_TYPE)
            write_atomically(directory / (name + JWS_SUFFIX), token.encode("ascii"))
            index[entry.sequence] = document
            thread.append(document.reference)
            written += 1
            held_through = _contiguous_after(index, entry.sequence)
        return written

    def _ensure_signature(self, directory: Path, document: PublishedDocument) -> None:
        """A document whose signature was lost to a crash is signed again, as it stands."""
        path = directory / (document.file + JWS_SUFFIX)
        if path.exists():
            return
        xml = (directory / document.file).read_bytes()
        signer = self._keys.signer_at(datetime.fromisoformat(document.sent))
        write_atomically(path, detached(signer, xml, content_type=CAP_MEDIA_TYPE).encode("ascii"))

    def _index(self, directory: Path, agency_id: str) -> dict[int, PublishedDocument]:
        """The documents the directory holds, by sequence: the index file when it lists
        exactly the documents present, else read from the documents."""
        files = {p.name for p in directory.glob(f"{agency_id}-*.xml")}
        try:
            stored = json.loads((directory / INDEX_FILE).read_text("utf-8"))
            documents = [PublishedDocument(**d) for d in stored["documents"]]
            if stored.get("agency_id") == agency_id and {d.file for d in documents} == files:
                return {d.sequence: d for d in documents}
        except (OSError, ValueError, KeyError, TypeError):
            pass
        index: dict[int, PublishedDocument] = {}
        for name in sorted(files):
            try:
                document = PublishedDocument.of_document(name, (directory / name).read_bytes())
            except CapInvalid as error:
                raise DeliveryFailed(
                    f"{directory / name} is not a CAP document of this feed: {error}",
                    retryable=False,
                ) from error
            if document.agency_id != agency_id or document.file != document_name(
                agency_id, document.sequence
            ):
                raise DeliveryFailed(
                    f"{directory / name} holds sequence {document.sequence} of"
                    f" {document.agency_id}'s feed: the directory is not this feed's",
                    retryable=False,
                )
            index[document.sequence] = document
        return index

    def _write_index(
        self, directory: Path, agency_id: str, documents: Sequence[PublishedDocument]
    ) -> None:
        body: Mapping[str, Any] = {
            "about": "what this CAP directory holds, for references and the feed;"
            " rebuilt from the documents when missing",
            "agency_id": agency_id,
            "documents": [asdict(d) for d in documents],
        }
        text = json.dumps(body, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        write_atomically(directory / INDEX_FILE, text.encode("utf-8"))

    def _write_feed(
        self,
        directory: Path,
        agency_id: str,
        documents: Sequence[PublishedDocument],
        now: datetime,
    ) -> None:
        listed = [
            AtomDocument(
                sender=d.sender,
                identifier=d.identifier,
                title=d.headline_en,
                summary=d.headline_id,
                updated=datetime.fromisoformat(d.sent),
                href=d.file,
                jws_href=d.file + JWS_SUFFIX,
            )
            for d in documents
        ]
        feed = atom_feed(
            listed,
            sender=self._options.sender,
            agency_id=agency_id,
            title=f"Pantau: peringatan untuk {agency_id} / alerts for {agency_id}",
            updated=now,
        )
        path = directory / ATOM_FILE
        if not path.exists() or path.read_bytes() != feed:
            write_atomically(path, feed)
