"""What each type of stay permit allows in one stay, and whether a stay's periods go over it.

The figures are the office's settings ``permit_voa``, ``permit_visit``, ...
(defaults from DOMAIN.md's table of stay permits, every figure there marked
"(check)"), read into one ``PermitLimits``. ``ExtendPermit`` refuses an
extension that would go over them; the rule PERMIT_LIMIT_EXCEEDED finds, in
one SQL statement over every stay, what arrived over them by import, from the
same value (``PermitLimits.sql_parameters``).

How a stay's periods are counted, here and in SQL alike:

- the periods of one type are counted together, apart from those of other
  types (a change of status, ITAS to ITAP, starts the new type's count);
- their length is the number of local calendar days (WIB: permit dates are
  the office's days) that at least one of them covers, both ends included: a
  period from 1 to 30 March is 30 days, and a day two overlapping periods
  cover counts once;
- their extensions are the periods after the type's first.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from exchange_service.domain.model import PermitType, StayPermit


@dataclass(frozen=True)
class PermitTypeLimit:
    """What one type of permit allows in one stay; None is no limit."""

    # The most local calendar days the type's periods may cover in one stay,
    # both ends included.
    total_days: int | None = None
    # The most periods of the type after its first.
    extensions: int | None = None

    def __post_init__(self) -> None:
        if self.total_days is not None and self.total_days < 1:
            raise ValueError(f"total_days must be at least 1 (or None), not {self.total_days}")
        if self.extensions is not None and self.extensions < 0:
            raise ValueError(f"extensions must not be negative, not {self.extensions}")


@dataclass(frozen=True)
class PermitLimits:
    """The limits of every type of permit: the one value ``ExtendPermit`` and the rule go by.

    ``app.permit_limits(settings)`` builds it from the settings ``permit_<type>``.
    """

    voa: PermitTypeLimit
    visit: PermitTypeLimit
    limited_stay: PermitTypeLimit
    permanent_stay: PermitTypeLimit
    diplomatic: PermitTypeLimit

    def of(self, permit_type: PermitType) -> PermitTypeLimit:
        """The limits of one type."""
        limits: dict[PermitType, PermitTypeLimit] = {
            PermitType.VOA: self.voa,
            PermitType.VISIT: self.visit,
            PermitType.LIMITED_STAY: self.limited_stay,
            PermitType.PERMANENT_STAY: self.permanent_stay,
            PermitType.DIPLOMATIC: self.diplomatic,
        }
        return limits[permit_type]

    def sql_parameters(self) -> dict[str, object]:
        """The limits as one SQL parameter, ``permit_limits``: a JSON array, a row per type.

        Each row holds ``type`` (the ``stay_permits.type`` code), ``total_days``
        and ``extensions`` (null: no limit). A statement reads them as a table::

            jsonb_to_recordset(CAST(:permit_limits AS jsonb))
              AS permit_limits(type text, total_days integer, extensions integer)

        and a comparison with a null limit (``days > permit_limits.total_days``)
        is never true, so a type without a limit never exceeds it.
        """
        rows = [
            {
                "type": permit_type.value,
                "total_days": self.of(permit_type).total_days,
                "extensions": self.of(permit_type).extensions,
            }
            for permit_type in PermitType
        ]
        return {"permit_limits": json.dumps(rows)}


# DOMAIN.md's table of stay permits, every figure there marked "(check)": the defaults of
# the settings ``permit_<type>`` (and of ``RuleSettings.permit_limits``).
DOMAIN_PERMIT_LIMITS = PermitLimits(
    # Visa on arrival: 30 days, extendable once by 30.
    voa=PermitTypeLimit(total_days=60, extensions=1),
    # Visit visa: 60 days, extensions up to 180 days in all (how many: not limited).
    visit=PermitTypeLimit(total_days=180),
    # ITAS / KITAS: periods of 6 months, 1 or 2 years (investors 10); no limit in all.
    limited_stay=PermitTypeLimit(),
    # ITAP / KITAP: 5 years, renewable: no limit.
    permanent_stay=PermitTypeLimit(),
    # Diplomatic or service stay permit: per assignment: no limit.
    diplomatic=PermitTypeLimit(),
)


def days_covered(periods: Sequence[StayPermit]) -> int:
    """Local calendar days at least one of the periods covers, both ends included."""
    total = 0
    covered_until: date | None = None
    for start, until in sorted((p.valid_from, p.valid_until) for p in periods):
        if covered_until is None or start > covered_until:
            total += (until - start).days + 1
            covered_until = until
        elif until > covered_until:
            total += (until - covered_until).days
            covered_until = until
    return total


class PermitLimitKind(enum.StrEnum):
    """Which of a type's limits a stay goes over."""

    TOTAL_DAYS = "total_days"
    EXTENSIONS = "extensions"


@dataclass(frozen=True)
class PermitLimitExcess:
    """A limit of a type that a stay's periods of that type go over, and by how much."""

    permit_type: PermitType
    kind: PermitLimitKind
    allowed: int
    # The days the periods cover, or their number of extensions.
    actual: int
    # The first and last day the periods cover.
    first_day: date
    last_day: date

    @property
    def setting(self) -> str:
        """The setting holding the limit, as an administrator would change it."""
        return f"permit_{self.permit_type.value.lower()}.{self.kind.value}"


def limits_exceeded(
    periods: Sequence[StayPermit], limits: PermitLimits, permit_type: PermitType
) -> tuple[PermitLimitExcess, ...]:
    """The limits of ``permit_type`` that the stay's periods of that type go over (none: empty)."""
    of_type = [p for p in periods if p.type is permit_type]
    if not of_type:
        return ()
    limit = limits.of(permit_type)
    first_day = min(p.valid_from for p in of_type)
    last_day = max(p.valid_until for p in of_type)
    excesses: list[PermitLimitExcess] = []
    days = days_covered(of_type)
    if limit.total_days is not None and days > limit.total_days:
        excesses.append(
            PermitLimitExcess(
                permit_type,
                PermitLimitKind.TOTAL_DAYS,
                limit.total_days,
                days,
                first_day,
                last_day,
            )
        )
    extensions = len(of_type) - 1
    if limit.extensions is not None and extensions > limit.extensions:
        excesses.append(
            PermitLimitExcess(
                permit_type,
                PermitLimitKind.EXTENSIONS,
                limit.extensions,
                extensions,
                first_day,
                last_day,
            )
        )
    return tuple(excesses)
