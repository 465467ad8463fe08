"""Tables of the stay registry, on one declarative base.

History tables (addresses, stay permits, sightings) are append-only: a
trigger installed by the migrations rejects UPDATE and DELETE on them, so a
change of address or a permit extension can only ever add a row.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from geoalchemy2 import Geography, Geometry
from sqlalchemy import (
    CHAR,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, ExcludeConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from exchange_service.domain import alerts, audit

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _point() -> Geography:
    return Geography(geometry_type="POINT", srid=4326, spatial_index=False)


class District(Base):
    """A kecamatan of the regency, from the Kemendagri boundaries."""

    __tablename__ = "districts"
    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    bps_code: Mapped[str | None] = mapped_column(String(7))
    boundary: Mapped[str] = mapped_column(
        Geometry(geometry_type="MULTIPOLYGON", srid=4326, spatial_index=False)
    )
    __table_args__ = (Index("ix_districts_boundary", "boundary", postgresql_using="gist"),)


class Village(Base):
    """A desa or kelurahan. Its polygon may stray over its district's border."""

    __tablename__ = "villages"
    code: Mapped[str] = mapped_column(String(13), primary_key=True)
    district_code: Mapped[str] = mapped_column(ForeignKey("districts.code"))
    name: Mapped[str] = mapped_column(Text)
    boundary: Mapped[str] = mapped_column(
        Geometry(geometry_type="MULTIPOLYGON", srid=4326, spatial_index=False)
    )
    __table_args__ = (Index("ix_villages_boundary", "boundary", postgresql_using="gist"),)


class Regency(Base):
    """The outline of the regency; a point outside it gets no district."""

    __tablename__ = "regency"
    code: Mapped[str] = mapped_column(String(5), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    boundary: Mapped[str] = mapped_column(
        Geometry(geometry_type="MULTIPOLYGON", srid=4326, spatial_index=False)
    )


class Person(Base):
    __tablename__ = "persons"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    family_name: Mapped[str] = mapped_column(String(100))
    given_names: Mapped[str] = mapped_column(String(100))
    # Words of the name in ASCII, sorted: what trigram search looks at.
    name_key: Mapped[str] = mapped_column(Text)
    nationality: Mapped[str] = mapped_column(String(3))
    birth_year: Mapped[int] = mapped_column(SmallInteger)
    birth_month: Mapped[int] = mapped_column(SmallInteger)
    birth_day: Mapped[int] = mapped_column(SmallInteger)
    sex: Mapped[str] = mapped_column(String(1))
    registered_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    # The agency and officer who registered the person ('' before migration 0014): the
    # officer who confirms a watchlist match must be another (four eyes).
    registered_by: Mapped[str] = mapped_column(Text, server_default=text("''"))
    registered_officer: Mapped[str] = mapped_column(Text, server_default=text("''"))
    __table_args__ = (
        CheckConstraint("length(family_name) > 0", name="family_name_present"),
        CheckConstraint("birth_month BETWEEN 0 AND 12", name="birth_month_range"),
        CheckConstraint("birth_day BETWEEN 0 AND 31", name="birth_day_range"),
        CheckConstraint("birth_month > 0 OR birth_day = 0", name="birth_day_needs_month"),
        CheckConstraint("sex IN ('F', 'M', 'X')", name="sex_code"),
        Index(
            "ix_persons_name_key_trgm",
            "name_key",
            postgresql_using="gin",
            postgresql_ops={"name_key": "gin_trgm_ops"},
        ),
    )


class TravelDocument(Base):
    __tablename__ = "travel_documents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), index=True)
    issuing_state: Mapped[str] = mapped_column(String(3))
    number: Mapped[str] = mapped_column(String(20))
    expiry_date: Mapped[date | None] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    __table_args__ = (
        UniqueConstraint("issuing_state", "number", name="uq_travel_documents_state_number"),
        CheckConstraint("number ~ '^[A-Z0-9]{1,20}$'", name="number_format"),
        # A watchlist entry's document numbers find their holders whatever the state.
        Index("ix_travel_documents_number", "number"),
    )


class Stay(Base):
    __tablename__ = "stays"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"))
    entry_port_code: Mapped[str] = mapped_column(String(10))
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    exit_port_code: Mapped[str | None] = mapped_column(String(10))
    exited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The permit period ending last (the highest sequence of a tie), kept by the
    # triggers of migration 0010 whenever ``stay_permits`` is written: the rules
    # find the present stays by it through ``ix_stays_present_permit_valid_until``.
    permit_valid_until: Mapped[date | None] = mapped_column(Date)
    # The period's own id: one key, so the planner knows a stay meets one period.
    permit_id: Mapped[int | None] = mapped_column(Integer)
    permit_type: Mapped[str | None] = mapped_column(String(16))
    __table_args__ = (
        CheckConstraint("exited_at IS NULL OR exited_at >= entered_at", name="exit_after_entry"),
        CheckConstraint("(exited_at IS NULL) = (exit_port_code IS NULL)", name="exit_has_port"),
        # At most one open stay per person.
        Index(
            "uq_stays_one_open_per_person",
            "person_id",
            unique=True,
            postgresql_where=text("exited_at IS NULL"),
        ),
        Index("ix_stays_person_entered", "person_id", "entered_at"),
        Index(
            "ix_stays_present_permit_valid_until",
            "permit_valid_until",
            postgresql_where=text("exited_at IS NULL"),
        ),
        Index("ix_stays_exited_at", "exited_at", postgresql_where=text("exited_at IS NOT NULL")),
    )


class StayPermit(Base):
    """One permit period of a stay; an extension adds the next sequence number."""

    __tablename__ = "stay_permits"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stay_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stays.id"))
    sequence: Mapped[int] = mapped_column(SmallInteger)
    permit_number: Mapped[str] = mapped_column(String(50))
    type: Mapped[str] = mapped_column(String(16))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    sponsor: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    __table_args__ = (
        UniqueConstraint("stay_id", "sequence", name="uq_stay_permits_stay_sequence"),
        CheckConstraint("valid_until >= valid_from", name="ends_after_start"),
        CheckConstraint(
            "type IN ('VOA', 'VISIT', 'LIMITED_STAY', 'PERMANENT_STAY', 'DIPLOMATIC')",
            name="type_code",
        ),
        Index("ix_stay_permits_recorded_at", "recorded_at", postgresql_include=["stay_id"]),
        # PERMIT_LIMIT_EXCEEDED's candidates (migration 0011): the stays with an extension,
        # and by type the periods longer than a limit.
        Index("ix_stay_permits_extensions", "stay_id", postgresql_where=text("sequence > 1")),
        Index(
            "ix_stay_permits_type_length",
            "type",
            text("(valid_until - valid_from)"),
            postgresql_include=["stay_id"],
        ),
    )


class AddressReport(Base):
    """An address as reported; never changed once written.

    ``reported_at`` is when the person reported it (an imported report keeps
    its own time), ``recorded_at`` when Pantau received it.
    """

    __tablename__ = "addresses"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"))
    line: Mapped[str] = mapped_column(String(300))
    location: Mapped[str] = mapped_column(_point())
    district_code: Mapped[str | None] = mapped_column(ForeignKey("districts.code"))
    village_code: Mapped[str | None] = mapped_column(ForeignKey("villages.code"))
    effective_from: Mapped[date] = mapped_column(Date)
    reported_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    __table_args__ = (
        Index("ix_addresses_person_effective", "person_id", "effective_from"),
        Index("ix_addresses_location", "location", postgresql_using="gist"),
        Index("ix_addresses_reported_at", "reported_at", postgresql_include=["person_id"]),
    )


class CurrentAddress(Base):
    """Each person's current address: the report with the latest effective day.

    A projection of ``addresses`` kept in the same transaction, so the
    nearest-first search scans one point per person.
    """

    __tablename__ = "current_addresses"
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    address_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("addresses.id"), unique=True)
    location: Mapped[str] = mapped_column(_point())
    __table_args__ = (Index("ix_current_addresses_location", "location", postgresql_using="gist"),)


class Sighting(Base):
    """A person seen; ``reported_at`` is when it was reported, ``recorded_at`` when received."""

    __tablename__ = "sightings"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"))
    location: Mapped[str] = mapped_column(_point())
    district_code: Mapped[str | None] = mapped_column(ForeignKey("districts.code"))
    village_code: Mapped[str | None] = mapped_column(ForeignKey("villages.code"))
    observed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source: Mapped[str] = mapped_column(String(24))
    reference: Mapped[str] = mapped_column(String(100))
    place_name: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    reported_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    __table_args__ = (
        Index("ix_sightings_person_observed", "person_id", "observed_at"),
        Index("ix_sightings_location", "location", postgresql_using="gist"),
        Index("ix_sightings_observed_at", "observed_at", postgresql_include=["person_id"]),
        # A report sent twice (a re-imported lodging batch) is recorded once.
        Index(
            "uq_sightings_source_reference",
            "source",
            "reference",
            unique=True,
            postgresql_where=text("reference <> ''"),
        ),
    )


# The column of each kind of audit record field (exchange_service.domain.audit).
_AUDIT_COLUMN_TYPES: dict[str, Any] = {
    audit.SEQ: BigInteger,
    audit.TIME: DateTime(timezone=True),
    audit.TEXT: Text,
    audit.IDS: ARRAY(Text),
    audit.DIGEST: CHAR(64),
}

# One event in the audit trail (exchange_service.audit); append-only, hash-chained.
# The columns are the fields of ``AuditRecord``, in their order; optional ones
# (added by later migrations) default to empty for the records before them.
audit_records = Table(
    "audit_records",
    Base.metadata,
    *(
        Column(
            f.name,
            _AUDIT_COLUMN_TYPES[f.kind],
            primary_key=f.kind == audit.SEQ,
            autoincrement=False,
            nullable=False,
            server_default=text("''") if f.optional else None,
        )
        for f in audit.RECORD_FIELDS
    ),
    Index("ix_audit_records_at", "at"),
    Index("ix_audit_records_person_ids", "person_ids", postgresql_using="gin"),
)


class AuditCheckpointRow(Base):
    """A signed head of the audit chain; also appended to the checkpoint file."""

    __tablename__ = "audit_checkpoints"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    head: Mapped[str] = mapped_column(CHAR(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    key_id: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(Text)


APPEND_ONLY_TABLES = ("addresses", "stay_permits", "sightings")


class Lease(Base):
    """Who leads a kind of work (the scheduler's rule runs): a numbered term per winner.

    ``storage.leases`` takes terms and checks the fences of transactions.
    """

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(Text, primary_key=True)
    term: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str] = mapped_column(Text)
    taken_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (CheckConstraint("term > 0", name="term_positive"),)


# --- early-warning alerts (exchange_service.domain.alerts) ---------------------------

_OPEN_ALERT = "status IN ('OPEN', 'ACKNOWLEDGED', 'CONFIRMED')"


def _one_of(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class AlertRow(Base):
    """An alert: a rule's condition holding for a subject (and its stay), and where it stands.

    At most one open alert per (rule, subject, stay), the stay's absence
    counting as one value (``NULLS NOT DISTINCT``); a dismissed or resolved
    alert leaves room for a new one.
    """

    __tablename__ = "alerts"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    rule: Mapped[str] = mapped_column(Text)
    subject_kind: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[str] = mapped_column(Text)
    stay_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("stays.id"))
    severity: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    district_code: Mapped[str | None] = mapped_column(ForeignKey("districts.code"))
    village_code: Mapped[str | None] = mapped_column(ForeignKey("villages.code"))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB)
    summary_id: Mapped[str] = mapped_column(Text)
    summary_en: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    facts: Mapped[str] = mapped_column(Text)
    # What the finding was last rendered from (the rule's inputs, statement and numbers):
    # a run renders it again only when this changes.
    digest: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    first_detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution_reason: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        CheckConstraint(_one_of("rule", alerts.RuleName), name="rule_name"),
        CheckConstraint(_one_of("subject_kind", alerts.SubjectKind), name="subject_kind_name"),
        CheckConstraint(_one_of("severity", alerts.Severity), name="severity_name"),
        CheckConstraint(_one_of("status", alerts.AlertStatus), name="status_name"),
        CheckConstraint(_one_of("action", alerts.AdministrativeAction), name="action_name"),
        CheckConstraint(
            _one_of("resolution_reason", alerts.ResolutionReason), name="resolution_reason_name"
        ),
        # A resolved alert says when and why; no other has a resolution.
        CheckConstraint(
            "(status = 'RESOLVED') = (resolved_at IS NOT NULL)"
            " AND (resolved_at IS NULL) = (resolution_reason IS NULL)",
            name="resolved_with_reason",
        ),
        CheckConstraint("jsonb_typeof(evidence) = 'object'", name="evidence_object"),
        Index(
            "uq_alerts_one_open_per_key",
            "rule",
            "subject_kind",
            "subject_id",
            "stay_id",
            unique=True,
            postgresql_where=text(_OPEN_ALERT),
            postgresql_nulls_not_distinct=True,
        ),
        # Dismissed alerts of a key, and a subject's alerts whatever their status.
        Index("ix_alerts_rule_subject", "rule", "subject_kind", "subject_id"),
        Index("ix_alerts_changed_at", "changed_at"),
        # ListAlerts' order: newest first.
        Index("ix_alerts_listing", text("first_detected_at DESC"), text("id DESC")),
    )


class RuleRunRow(Base):
    """One run of a rule: as of when, how long, what it changed, or the error that stopped it."""

    __tablename__ = "rule_runs"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    rule: Mapped[str] = mapped_column(Text)
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(Text)
    rows_scanned: Mapped[int] = mapped_column(Integer)
    opened: Mapped[int] = mapped_column(Integer)
    updated: Mapped[int] = mapped_column(Integer)
    escalated: Mapped[int] = mapped_column(Integer)
    resolved: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    fence_lease: Mapped[str | None] = mapped_column(Text)
    fence_term: Mapped[int | None] = mapped_column(BigInteger)
    __table_args__ = (
        CheckConstraint(_one_of("rule", alerts.RuleName), name="rule_name"),
        CheckConstraint("finished_at >= started_at", name="finished_after_start"),
        # A failed run changed nothing.
        CheckConstraint(
            "error IS NULL OR opened + updated + escalated + resolved = 0",
            name="failed_run_changed_nothing",
        ),
        Index("ix_rule_runs_rule_as_of", "rule", "as_of"),
    )


class AlertEventRow(Base):
    """One change of an alert, with the alert as of the change: the unit that leaves Pantau.

    Append-only (a trigger rejects UPDATE and DELETE). ``seq`` orders all
    events; the run that made a change is checked at commit (the run's row
    is written after its changes, in the same transaction).
    """

    __tablename__ = "alert_events"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    alert_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("alerts.id"))
    kind: Mapped[str] = mapped_column(Text)
    rule: Mapped[str] = mapped_column(Text)
    subject_kind: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[str] = mapped_column(Text)
    stay_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    severity: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    district_code: Mapped[str | None] = mapped_column(Text)
    village_code: Mapped[str | None] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB)
    summary_id: Mapped[str] = mapped_column(Text)
    summary_en: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    resolution_reason: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[str] = mapped_column(Text)
    actor_kind: Mapped[str] = mapped_column(Text)
    officer: Mapped[str] = mapped_column(Text, server_default=text("''"))
    note: Mapped[str] = mapped_column(Text, server_default=text("''"))
    rule_run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("rule_runs.id", deferrable=True, initially="DEFERRED")
    )
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    __table_args__ = (
        CheckConstraint(_one_of("kind", alerts.AlertEventKind), name="kind_name"),
        Index("ix_alert_events_alert_seq", "alert_id", "seq"),
        Index("ix_alert_events_rule_run_id", "rule_run_id"),
    )


# Rows are added, never changed: alert events and the record of rule runs.
APPEND_ONLY_ALERT_TABLES = ("alert_events", "rule_runs")


class SchedulerFiring(Base):
    """One scheduled run that committed: a job's slot, claimed in the run's own fenced transaction.

    A run that stands in for slots missed while no leader fired covers every
    slot from ``covers_from`` to ``slot``. The database holds the scheduler to
    its promise: a (job, slot) fires once, and no slot of a job is covered by
    two runs (an exclusion constraint over the covered spans).
    """

    __tablename__ = "scheduler_firings"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    job: Mapped[str] = mapped_column(Text)
    slot: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    covers_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lease: Mapped[str] = mapped_column(Text)
    term: Mapped[int] = mapped_column(BigInteger)
    fired_by: Mapped[str] = mapped_column(Text)
    fired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        UniqueConstraint("job", "slot", name="uq_scheduler_firings_job_slot"),
        CheckConstraint("covers_from <= slot", name="covers_up_to_slot"),
        ExcludeConstraint(
            ("job", "="),
            (text("tstzrange(covers_from, slot, '[]')"), "&&"),
            name="ex_scheduler_firings_covered_once",
            using="gist",
        ),
    )


# --- restricted areas (RESTRICTED_AREA_PRESENCE) ---------------------------------------


class RestrictedAreaRow(Base):
    """An area where only some permit purposes may be, loaded from the file the settings name.

    ``pantau migrate`` replaces the rows with the file's features
    (``storage.restricted_areas``); alerts keep the code and name they found
    in their evidence, so nothing refers to a row.
    """

    __tablename__ = "restricted_areas"
    code: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    # Phrases as the file gives them; the rule compares them word by word, ignoring case.
    allowed_purposes: Mapped[list[str]] = mapped_column(ARRAY(Text))
    note: Mapped[str] = mapped_column(Text, server_default=text("''"))
    boundary: Mapped[str] = mapped_column(
        Geography(geometry_type="MULTIPOLYGON", srid=4326, spatial_index=False)
    )
    __table_args__ = (
        CheckConstraint("length(name) > 0", name="name_present"),
        Index("ix_restricted_areas_boundary", "boundary", postgresql_using="gist"),
    )


class AuditInboxRow(Base):
    """An ``AuditEvent`` waiting for the trail's one writer to chain it (``audit.log``).

    Any process inserts its event here in the transaction of the work it
    accounts for; the writer chains it and deletes it in the transaction
    that inserts its record. ``at`` is when the event happened.
    """

    __tablename__ = "audit_inbox"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor_id: Mapped[str] = mapped_column(Text)
    actor_kind: Mapped[str] = mapped_column(Text)
    officer: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(Text)
    person_ids: Mapped[list[str]] = mapped_column(ARRAY(Text))
    recipient: Mapped[str] = mapped_column(Text)
    request_digest: Mapped[str] = mapped_column(CHAR(64))


# --- the agencies' alert feeds (the transactional outbox) ----------------------------------


class FeedHeadRow(Base):
    """Each agency's last feed entry: its sequence and hash.

    The transaction that appends to an agency's feed locks this row first and
    holds it to commit, so the agency's entries are numbered in commit order.
    """

    __tablename__ = "feed_heads"
    agency_id: Mapped[str] = mapped_column(Text, primary_key=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    last_hash: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (
        CheckConstraint("last_sequence >= 0", name="sequence_not_negative"),
        CheckConstraint("length(last_hash) = 32", name="hash_is_sha256"),
    )


class FeedEntryRow(Base):
    """One entry of an agency's feed: an alert event in its view, signed. Never changed,
    except for the time the agency acknowledged it."""

    __tablename__ = "feed_entries"
    agency_id: Mapped[str] = mapped_column(ForeignKey("feed_heads.agency_id"), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_seq: Mapped[int] = mapped_column(ForeignKey("alert_events.seq"))
    # The person the event is about ('' for a sponsor): the audit trail names them
    # when the entry is delivered, whatever the recipient's view withholds.
    person_id: Mapped[str] = mapped_column(Text, server_default=text("''"))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    payload_type: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(Text)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    previous_hash: Mapped[bytes] = mapped_column(LargeBinary)
    entry_hash: Mapped[bytes] = mapped_column(LargeBinary)
    signed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        UniqueConstraint("agency_id", "event_seq", name="uq_feed_entries_agency_event"),
        CheckConstraint("sequence >= 1", name="sequence_from_one"),
        CheckConstraint("length(entry_hash) = 32", name="hash_is_sha256"),
        CheckConstraint("length(previous_hash) = 32", name="previous_is_sha256"),
        Index("ix_feed_entries_event_seq", "event_seq"),
    )


# --- delivering the feeds through the agencies' push channels ----------------------------


class DeliveryLaneRow(Base):
    """One push channel of an agency (a lane): how far it has received the feed, who holds it.

    ``lease_token`` goes up by one on every claim; only the worker holding the
    current token may move ``delivered_through`` (a fencing token). A lane with
    ``dead_lettered_at`` is stopped until an operator requeues it.
    """

    __tablename__ = "delivery_lanes"
    agency_id: Mapped[str] = mapped_column(Text, primary_key=True)
    channel: Mapped[str] = mapped_column(Text, primary_key=True)
    enabled: Mapped[bool] = mapped_column(server_default=text("true"))
    delivered_through: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    lease_owner: Mapped[str | None] = mapped_column(Text)
    lease_token: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    dead_lettered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (
        CheckConstraint("channel IN ('GRPC', 'WEBHOOK', 'CAP')", name="channel_known"),
        CheckConstraint("delivered_through >= 0", name="cursor_not_negative"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )


class DeliveryDeadLetterRow(Base):
    """A lane given up on: the entries it was stuck on, the attempts, the last error.

    Written when the lane stops; ``requeued_at`` is set when an operator starts it again.
    """

    __tablename__ = "delivery_dead_letters"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(Text)
    from_sequence: Mapped[int] = mapped_column(BigInteger)
    through_sequence: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    requeued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        ForeignKeyConstraint(
            ["agency_id", "channel"],
            ["delivery_lanes.agency_id", "delivery_lanes.channel"],
        ),
        CheckConstraint("from_sequence <= through_sequence", name="range_in_order"),
        Index("ix_delivery_dead_letters_lane", "agency_id", "channel"),
    )


# --- the watchlist and its screening ---------------------------------------------------

_WATCHLISTS = "list IN ('ENTRY_BAN', 'EXIT_BAN', 'POLICE_WANTED', 'INTERNATIONAL_NOTICE', 'OTHER')"


class WatchlistEntryRow(Base):
    """One entry as it stands (its content as JSON, ``domain.watchlist.EntryContent``).

    Never deleted: a removal sets ``removed_at``. Every change is also a row of
    ``watchlist_entry_versions``.
    """

    __tablename__ = "watchlist_entries"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    list: Mapped[str] = mapped_column(Text)
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    digest: Mapped[str] = mapped_column(CHAR(64))
    version: Mapped[int] = mapped_column(Integer)
    external_id: Mapped[str] = mapped_column(Text, server_default=text("''"))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(Text)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removal_note: Mapped[str] = mapped_column(Text, server_default=text("''"))
    __table_args__ = (
        CheckConstraint(_WATCHLISTS, name="list_known"),
        CheckConstraint("version >= 1", name="version_from_one"),
        # An import updates the entry of the same source record.
        Index(
            "uq_watchlist_entries_external_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id <> ''"),
        ),
        Index("ix_watchlist_entries_updated_at", "updated_at"),
    )


class WatchlistEntryVersionRow(Base):
    """One version of an entry: its content after the change, who made it, when, why."""

    __tablename__ = "watchlist_entry_versions"
    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("watchlist_entries.id"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    change: Mapped[str] = mapped_column(Text)
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    agency_id: Mapped[str] = mapped_column(Text)
    officer: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, server_default=text("''"))
    __table_args__ = (
        CheckConstraint("change IN ('ADDED', 'UPDATED', 'REMOVED')", name="change_known"),
    )


class WatchlistNameRow(Base):
    """A name of an entry in its comparable form: what trigram retrieval looks at."""

    __tablename__ = "watchlist_names"
    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("watchlist_entries.id"), primary_key=True
    )
    position: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    comparable: Mapped[str] = mapped_column(Text)
    __table_args__ = (
        Index(
            "ix_watchlist_names_comparable_trgm",
            "comparable",
            postgresql_using="gin",
            postgresql_ops={"comparable": "gin_trgm_ops"},
        ),
    )


class WatchlistKeyRow(Base):
    """A retrieval key of an entry's names (a word, its phonetic code, its skeleton)."""

    __tablename__ = "watchlist_keys"
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("watchlist_entries.id"), primary_key=True
    )
    __table_args__ = (Index("ix_watchlist_keys_entry_id", "entry_id"),)


class WatchlistDocumentRow(Base):
    """A document number of an entry, normalised: matched exactly."""

    __tablename__ = "watchlist_documents"
    number: Mapped[str] = mapped_column(Text, primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("watchlist_entries.id"), primary_key=True
    )
    __table_args__ = (Index("ix_watchlist_documents_entry_id", "entry_id"),)


class PersonScreeningRow(Base):
    """What a person was last screened as: the digest of the record and its retrieval keys.

    The keys let an entry that changes find the persons it may match.
    """

    __tablename__ = "person_screenings"
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    digest: Mapped[str] = mapped_column(CHAR(64))
    keys: Mapped[list[str]] = mapped_column(ARRAY(Text))
    comparable: Mapped[str] = mapped_column(Text)
    screened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        Index("ix_person_screenings_keys", "keys", postgresql_using="gin"),
        Index(
            "ix_person_screenings_comparable_trgm",
            "comparable",
            postgresql_using="gin",
            postgresql_ops={"comparable": "gin_trgm_ops"},
        ),
    )


class ScreeningQueueRow(Base):
    """A person or an entry to screen: filled by triggers on what is recorded, drained by the
    screener. ``kind`` PERSON screens the person against the watchlist, ENTRY the entry
    against the population."""

    __tablename__ = "screening_queue"
    kind: Mapped[str] = mapped_column(Text, primary_key=True)
    subject_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    enqueued_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    __table_args__ = (
        CheckConstraint("kind IN ('PERSON', 'ENTRY')", name="kind_known"),
        Index("ix_screening_queue_enqueued_at", "enqueued_at"),
    )


class WatchlistMatchRow(Base):
    """A person and an entry that match above the threshold, with the features behind it.

    The WATCHLIST_MATCH rule opens an alert per person from these rows.
    """

    __tablename__ = "watchlist_matches"
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("persons.id"), primary_key=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("watchlist_entries.id"), primary_key=True
    )
    score: Mapped[float] = mapped_column(Float)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSONB)
    entry_digest: Mapped[str] = mapped_column(CHAR(64))
    person_digest: Mapped[str] = mapped_column(CHAR(64))
    screened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint("score >= 0 AND score <= 1", name="score_range"),
        Index("ix_watchlist_matches_entry_id", "entry_id"),
    )


# --- the early-warning reports ------------------------------------------------------------


class ReportRow(Base):
    """A report as made: never changed (a trigger rejects UPDATE, DELETE and TRUNCATE).

    ``digest`` is the SHA-256 of the manifest of its files (``exchange_service.reports``);
    the audit trail records it, so a copy handed to a meeting can be checked later.
    Making the same day's report again stores a new row beside the first.
    """

    __tablename__ = "reports"
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    date: Mapped[date] = mapped_column(Date)
    # '' for the whole regency.
    district_code: Mapped[str] = mapped_column(Text)
    edition: Mapped[str] = mapped_column(Text)
    as_of: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    made_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    made_by: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(CHAR(64))
    __table_args__ = (
        CheckConstraint("edition IN ('FULL', 'AGGREGATE')", name="edition_known"),
        CheckConstraint(
            "district_code = '' OR district_code ~ '^21\\.05\\.\\d{2}$'", name="district_code_form"
        ),
        UniqueConstraint(
            "digest", "edition", "district_code", "as_of", name="uq_reports_made_once"
        ),
        Index("ix_reports_key", "date", "district_code", "edition", "made_at"),
        Index("ix_reports_digest", "digest"),
    )


class ReportFileRow(Base):
    """One file of a report (its HTML, a CSV per table, the JSON summary), never changed."""

    __tablename__ = "report_files"
    report_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reports.id"), primary_key=True)
    name: Mapped[str] = mapped_column(Text, primary_key=True)
    media_type: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(CHAR(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    __table_args__ = (
        CheckConstraint("sha256 = encode(sha256(content), 'hex')", name="sha256_of_content"),
    )


# Rows are added, never changed: the reports and their files.
APPEND_ONLY_REPORT_TABLES = ("reports", "report_files")
