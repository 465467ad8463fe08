"""``python -m agency_adapters.receivers police|webhook ...``: run a reference receiver.

Each accepted or refused entry is logged on one line. The keys are read from
the JWKS file (Pantau's GetSigningKeys ``jwks_json``, or the ``jwks.json`` of
an export) and read again when an entry names a key not yet known.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

from agency_adapters.receivers.receiver import FeedReceiver
from agency_adapters.receivers.store import (
    ConsoleReceiverStore,
    FileReceiverStore,
    MemoryReceiverStore,
    ReceiverStore,
)
from agency_adapters.receivers.verify import PAYLOAD_TYPE, FeedVerifier, KeyRing


def _now() -> datetime:
    return datetime.now(UTC)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agency_adapters.receivers",
        description="Receive Pantau's signed alert feed, verify each entry and keep it.",
    )
    kinds = parser.add_subparsers(dest="kind", required=True)
    police = kinds.add_parser("police", help="AlertReceiverService over mutual TLS (gRPC)")
    police.add_argument("--listen", default="127.0.0.1:7601")
    police.add_argument("--ca", type=Path, required=True, help="CA of Pantau's client certificate")
    webhook = kinds.add_parser("webhook", help="Standard Webhooks over HTTPS")
    webhook.add_argument("--listen", default="127.0.0.1:7602")
    webhook.add_argument("--path", default="/pantau/alerts")
    webhook.add_argument("--ca", type=Path, help="ask for a client certificate from this CA")
    handover = kinds.add_parser(
        "import",
        help="take in an offline handover (pantau feed export): CAP documents are checked,"
        " JWS entries checked and stored, as live deliveries are",
    )
    handover.add_argument("directory", type=Path, help="the export's directory")
    handover.add_argument("--jwks", type=Path, help="the keys (default DIRECTORY/jwks.json)")
    handover.add_argument("--store", type=Path, help="directory of the entries kept (durable)")
    handover.add_argument("--store-kind", choices=("file", "memory", "console"), default="file")
    handover.add_argument("--agency", required=True, help="the agency whose feed it is")
    handover.add_argument("--payload-type", default=PAYLOAD_TYPE)
    for sub in (police, webhook):
        sub.add_argument("--cert", type=Path, required=True, help="the receiver's certificate")
        sub.add_argument("--key", type=Path, required=True, help="its private key")
        sub.add_argument("--jwks", type=Path, required=True, help="Pantau's signing keys (JWKS)")
        sub.add_argument("--store", type=Path, help="directory of the entries kept (durable)")
        sub.add_argument("--store-kind", choices=("file", "memory", "console"), default="file")
        sub.add_argument("--agency", help="accept only this agency's feed")
        sub.add_argument("--payload-type", default=PAYLOAD_TYPE)
    return parser


def _store(args: argparse.Namespace) -> ReceiverStore:
    if args.store_kind == "memory":
        return MemoryReceiverStore()
    if args.store_kind == "console":
        return ConsoleReceiverStore()
    if args.store is None:
        raise SystemExit("--store DIR is needed to keep entries durably (or --store-kind memory)")
    return FileReceiverStore(args.store)


def _take_in(args: argparse.Namespace) -> int:
    """``import``: 0 when every file was taken in, 1 naming the first refused."""
    import json

    from agency_adapters.receivers.cap_import import import_cap_dir
    from agency_adapters.receivers.export_import import import_jws_dir

    jwks = args.jwks or args.directory / "jwks.json"
    if any(args.directory.glob("*.xml")):
        report = import_cap_dir(args.directory, json.loads(jwks.read_text("utf-8")))
        for rejected in report.rejected:
            print(f"refused {rejected.file}: {rejected.reason}")  # noqa: T201
        print(  # noqa: T201
            f"CAP: {len(report.accepted)} documents accepted, through sequence"
            f" {report.last_sequence}; {len(report.rejected)} refused"
        )
        return 0 if report.ok else 1
    verifier = FeedVerifier(
        KeyRing.from_file(jwks), agency_id=args.agency, payload_type=args.payload_type
    )
    store = _store(args)
    try:
        taken = import_jws_dir(args.directory, verifier, FeedReceiver(store), args.agency)
    finally:
        store.close()
    print(f"JWS: {taken.stored} entries stored, {taken.held} held already")  # noqa: T201
    if taken.refused is not None:
        print(f"refused {taken.refused[0]}: {taken.refused[1]}")  # noqa: T201
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.kind == "import":
        return _take_in(args)
    keys = KeyRing.from_file(args.jwks)
    verifier = FeedVerifier(keys, agency_id=args.agency, payload_type=args.payload_type)
    store = _store(args)
    receiver = FeedReceiver(store)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    try:
        if args.kind == "police":
            from agency_adapters.receivers.police import serve_police

            police = serve_police(
                args.listen,
                cert_file=args.cert,
                key_file=args.key,
                ca_file=args.ca,
                verifier=verifier,
                receiver=receiver,
                agency_id=args.agency,
            )
            stopped.wait()
            police.stop()
        else:
            from agency_adapters.receivers.webhook import WebhookConfig, serve_webhook

            webhook = serve_webhook(
                args.listen,
                cert_file=args.cert,
                key_file=args.key,
                client_ca_file=args.ca,
                config=WebhookConfig(args.path, verifier, receiver, _now, args.agency),
            )
            stopped.wait()
            webhook.stop()
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
