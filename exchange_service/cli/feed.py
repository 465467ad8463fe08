"""``pantau feed export --agency ID --format cap|jws --out DIR``: an agency's feed as files.

``cap`` writes what the CAP channel publishes (``agency_adapters.senders.cap``):
each entry as a CAP 1.2 document with its detached JWS, the Atom feed, the
directory's index and the JWKS. ``jws`` writes each entry's JSON form
(``wire.feed.entry_json``) as a compact JWS, ``<agency>-<sequence>.jws``,
with the JWKS. Either can be checked offline with the keys beside it, and
an export repeated into the same directory writes only what is new.

The entries are read as sealed, in sequence order, from the database of the
settings: as every ``pantau`` command (``PANTAU_SETTINGS``, else
``./pantau.toml``), and failing both ``./deploy/pantau.dev.toml``, so that from
the project directory the command reads the database `make run` serves with
no environment set. It prints which file it read.

Exit codes: 0 exported, 1 the directory holds another feed (nothing of it
is rewritten), 2 nothing was exported (an unknown agency, the database or the
keys unusable; nothing is written then).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError

from agency_adapters.senders.cap import JWKS_FILE, CapPublisher, write_atomically
from exchange_service.domain.clock import Clock, system_clock
from exchange_service.domain.feed import DeliveryFailed, FeedEntry
from exchange_service.rules_root import feed_keys
from exchange_service.security.agencies import load_agencies
from exchange_service.settings import Settings, settings_file
from exchange_service.signing.jws import compact
from exchange_service.signing.keyset import KeySet, KeySetError
from exchange_service.storage.database import make_engine
from exchange_service.storage.feed_reader import read_feed
from exchange_service.wire.cap import CapOptions
from exchange_service.wire.feed import JSON_MEDIA_TYPE, entry_json

OK, REFUSED, CANNOT = 0, 1, 2
# Entries per read and per write to the directory.
_BATCH = 500


def add_feed_parser(commands: Any) -> None:
    """Adds ``feed export`` to the ``pantau`` subcommands."""
    feed = commands.add_parser("feed", help="an agency's signed alert feed")
    actions = feed.add_subparsers(dest="feed_command", required=True)
    export = actions.add_parser(
        "export", help="write an agency's feed to a directory as CAP documents or JWS"
    )
    export.add_argument("--agency", required=True, help="the agency's id (the agencies file)")
    export.add_argument(
        "--format",
        required=True,
        choices=["cap", "jws"],
        help="cap: CAP 1.2 documents, detached JWS, Atom feed; jws: each entry's JSON as a JWS",
    )
    export.add_argument("--out", required=True, type=Path, help="the directory to write")


def cap_options(settings: Settings) -> CapOptions:
    """The CAP documents' sender, status and timezone, from the settings."""
    return CapOptions(
        sender=settings.cap_sender,
        status=settings.cap_status,
        timezone=ZoneInfo(settings.timezone),
    )


def jws_name(entry: FeedEntry) -> str:
    """``pemkab-anambas-0000000042.jws``: sorted in feed order."""
    return f"{entry.agency_id}-{entry.sequence:010d}.jws"


def _export_jws(keys: KeySet, batches: Iterable[list[FeedEntry]], out: Path, clock: Clock) -> int:
    count = 0
    for batch in batches:
        out.mkdir(parents=True, exist_ok=True)
        for entry in batch:
            path = out / jws_name(entry)
            count += 1
            if path.exists():
                # Written by an earlier export: a file once written stays as it is.
                continue
            # Signed by the key that sealed the entry, so a receiver checks its validity at
            # the entry's own time (its JSON ``timestamp``), as for the entry's envelope.
            signer = keys.signer_at(entry.signed_at)
            token = compact(signer, entry_json(entry), content_type=JSON_MEDIA_TYPE)
            write_atomically(path, token.encode("ascii"))
    out.mkdir(parents=True, exist_ok=True)
    jwks = json.dumps(keys.jwks(clock()), indent=2, sort_keys=True) + "\n"
    write_atomically(out / JWKS_FILE, jwks.encode())
    return count


def _export_cap(
    publisher: CapPublisher, agency_id: str, batches: Iterable[list[FeedEntry]], out: Path
) -> int:
    held = None
    for batch in batches:
        held = publisher.publish(out, agency_id, batch)
    if held is None:
        # An empty feed still gets its (empty) Atom feed and keys.
        held = publisher.publish(out, agency_id, [])
    return held


def export_feed(
    settings: Settings,
    agency_id: str,
    export_format: str,
    out: Path,
    *,
    stdout: TextIO,
    stderr: TextIO,
    clock: Clock = system_clock,
) -> int:
    """Exports the agency's feed; the exit code (module docstring)."""
    agencies = load_agencies(settings.agencies_file)
    agency = agencies.get(agency_id)
    if agency is None:
        known = ", ".join(sorted(agencies))
        stderr.write(f"--agency: no agency {agency_id!r} in {settings.agencies_file} ({known})\n")
        return CANNOT
    if agency.feed is None:
        stderr.write(f"--agency: {agency_id} has no alert feed ([agency.feed] is not set)\n")
        return CANNOT
    try:
        keys = feed_keys(settings, clock=clock)
    except (KeySetError, SystemExit) as error:
        stderr.write(f"pantau feed export: the feed keys: {error}\n")
        return CANNOT
    engine = make_engine(
        settings.database_url, pool_size=1, application_name="pantau-feed-export", read_only=True
    )
    try:
        batches = _batches(read_feed(engine, agency_id, batch=_BATCH))
        if export_format == "cap":
            publisher = CapPublisher(cap_options(settings), keys, clock)
            count = _export_cap(publisher, agency_id, batches, out)
            what = "CAP documents with detached JWS, feed.atom, jwks.json"
        else:
            count = _export_jws(keys, batches, out, clock)
            what = "JWS of each entry's JSON, jwks.json"
    except DBAPIError as error:
        # Unreachable, or not migrated (`pantau migrate` makes the feed tables).
        stderr.write(
            f"cannot read the database: {error.orig}. Is it reachable and migrated"
            " (`pantau migrate`)? Nothing was exported.\n"
        )
        return CANNOT
    except DeliveryFailed as error:
        stderr.write(f"pantau feed export: {error.reason}\n")
        return REFUSED
    finally:
        engine.dispose()
    stdout.write(f"{agency_id}: {count} entries in {out} ({what})\n")
    return OK


def _batches(entries: Iterable[FeedEntry]) -> Iterator[list[FeedEntry]]:
    """The entries in lists of ``_BATCH``: each is read before any of it is written."""
    batch: list[FeedEntry] = []
    for entry in entries:
        batch.append(entry)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def run_feed_command(args: argparse.Namespace, settings: Settings) -> int:
    """Runs the ``feed`` subcommand parsed by ``add_feed_parser``; the exit code."""
    source = settings_file(development_fallback=True)
    sys.stderr.write(f"settings: {source or 'defaults (no settings file found)'}\n")
    return export_feed(
        settings, args.agency, args.format, args.out, stdout=sys.stdout, stderr=sys.stderr
    )
