"""A `pantau deliver` worker whose senders append what they push to one file: the test's
receiver (``python -m tests.processes.deliver_to_file --worker-id W --out FILE``).

It runs ``exchange_service.cli.deliver.run_worker``, the function `pantau deliver`
runs, with these senders in place of the ``delivery_adapter`` setting's. Each
push sleeps a little before and after (a network's latency, so that a SIGKILL
often lands mid-push, before or after the receiver has the entries) and writes
one line per entry, ``<agency> <channel> <sequence>``, in one ``write`` to a
file opened for appending, so lines of concurrent workers never interleave
within a push.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence

from exchange_service.cli.deliver import run_worker
from exchange_service.domain.feed import ChannelKind, FeedEntry, PushChannel
from exchange_service.settings import load_settings


class FileSender:
    """An ``AlertSender`` that appends the entries it pushes to a file, after a delay."""

    def __init__(self, kind: ChannelKind, fd: int, delay: float) -> None:
        self._kind = kind
        self._fd = fd
        self._delay = delay

    @property
    def kind(self) -> ChannelKind:
        return self._kind

    def send(self, agency_id: str, channel: PushChannel, entries: Sequence[FeedEntry]) -> int:
        time.sleep(self._delay / 2)
        lines = "".join(f"{agency_id} {channel.kind} {e.sequence}\n" for e in entries)
        os.write(self._fd, lines.encode())
        # The receiver's answer on its way back: a kill now leaves the cursor behind.
        time.sleep(self._delay / 2)
        return entries[-1].sequence

    def close(self) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--delay", type=float, default=0.03)
    args = parser.parse_args()
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    fd = os.open(args.out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    senders = {kind: FileSender(kind, fd, args.delay) for kind in ChannelKind}
    try:
        return run_worker(
            settings, once=False, worker_id=args.worker_id, out=sys.stdout, senders=senders
        )
    finally:
        os.close(fd)


if __name__ == "__main__":
    sys.exit(main())
