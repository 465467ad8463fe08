"""A lodging batch's summary fits in the message cap whatever the batch held.

The bound is arithmetic (``model.import_summary_max_bytes``); here the worst
summary the caps allow is built, every text at its bound in four-byte
characters, every count at its widest, and serialised as the server sends it.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from exchange_service.domain import model
from exchange_service.settings import Settings, load_settings
from exchange_service.wire import convert

SMALLEST_MESSAGE_CAP = 64 * 1024
# A count whose varint takes the most bytes an int32 count can (five); a
# batch holds at most 2**31 - 1 reports, so every count, and their sum, is
# below it.
WIDE = 2**28


def _text(max_bytes: int) -> str:
    """The most characters of four UTF-8 bytes that fit, padded to the bound with ASCII."""
    four_byte = "\N{WATER WAVE}" * (max_bytes // 4)
    return four_byte + "x" * (max_bytes - len(four_byte.encode()))


def _worst_summary(listed: int) -> model.ImportSummary:
    reasons = list(model.RejectionReason)
    fields = ["", *sorted(model.LODGING_REPORT_FIELDS)]
    widest_reason = max(reasons, key=convert.REJECTION_REASONS.pb)
    rejection = model.RejectedLodgingReport(
        index=2**31 - 1,
        lodging_id=_text(model.REJECTION_ECHO_MAX_BYTES),
        reference=_text(model.REJECTION_ECHO_MAX_BYTES),
        field=_text(model.REJECTION_FIELD_MAX_BYTES),
        reason=_text(model.REJECTION_REASON_MAX_BYTES),
        reason_code=widest_reason,
    )
    # Every (field, reason) pair a summary can count, each field as long as any can be.
    counts = tuple(
        model.RejectionCount(field.ljust(model.REJECTION_FIELD_MAX_BYTES, "x"), reason, 2**22)
        for field in fields
        for reason in reasons
    )
    return model.ImportSummary(
        accepted=WIDE,
        duplicates=WIDE,
        rejections=(rejection,) * listed,
        rejection_counts=counts,
        reached_cap=True,
    )


def test_every_field_a_rejection_names_fits_its_bound() -> None:
    for field in model.LODGING_REPORT_FIELDS:
        assert len(field.encode()) <= model.REJECTION_FIELD_MAX_BYTES


@pytest.mark.parametrize("listed", [0, 1, 128, 1000, 5000])
def test_the_worst_summary_is_within_the_arithmetic_bound(listed: int) -> None:
    summary = convert.import_summary_pb(_worst_summary(listed))
    assert summary.rejected >= WIDE
    assert summary.rejections_unlisted >= WIDE
    assert summary.ByteSize() <= model.import_summary_max_bytes(listed)
    # The bound is close, not loose: at most the varints' slack per record.
    slack = model.import_summary_max_bytes(listed) - summary.ByteSize()
    assert slack <= 2 * listed + 3 * len(summary.rejection_counts) + 16


def test_the_worst_summary_the_settings_allow_fits_the_smallest_message_cap() -> None:
    most = model.max_rejections_listed_within(SMALLEST_MESSAGE_CAP)
    assert most >= 100
    settings = load_settings(max_message_bytes=SMALLEST_MESSAGE_CAP, max_rejections_listed=most)
    summary = convert.import_summary_pb(_worst_summary(settings.max_rejections_listed))
    assert len(summary.SerializeToString()) <= SMALLEST_MESSAGE_CAP


def test_the_settings_refuse_a_listing_that_could_exceed_the_message_cap() -> None:
    most = model.max_rejections_listed_within(SMALLEST_MESSAGE_CAP)
    with pytest.raises(ValidationError, match=rf"max_message_bytes 65536; at most {most} fit"):
        load_settings(max_message_bytes=SMALLEST_MESSAGE_CAP, max_rejections_listed=most + 1)


def test_the_default_listing_fits_the_default_message_cap() -> None:
    defaults = Settings()
    assert (
        model.import_summary_max_bytes(defaults.max_rejections_listed) <= defaults.max_message_bytes
    )
