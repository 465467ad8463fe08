"""Where a receiver keeps the entries it accepted: the port and its implementations.

``FileReceiverStore`` is the durable one: an append-only file per agency
(JSON lines), each line written and fsynced before the sender is answered,
read back on start. A line cut short by a crash (SIGKILL, power loss) was
never acknowledged, so it is dropped on start and the sender delivers that
entry again; nothing acknowledged is lost and nothing is held twice.
``MemoryReceiverStore`` keeps them in the process (tests);
``ConsoleReceiverStore`` also prints one line per entry.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, TextIO, runtime_checkable

from agency_adapters.receivers.verify import ZERO_HASH, VerifiedEntry


@dataclass(frozen=True)
class Head:
    """An agency's chain as held: the last sequence (0 for none) and that entry's hash."""

    sequence: int
    entry_hash: bytes


@runtime_checkable
class ReceiverStore(Protocol):
    """The entries a receiver accepted, per agency, in sequence order without gaps.

    ``append`` is durable when it returns (the receiver answers the sender
    only then); the caller serialises calls per agency and has checked the
    chain (``head``) first. Implementations: file (durable), memory, console.
    """

    def head(self, agency_id: str) -> Head: ...

    def hash_at(self, agency_id: str, sequence: int) -> bytes | None: ...

    def seen_delivery(self, agency_id: str, delivery_id: str) -> bool: ...

    def append(self, entry: VerifiedEntry, delivery_id: str | None) -> None: ...

    def close(self) -> None: ...


class MemoryReceiverStore:
    """Entries kept in the process: the hashes by sequence and the delivery ids seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hashes: dict[str, list[bytes]] = {}
        self._deliveries: dict[str, set[str]] = {}
        self._entries: dict[str, list[VerifiedEntry]] = {}

    def head(self, agency_id: str) -> Head:
        with self._lock:
            hashes = self._hashes.get(agency_id, [])
            return Head(len(hashes), hashes[-1] if hashes else ZERO_HASH)

    def hash_at(self, agency_id: str, sequence: int) -> bytes | None:
        with self._lock:
            hashes = self._hashes.get(agency_id, [])
            return hashes[sequence - 1] if 1 <= sequence <= len(hashes) else None

    def seen_delivery(self, agency_id: str, delivery_id: str) -> bool:
        with self._lock:
            return delivery_id in self._deliveries.get(agency_id, set())

    def append(self, entry: VerifiedEntry, delivery_id: str | None) -> None:
        with self._lock:
            hashes = self._hashes.setdefault(entry.agency_id, [])
            if entry.sequence != len(hashes) + 1:
                raise ValueError(f"sequence {entry.sequence} does not follow {len(hashes)}")
            hashes.append(entry.entry_hash)
            self._entries.setdefault(entry.agency_id, []).append(entry)
            if delivery_id is not None:
                self._deliveries.setdefault(entry.agency_id, set()).add(delivery_id)

    def entries(self, agency_id: str) -> tuple[VerifiedEntry, ...]:
        """The agency's entries held, in sequence order."""
        with self._lock:
            return tuple(self._entries.get(agency_id, []))

    def close(self) -> None:
        return None


class ConsoleReceiverStore(MemoryReceiverStore):
    """The memory store that also writes one line per accepted entry (a demonstration)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self._stream = stream or sys.stdout

    def append(self, entry: VerifiedEntry, delivery_id: str | None) -> None:
        super().append(entry, delivery_id)
        self._stream.write(
            f"stored {entry.agency_id} #{entry.sequence} event {entry.event_id}"
            f" key {entry.key_id} hash {entry.entry_hash.hex()[:16]}\n"
        )
        self._stream.flush()


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _line(entry: VerifiedEntry, delivery_id: str | None) -> bytes:
    record = {
        "sequence": entry.sequence,
        "entry_hash": entry.entry_hash.hex(),
        "previous_hash": entry.previous_hash.hex(),
        "signed_at": entry.signed_at.isoformat(),
        "key_id": entry.key_id,
        "event_id": entry.event_id,
        "delivery_id": delivery_id,
        "format": entry.envelope_format,
        "envelope": base64.b64encode(entry.envelope).decode("ascii"),
    }
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n"


@dataclass(frozen=True)
class StoredRecord:
    """One line of an agency's file, as read back."""

    sequence: int
    entry_hash: bytes
    previous_hash: bytes
    signed_at: datetime
    key_id: str
    event_id: str
    delivery_id: str | None
    envelope_format: str
    envelope: bytes


class StoreCorrupt(Exception):
    """An agency's file does not hold a chain (edited by hand?); the message names the line."""


class FileReceiverStore:
    """Durable store: ``<directory>/<agency_id>.jsonl``, one JSON line per entry, fsynced.

    On start each file is read back (the head, the hashes by sequence, the
    delivery ids seen); a torn last line is cut off. A file whose chain does
    not hold is refused (StoreCorrupt) rather than silently extended.
    """

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._hashes: dict[str, list[bytes]] = {}
        self._deliveries: dict[str, set[str]] = {}
        self._files: dict[str, int] = {}
        for path in sorted(self._dir.glob("*.jsonl")):
            self._load(path.stem, path)

    def _path(self, agency_id: str) -> Path:
        if not agency_id or "/" in agency_id or agency_id.startswith("."):
            raise ValueError(f"agency id {agency_id!r} cannot name a file")
        return self._dir / f"{agency_id}.jsonl"

    def _load(self, agency_id: str, path: Path) -> None:
        data = path.read_bytes()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):
            # A line cut short by a crash: never fsynced whole, never acknowledged.
            with path.open("r+b") as out:
                out.truncate(complete)
                out.flush()
                os.fsync(out.fileno())
        hashes: list[bytes] = []
        deliveries: set[str] = set()
        for number, raw in enumerate(data[:complete].splitlines(), start=1):
            record = self.parse(raw, f"{path}:{number}")
            expected_previous = hashes[-1] if hashes else ZERO_HASH
            if record.sequence != len(hashes) + 1 or record.previous_hash != expected_previous:
                raise StoreCorrupt(f"{path}:{number}: sequence {record.sequence} breaks the chain")
            hashes.append(record.entry_hash)
            if record.delivery_id is not None:
                deliveries.add(record.delivery_id)
        self._hashes[agency_id] = hashes
        self._deliveries[agency_id] = deliveries

    @staticmethod
    def parse(raw: bytes, where: str) -> StoredRecord:
        """One line of a store file; StoreCorrupt naming ``where`` when it is not one."""
        try:
            item = json.loads(raw)
            return StoredRecord(
                sequence=int(item["sequence"]),
                entry_hash=bytes.fromhex(item["entry_hash"]),
                previous_hash=bytes.fromhex(item["previous_hash"]),
                signed_at=datetime.fromisoformat(item["signed_at"]),
                key_id=str(item["key_id"]),
                event_id=str(item["event_id"]),
                delivery_id=item.get("delivery_id"),
                envelope_format=str(item["format"]),
                envelope=base64.b64decode(item["envelope"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreCorrupt(f"{where}: not a stored entry ({exc})") from exc

    def records(self, agency_id: str) -> list[StoredRecord]:
        """The agency's entries as stored, in order (reads the file)."""
        path = self._path(agency_id)
        if not path.exists():
            return []
        data = path.read_bytes()
        lines = data[: data.rfind(b"\n") + 1].splitlines()
        return [self.parse(raw, f"{path}:{n}") for n, raw in enumerate(lines, start=1)]

    def head(self, agency_id: str) -> Head:
        with self._lock:
            hashes = self._hashes.get(agency_id, [])
            return Head(len(hashes), hashes[-1] if hashes else ZERO_HASH)

    def hash_at(self, agency_id: str, sequence: int) -> bytes | None:
        with self._lock:
            hashes = self._hashes.get(agency_id, [])
            return hashes[sequence - 1] if 1 <= sequence <= len(hashes) else None

    def seen_delivery(self, agency_id: str, delivery_id: str) -> bool:
        with self._lock:
            return delivery_id in self._deliveries.get(agency_id, set())

    def _fd(self, agency_id: str) -> int:
        fd = self._files.get(agency_id)
        if fd is None:
            path = self._path(agency_id)
            created = not path.exists()
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            if created:
                _fsync_directory(self._dir)
            self._files[agency_id] = fd
        return fd

    def append(self, entry: VerifiedEntry, delivery_id: str | None) -> None:
        with self._lock:
            hashes = self._hashes.setdefault(entry.agency_id, [])
            if entry.sequence != len(hashes) + 1:
                raise ValueError(f"sequence {entry.sequence} does not follow {len(hashes)}")
            line = _line(entry, delivery_id)
            fd = self._fd(entry.agency_id)
            size = os.fstat(fd).st_size
            try:
                written = 0
                while written < len(line):
                    written += os.write(fd, line[written:])
                os.fsync(fd)
            except OSError:
                # A full disk, say: leave no part of the line for the next one to follow.
                os.ftruncate(fd, size)
                raise
            hashes.append(entry.entry_hash)
            if delivery_id is not None:
                self._deliveries.setdefault(entry.agency_id, set()).add(delivery_id)

    def close(self) -> None:
        with self._lock:
            for fd in self._files.values():
                os.close(fd)
            self._files.clear()
