"""What a rule is: two set-based SQL statements over the whole population, and its numbers.

``findings_sql`` says what holds now: one row per subject, with exactly the
columns of ``FINDING_COLUMNS``:

=================  ======  ==============================================================
``subject_kind``   text    ``PERSON`` or ``SPONSOR`` (``domain.alerts.SubjectKind``)
``subject_id``     text    the person's id; for a sponsor an opaque key, never the name
``stay_id``        uuid    the stay the finding is about, NULL when the rule has none
``severity``       text    ``INFO``, ``WARNING``, ``HIGH`` or ``CRITICAL``
``district_code``  text    of the subject's current address, NULL if none
``village_code``   text    likewise
``evidence``       jsonb   the structured facts (keys classified in ``domain.disclosure``)
``facts``          text    the key of the facts that make the finding: a dismissed alert is
                           not opened again while it is the same (OVERSTAY: the stay and the
                           last valid day, not the days over)
``summary_id``     text    one paragraph in Indonesian, naming the person and the facts an
                           officer acts on (SQL ``format()``)
``summary_en``     text    the same in English
``action``         text    a ``domain.alerts.AdministrativeAction``
``inputs``         text    everything the other columns are made of, as text (usually
                           ``CAST(ROW(d.*) AS text)`` of the row they are rendered from):
                           the engine renders a finding's evidence and summaries only when
                           its inputs (or the rule's statement or numbers) changed since the
                           alert was last written, so a rerun with nothing changed renders
                           nothing; it must hold every value the finding depends on
=================  ======  ==============================================================

``resolutions_sql`` returns ``alert_id uuid, reason text`` (a
``ResolutionReason``) for the rule's open alerts whose stated reason now
holds. An open alert neither found nor resolved stays as it is.

Both are single SELECT statements (a WITH is fine, no trailing semicolon),
run inside the engine's one statement, and take named parameters: ``:as_of``
(timestamptz: the instant the run is as of), ``:today`` (date: the office's
WIB day of ``as_of``), ``:rule`` (the rule's name), ``:timezone`` (text: the
office's IANA zone, ``Asia/Jakarta``, for the office's day of a recorded
instant: ``office_day``), plus the rule's own numbers from ``parameters()``.
Write ``CAST(:x AS type)``, not ``:x::type`` (SQLAlchemy reads the latter as
no parameter at all). A "now" in a rule is ``:as_of`` or ``:today``, never
``now()`` or ``current_date``: a run as of an instant must give the same
answer whenever it is made.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

from exchange_service.domain.alerts import (
    ENGINE_PARAMETERS,
    OPEN_STATUSES,
    RuleName,
    RuleSettings,
)

FINDING_COLUMNS = (
    "subject_kind",
    "subject_id",
    "stay_id",
    "severity",
    "district_code",
    "village_code",
    "evidence",
    "facts",
    "summary_id",
    "summary_en",
    "action",
    "inputs",
)
RESOLUTION_COLUMNS = ("alert_id", "reason")


def _no_numbers(settings: RuleSettings) -> Mapping[str, object]:
    return {}


@dataclass(frozen=True)
class Rule:
    """One early-warning rule: its name, a title for ``pantau rules list``, its two statements.

    ``numbers`` picks the rule's own numbers from the settings, as the named
    parameters its statements use (``fee_per_day_idr`` and so on); they are
    what ``pantau rules list`` shows.
    """

    name: RuleName
    title: str
    findings_sql: str
    resolutions_sql: str
    numbers: Callable[[RuleSettings], Mapping[str, object]] = field(default=_no_numbers)

    def __post_init__(self) -> None:
        taken = ENGINE_PARAMETERS & set(self.numbers(RuleSettings()))
        if taken:
            raise ValueError(f"rule {self.name}: parameters {sorted(taken)} are the engine's")

    def parameters(self, settings: RuleSettings, as_of: datetime, today: date) -> dict[str, object]:
        """The rule's own named parameters; the engine adds ``as_of``, ``today`` and ``rule``."""
        return dict(self.numbers(settings))


# --- SQL the rules share ----------------------------------------------------------------

# The statuses of an open alert, as an SQL list: ('OPEN', 'ACKNOWLEDGED', 'CONFIRMED').
OPEN_STATUS_LIST = "(" + ", ".join(f"'{status}'" for status in sorted(OPEN_STATUSES)) + ")"

_STAY_COLUMNS = (
    "s.id AS stay_id, s.person_id, s.entered_at, s.entry_port_code, s.permit_valid_until,"
    " s.permit_id, s.permit_type"
)


def present_stays(condition: str = "TRUE") -> str:
    """The stays present as of the run (entered by then, not yet left) that meet ``condition``.

    ``condition`` is on ``stays s``; its permit state (``s.permit_valid_until``,
    ``s.permit_id``, ``s.permit_type``: the period ending last, kept by
    migration 0010's triggers) is what a rule usually asks about, so that the
    stays still open come from the partial index of their last valid day and
    only a rule's window is read. Those that left after the run's instant (a
    run as of the past) come from the index of exits. Columns: ``stay_id``,
    ``person_id``, ``entered_at``, ``entry_port_code``, ``permit_valid_until``,
    ``permit_id``, ``permit_type``.
    """
    return f"""
    SELECT {_STAY_COLUMNS}
    FROM stays s
    WHERE s.exited_at IS NULL AND s.entered_at <= CAST(:as_of AS timestamptz) AND ({condition})
    UNION ALL
    SELECT {_STAY_COLUMNS}
    FROM stays s
    WHERE s.exited_at > CAST(:as_of AS timestamptz) AND s.entered_at <= CAST(:as_of AS timestamptz)
      AND ({condition})
"""


# Every stay present as of the run.
PRESENT_STAYS = present_stays()

# The condition on ``alerts a`` that holds for the open alerts of the rule being run.
OPEN_ALERT_OF_RULE = f"a.rule = :rule AND a.status IN {OPEN_STATUS_LIST}"

_MONTHS_ID = (
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
)
_MONTHS_ID_ARRAY = "ARRAY[" + ", ".join(f"'{month}'" for month in _MONTHS_ID) + "]"


def person_name(person: str) -> str:
    """A person's name as officers write it: family name in capitals, then given names."""
    return f"concat_ws(' ', upper({person}.family_name), nullif({person}.given_names, ''))"


def rupiah(amount: str) -> str:
    """An amount of rupiah as Indonesians write it, whatever the server's locale: Rp 37.000.000."""
    # The comma of to_char is the group separator regardless of locale.
    return (
        f"('Rp ' || replace(to_char(CAST({amount} AS numeric), 'FM999,999,999,999,999,990'),"
        " ',', '.'))"
    )


def number_id(amount: str) -> str:
    """A whole number as Indonesians write it, whatever the server's locale: 3.000."""
    return (
        f"replace(to_char(round(CAST({amount} AS numeric)), 'FM999,999,999,999,999,990'), ',', '.')"
    )


def number_en(amount: str) -> str:
    """A whole number as English writes it, whatever the server's locale: 3,000."""
    return f"to_char(round(CAST({amount} AS numeric)), 'FM999,999,999,999,999,990')"


def office_day(instant: str) -> str:
    """The office's calendar day (WIB) of a recorded instant, never UTC's."""
    return f"CAST(timezone(CAST(:timezone AS text), {instant}) AS date)"


def office_midnight(day: str) -> str:
    """The instant the office's day ``day`` (a date expression) begins (00:00 WIB)."""
    return f"timezone(CAST(:timezone AS text), CAST({day} AS timestamp))"


def date_id(day: str) -> str:
    """A date in Indonesian, whatever the server's locale: 9 Maret 2026."""
    return (
        f"(to_char({day}, 'FMDD') || ' ' || ({_MONTHS_ID_ARRAY})[extract(month FROM {day})::int]"
        f" || ' ' || to_char({day}, 'YYYY'))"
    )


def date_en(day: str) -> str:
    """A date in English: 9 March 2026 (month names without TM are English in every locale)."""
    return f"to_char({day}, 'FMDD FMMonth YYYY')"


def utc_time(instant: str) -> str:
    """An instant as ISO text in UTC (2026-03-10T02:00:00Z), whatever the session's time zone."""
    return f"""to_char({instant} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"""


def current_address_of(person_id: str) -> str:
    """LEFT JOINs of the person's current address, as ``ad``."""
    return (
        f"LEFT JOIN current_addresses ca ON ca.person_id = {person_id}"
        " LEFT JOIN addresses ad ON ad.id = ca.address_id"
    )


def departed_by_as_of(stay: str) -> str:
    """Whether the stay's exit is recorded at or before the run's instant."""
    return f"({stay}.exited_at IS NOT NULL AND {stay}.exited_at <= CAST(:as_of AS timestamptz))"


def present_on_last_period(condition: str) -> str:
    """The stays present as of the run that meet ``condition`` (on ``stays s``, see
    ``present_stays``), each on its last permit period, with its person and the person's
    current place, one row a stay: stay_id, person_id, entered_at, entry_port_code; the
    stay's permit_id and permit_valid_until (its last period's id and last day); the
    period's permit_number, type, valid_from, valid_until, sponsor, purpose; the person's
    name and nationality; the current address's address_id, district_code and village_code.

    The period and the person always exist (the stay's permit state names its period;
    a stay's person is a foreign key): they are LEFT JOINed so that a statement reading
    none of their columns (the keys and ``stay_inputs`` of a finding) does not read them.
    """
    return f"""
    SELECT pr.stay_id, pr.person_id, pr.entered_at, pr.entry_port_code,
        pr.permit_id, pr.permit_valid_until,
        lp.permit_number, lp.type, lp.valid_from, lp.valid_until, lp.sponsor, lp.purpose,
        {person_name("p")} AS name, p.nationality,
        ca.address_id, ad.district_code, ad.village_code
    FROM ({present_stays(condition)}) pr
    LEFT JOIN stay_permits lp ON lp.id = pr.permit_id
    LEFT JOIN persons p ON p.id = pr.person_id
    {current_address_of("pr.person_id")}
"""


def stay_inputs(row: str, *values: str) -> str:
    """The ``inputs`` of a finding about a ``present_on_last_period`` row: the keys of what
    it is made of, and ``values`` (what the rule computes from the run's day).

    Keys stand for content here because none of those rows ever changes: periods and
    addresses are append-only, persons are not updated, and a stay's new period or a
    person's new address changes ``permit_id`` or ``address_id``. So the rule's inputs
    are read from the stays and current addresses alone.
    """
    keys = (f"{row}.stay_id", f"{row}.person_id", f"{row}.permit_id", f"{row}.address_id")
    return f"concat_ws('|', {', '.join((*keys, *values))})"


def stay_evidence(row: str) -> str:
    """``jsonb_build_object`` arguments: the person, the stay and its permit of a
    ``present_on_last_period`` row (keys classified in ``domain.disclosure.EVIDENCE``)."""
    pairs = {
        "person_name": f"{row}.name",
        "nationality": f"{row}.nationality",
        "entered_at": utc_time(f"{row}.entered_at"),
        "entry_port_code": f"{row}.entry_port_code",
        "permit_number": f"{row}.permit_number",
        "permit_type": f"{row}.type",
        "permit_valid_from": f"{row}.valid_from",
        "last_valid_day": f"{row}.valid_until",
        "sponsor": f"{row}.sponsor",
        "purpose": f"{row}.purpose",
    }
    return ", ".join(f"'{key}', {value}" for key, value in pairs.items())


def stay_facts(row: str) -> str:
    """The facts of a finding about a stay's last period: the stay and its last valid day."""
    return f"CAST({row}.stay_id AS text) || '/' || CAST({row}.valid_until AS text)"


def departed_or_extended(extended: str) -> str:
    """The resolutions of a rule about stays: its open alerts whose stay's exit is recorded
    (DEPARTED) or for which ``extended``, a condition on ``alerts a`` and ``stays s``,
    holds (PERMIT_EXTENDED)."""
    departed = departed_by_as_of("s")
    return f"""
SELECT a.id AS alert_id,
    CASE WHEN {departed} THEN 'DEPARTED' ELSE 'PERMIT_EXTENDED' END AS reason
FROM alerts a JOIN stays s ON s.id = a.stay_id
WHERE {OPEN_ALERT_OF_RULE} AND ({departed} OR ({extended}))
"""
