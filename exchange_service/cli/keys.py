"""``pantau keys list``, ``pantau keys rotate`` and ``pantau keys jwks [--out FILE]``: the
alert feeds' signing keys.

``rotate`` publishes a new key at once that signs only from
``feed_key_publish_lead_seconds`` later, so every receiver that fetches the
keys at least that often (``AlertFeedService.GetSigningKeys``, the JWKS
document) knows it before its first signature; the key in use signs until
then and stays published, valid for what it signed, for
``feed_key_overlap_seconds`` more. The processes that sign (server,
scheduler, `pantau rules run`, the delivery workers) read the key directory
again when it changes: no restart is needed.

Settings: as `pantau rules` (``PANTAU_SETTINGS``, else ``./pantau.toml``, else
the development file `make run` uses). Exit codes: 0 done, 2 the keys
cannot be opened (the message says why).
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from exchange_service.domain.clock import Clock, system_clock
from exchange_service.rules_root import feed_keys
from exchange_service.settings import Settings
from exchange_service.signing.keyset import KeySetError, KeyValidity

OK, CANNOT = 0, 2


def add_keys_parser(commands: Any) -> None:
    """Adds ``keys list``, ``keys rotate`` and ``keys jwks`` to the ``pantau`` subcommands."""
    keys = commands.add_parser("keys", help="the alert feeds' signing keys: list, rotate, JWKS")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    actions.add_parser("list", help="every key with its validity, and which signs now")
    actions.add_parser(
        "rotate",
        help="publish a new key now; it signs after feed_key_publish_lead_seconds",
    )
    jwks = actions.add_parser("jwks", help="the published keys as a JWKS document (RFC 7517)")
    jwks.add_argument("--out", type=Path, help="write it to this file (default: print it)")


def _describe(key: KeyValidity, signing: str) -> str:
    until = "in use" if key.valid_until is None else f"until {key.valid_until.isoformat()}"
    mark = "  <- signs now" if key.key_id == signing else ""
    return (
        f"{key.key_id}  published {key.published_at.isoformat()}"
        f"  signs from {key.valid_from.isoformat()} {until}{mark}"
    )


def run_keys_command(
    args: Any, settings: Settings, *, clock: Clock = system_clock, out: TextIO | None = None
) -> int:
    out = sys.stdout if out is None else out
    try:
        keys = feed_keys(settings, clock=clock)
        now = clock()
        if args.keys_command == "rotate":
            new = keys.rotate(now, timedelta(seconds=settings.feed_key_publish_lead_seconds))
            print(
                f"published key {new.key_id}; it signs from {new.valid_from.isoformat()},"
                f" the key in use until then",
                file=out,
            )
        elif args.keys_command == "list":
            signing = keys.signer_at(now).key_id
            published = {k.key_id for k in keys.published(now)}
            for key in keys.all():
                state = "" if key.key_id in published else "  (no longer published)"
                print(_describe(key, signing) + state, file=out)
        else:
            document = json.dumps(keys.jwks(now), indent=2, sort_keys=True) + "\n"
            if args.out is None:
                out.write(document)
            else:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(document)
                print(f"JWKS of {len(keys.published(now))} keys in {args.out}", file=out)
    except (KeySetError, SystemExit) as error:
        print(f"pantau keys: {error}", file=sys.stderr)  # noqa: T201
        return CANNOT
    return OK
