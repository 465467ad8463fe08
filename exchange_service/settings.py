"""Settings, read once from one TOML file and ``PANTAU_*`` environment variables.

The file is ``PANTAU_SETTINGS`` or else ``pantau.toml`` in the working
directory, if present; environment variables win over the file. Figures the
domain brief marks as uncertain are settings with the brief's default.
Commands an officer runs beside `make run` (``pantau rules``) load them with
``development_fallback``: failing both, ``deploy/pantau.dev.toml`` in the
working directory, the file `make run` serves with.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from exchange_service.domain.alerts import RuleSettings
from exchange_service.domain.model import import_summary_max_bytes, max_rejections_listed_within
from exchange_service.domain.permits import PermitTypeLimit

DEFAULT_SETTINGS_FILE = "pantau.toml"
# The file `make run` serves with (PANTAU_SETTINGS in the Makefile).
DEVELOPMENT_SETTINGS_FILE = "deploy/pantau.dev.toml"
# The rules' defaults are the domain's (DOMAIN.md and issue 10).
_RULES = RuleSettings()
# Whether the settings being built may fall back to the development file.
_DEVELOPMENT_FALLBACK: ContextVar[bool] = ContextVar("development_fallback", default=False)

# When the scheduler runs each rule unless `scheduler_crons` says otherwise (WIB):
# every rule just after the office's midnight, and the two about permits again
# as the office opens.
SCHEDULER_CRONS: dict[str, tuple[str, ...]] = {
    "OVERSTAY": ("5 0 * * *", "0 7 * * *"),
    "PERMIT_EXPIRING": ("5 0 * * *", "0 7 * * *"),
    "UNREPORTED_ADDRESS_CHANGE": ("5 0 * * *",),
    "NO_RECENT_CONTACT": ("5 0 * * *",),
    "RESTRICTED_AREA_PRESENCE": ("5 0 * * *",),
    "SPONSOR_OVERSTAY_CLUSTER": ("5 0 * * *",),
    "PERMIT_LIMIT_EXCEEDED": ("5 0 * * *",),
    # Also run by the screener as soon as a screening changes a match.
    "WATCHLIST_MATCH": ("5 0 * * *",),
}


class PermitLimitSetting(BaseModel):
    """What one type of stay permit allows in one stay; a figure left out is no limit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Local calendar days the type's periods may cover in all, both ends included.
    total_days: int | None = Field(default=None, ge=1)
    # Periods of the type after its first.
    extensions: int | None = Field(default=None, ge=0)


_LIMITS = _RULES.permit_limits


def _default_limit(limit: PermitTypeLimit) -> PermitLimitSetting:
    return PermitLimitSetting(total_days=limit.total_days, extensions=limit.extensions)


class Settings(BaseSettings):
    """Everything the service reads from its environment; frozen once built."""

    model_config = SettingsConfigDict(env_prefix="PANTAU_", frozen=True, extra="forbid")

    database_url: str = "postgresql+psycopg://pantau@127.0.0.1:5432/pantau"
    listen_address: str = "127.0.0.1:50051"
    # gRPC worker threads; each holds at most one database connection.
    grpc_workers: int = Field(default=16, ge=1, le=256)

    # --- what one call, one agency and one connection may hold (api/edge.py) ---
    # Seconds from a call's start to its request message; a client that never
    # sends it gets DEADLINE_EXCEEDED and holds no worker meanwhile.
    request_wait_seconds: float = Field(default=10.0, gt=0)
    # Seconds a client stream (a lodging import) may stay idle between messages.
    stream_idle_seconds: float = Field(default=30.0, gt=0)
    # Calls of one agency in flight at once, waiting ones included; beyond it
    # RESOURCE_EXHAUSTED with RetryInfo.
    agency_max_calls: int = Field(default=100, ge=1)
    # Calls of one agency on worker threads at once; the others wait their turn.
    agency_max_running: int = Field(default=8, ge=1)
    # Calls received and not yet begun (a burst, all agencies together); gRPC
    # cancels calls beyond it. There is no limit of streams per connection:
    # gRPC's clients refuse calls over it (UNAVAILABLE) rather than queue them.
    max_pending_calls: int = Field(default=100_000, ge=1000)
    # On SIGTERM or SIGINT: seconds calls in flight may take to finish.
    shutdown_grace_seconds: float = Field(default=30.0, ge=0)
    # How long a thread may hold Python's interpreter lock while others wait,
    # ms (Python's default is 5). Shorter lets gRPC's polling thread hand calls
    # to the workers sooner: GetPerson gains 10 to 15 % (BENCHMARKS.md).
    gil_switch_interval_ms: float = Field(default=1.0, ge=0.1, le=100.0)
    # Largest request or response message, bytes.
    max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024)
    # Calls without a client deadline get this one, seconds.
    default_deadline_seconds: float = Field(default=30.0, gt=0)
    # Country whose citizens are not foreigners (ISO 3166-1 alpha-3).
    home_country: str = "IDN"
    # Local time of the office: days of stay and of overstay are counted in it.
    timezone: str = "Asia/Jakarta"
    # Points this far outside the simplified regency outline still get the
    # nearest district and village (coastal houses, boats at anchor), meters.
    boundary_tolerance_meters: float = Field(default=1500.0, ge=0)
    # Sightings returned in a person's dossier, newest first.
    dossier_sightings: int = Field(default=20, ge=0, le=100)
    # Name search: persons fetched from the trigram index, most similar first,
    # before they are scored in Python; a match ranked lower is never shown.
    search_candidates: int = Field(default=500, ge=1, le=10_000)
    # Name search: matches scoring below this (0 to 1) are not shown.
    search_min_score: float = Field(default=0.5, ge=0, le=1)
    # Name search: the trigram similarity (0 to 1) a stored name needs to be a
    # candidate at all; lower finds more typos and reads more rows. The
    # read-only connections start with it (pg_trgm.similarity_threshold).
    search_similarity_threshold: float = Field(default=0.2, ge=0, le=1)
    # A lodging batch ends once this many reports are read: Pantau answers with
    # its summary and reads no further (the summary counts in int32).
    max_reports_per_import: int = Field(default=100_000, ge=1, le=2**31 - 1)
    # A lodging batch's summary lists its first rejections up to this many and
    # counts all of them by field and reason; the summary must fit in
    # max_message_bytes (domain/model.py's import_summary_max_bytes).
    max_rejections_listed: int = Field(default=1000, ge=0)

    @model_validator(mode="after")
    def _import_summary_fits_in_a_message(self) -> Settings:
        largest = import_summary_max_bytes(self.max_rejections_listed)
        if largest > self.max_message_bytes:
            fitting = max_rejections_listed_within(self.max_message_bytes)
            raise ValueError(
                f"max_rejections_listed {self.max_rejections_listed} makes an import summary of"
                f" up to {largest} bytes, over max_message_bytes {self.max_message_bytes};"
                f" at most {fitting} fit"
            )
        return self

    # --- stay permit limits -------------------------------------------------------
    # What each type of permit allows in one stay (domain/permits.py counts it):
    # ExtendPermit refuses to go over it, the rule PERMIT_LIMIT_EXCEEDED finds
    # stays over it. DOMAIN.md's stay permit lengths, all marked "(check)".
    # The defaults: domain/permits.py's DOMAIN_PERMIT_LIMITS.
    # Visa on arrival: 30 days, extendable once by 30 (60 days in all, 1 extension).
    permit_voa: PermitLimitSetting = _default_limit(_LIMITS.voa)
    # Visit visa: 60 days, extensions up to 180 days in all (how many: not limited).
    permit_visit: PermitLimitSetting = _default_limit(_LIMITS.visit)
    # ITAS / KITAS: periods of 6 months, 1 or 2 years (investors 10); no limit in all.
    permit_limited_stay: PermitLimitSetting = _default_limit(_LIMITS.limited_stay)
    # ITAP / KITAP: 5 years, renewable: no limit.
    permit_permanent_stay: PermitLimitSetting = _default_limit(_LIMITS.permanent_stay)
    # Diplomatic or service stay permit: per assignment: no limit.
    permit_diplomatic: PermitLimitSetting = _default_limit(_LIMITS.diplomatic)
    log_level: str = "INFO"

    # --- mutual TLS (see `pantau pki` for development certificates) ---------
    # PEM files; all three are required unless `pantau serve --insecure-dev`.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # CA that signs agencies' client certificates.
    tls_client_ca_file: Path | None = None
    # Optional CRL (PEM) signed by that CA; revoked client certificates get no call.
    tls_crl_file: Path | None = None
    # PEM files of the intermediate CAs the operator allows to issue client
    # certificates besides that CA (clients send theirs in their chain). Each must
    # be a CA the client CA signed, and the client CA's pathLen must permit it, or
    # the server refuses to start. None listed: only leaves the CA signed itself.
    tls_client_intermediate_files: tuple[Path, ...] = ()

    # --- page tokens (domain/paging.py) -------------------------------------------
    # Secrets of the HMAC-SHA256 that signs page tokens, each at least 32 bytes
    # (`python -c 'import secrets; print(secrets.token_urlsafe(32))'` makes one):
    # the first signs, every one listed verifies. To rotate, put a new secret
    # first and keep the old one after it while clients may hold its tokens,
    # then remove it. Empty: a random secret per process, whose tokens die with
    # the process and are not taken by another server. As an environment
    # variable, a JSON list: PANTAU_PAGE_TOKEN_SECRETS='["...", "..."]'. Checked
    # when the server starts (app.page_tokens), by position: an error never
    # shows a secret, which a check here would (pydantic echoes the input).
    page_token_secrets: list[SecretStr] = Field(default_factory=list)

    # --- agencies and access ----------------------------------------------------
    agencies_file: Path = Path("deploy/agencies.toml")
    # Per-agency token bucket: sustained calls per second, and burst size.
    rate_limit_per_second: float = Field(default=200.0, gt=0)
    rate_limit_burst: int = Field(default=400, ge=1)

    # --- audit trail ------------------------------------------------------------
    # Ed25519 private key (PEM, PKCS#8) that signs audit checkpoints.
    audit_signing_key_file: Path = Path("var/audit/audit-signing.key")
    # Signed checkpoints are also appended to this file, outside the database.
    audit_checkpoint_file: Path = Path("var/audit/checkpoints.jsonl")
    # A checkpoint is signed every N records or every M seconds, whichever first.
    audit_checkpoint_every_records: int = Field(default=1000, ge=1)
    audit_checkpoint_every_seconds: float = Field(default=300.0, gt=0)

    # --- early-warning rules (scheduler/rules; RuleSettings field by field) -------
    # OVERSTAY: fee per day overstayed, rupiah (Pasal 78, PP 28/2019; check PP 45/2024).
    rule_overstay_fee_per_day_idr: int = Field(default=_RULES.overstay_fee_per_day_idr, ge=0)
    # OVERSTAY: past this many days over, deportation and an entry ban (Pasal 78(3)).
    rule_overstay_deportation_after_days: int = Field(
        default=_RULES.overstay_deportation_after_days, ge=0
    )
    # PERMIT_EXPIRING: warn when the permit's last period ends within this many days.
    rule_permit_expiring_within_days: int = Field(
        default=_RULES.permit_expiring_within_days, ge=0, le=366
    )
    # UNREPORTED_ADDRESS_CHANGE: this many sightings far from the registered address ...
    rule_address_change_min_sightings: int = Field(
        default=_RULES.address_change_min_sightings, ge=1
    )
    # ... within this many days before the run ...
    rule_address_change_window_days: int = Field(default=_RULES.address_change_window_days, ge=1)
    # ... each farther than this from the address in force at its time, metres ...
    rule_address_change_distance_meters: float = Field(
        default=_RULES.address_change_distance_meters, gt=0
    )
    # ... the first older than this grace window, days (Pasal 71; check: the law sets no count).
    rule_address_change_grace_days: int = Field(default=_RULES.address_change_grace_days, ge=0)
    # NO_RECENT_CONTACT: no sighting, address report or permit action for this many days.
    rule_no_contact_days: int = Field(default=_RULES.no_contact_days, ge=1)
    # SPONSOR_OVERSTAY_CLUSTER: a sponsor with at least this many sponsees overstaying ...
    rule_sponsor_cluster_min_sponsees: int = Field(
        default=_RULES.sponsor_cluster_min_sponsees, ge=1
    )
    # ... whose overstay began within this many days.
    rule_sponsor_cluster_window_days: int = Field(default=_RULES.sponsor_cluster_window_days, ge=1)
    # --- scheduler (`pantau scheduler`: the rules on a schedule, one leader) ------
    # When each rule runs, by rule name: cron expressions in the office's time
    # zone (`timezone`, WIB). Five fields (minute hour day month day-of-week,
    # days of the week by name: mon-fri) or six, the sixth for seconds. A rule
    # left out keeps its default; an empty list never runs it.
    scheduler_crons: dict[str, list[str]] = Field(
        default_factory=lambda: {rule: list(crons) for rule, crons in SCHEDULER_CRONS.items()}
    )
    # A run missed while no scheduler led (all stopped, or a failover) still
    # runs when one leads again, once for all the slots it missed, if its
    # latest missed slot is at most this late; older slots are logged as missed,
    # seconds. Six hours: a night's outage is made up for in the morning.
    scheduler_misfire_grace_seconds: float = Field(default=21600.0, gt=0)
    # How often the leader proves to the database that it lives, and how often
    # the others try to take the lead, seconds.
    scheduler_heartbeat_seconds: float = Field(default=1.0, gt=0)
    # A leader silent this long loses its lock (the lock session's
    # idle_session_timeout), so a paused leader is replaced: another process
    # takes over about this plus one heartbeat after the leader stops, seconds.
    scheduler_lock_timeout_seconds: float = Field(default=5.0, gt=0)
    # A rule run's transaction that sits idle this long is ended by the database
    # (idle_in_transaction_session_timeout), so a leader paused inside one
    # cannot keep the next leader waiting for the lease; rules are set-based
    # SQL and never idle that long, seconds.
    scheduler_idle_in_transaction_seconds: float = Field(default=5.0, gt=0)
    # Rule runs that may work at once; the others wait for a turn.
    scheduler_run_workers: int = Field(default=2, ge=1, le=16)

    @field_validator("scheduler_crons")
    @classmethod
    def _every_rule_has_crons(cls, crons: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(crons) - set(SCHEDULER_CRONS))
        if unknown:
            raise ValueError(f"unknown rules {unknown}; the rules are {sorted(SCHEDULER_CRONS)}")
        return {rule: list(crons.get(rule, default)) for rule, default in SCHEDULER_CRONS.items()}

    @model_validator(mode="after")
    def _heartbeats_fit_in_the_lock_timeout(self) -> Settings:
        # Two heartbeats may be late (a loaded machine) before the lock is lost.
        if self.scheduler_heartbeat_seconds * 3 > self.scheduler_lock_timeout_seconds:
            raise ValueError(
                "scheduler_heartbeat_seconds must be at most a third of"
                " scheduler_lock_timeout_seconds"
            )
        return self

    # RESTRICTED_AREA_PRESENCE: sightings in a restricted area within this many days count.
    rule_restricted_area_window_days: int = Field(default=_RULES.restricted_area_window_days, ge=1)
    # RESTRICTED_AREA_PRESENCE: the restricted areas (GeoJSON, each feature with its code, name
    # and the permit purposes allowed there), loaded into the database by `pantau migrate`;
    # None: the illustrative example shipped in exchange_service/data.
    rule_restricted_areas_file: Path | None = None

    # --- the watchlist and its screening ---------------------------------------------
    # A person and an entry whose score (watchlist.matching, 0 to 1) is at least this
    # match: a WATCHLIST_MATCH alert, for a supervisor to confirm or dismiss.
    watchlist_threshold: float = Field(default=0.7, gt=0, le=1)
    # Screen answers also list the near misses down to this score (marked no match).
    watchlist_report_floor: float = Field(default=0.5, ge=0, le=1)
    # The trigram similarity at which a watchlist name is a candidate of a screening
    # (the sessions that screen start with it): under 0.3 a common name drags thousands
    # of names through the sort, with no more matches found.
    watchlist_similarity_threshold: float = Field(default=0.3, gt=0, le=1)
    # The scheduler's screener looks at the screening queue this often, seconds.
    watchlist_screen_interval_seconds: float = Field(default=2.0, gt=0)
    # An entry that changes is screened against at most this many persons sharing the
    # most retrieval keys with it (besides the trigram-similar and document holders).
    watchlist_entry_fanout: int = Field(default=2000, ge=10)
    # More entries than this changed at once (an import): the whole population is
    # screened again instead of each entry against its candidates.
    watchlist_bulk_entries: int = Field(default=200, ge=1)

    # --- the early-warning reports ----------------------------------------------------
    # The scheduler makes the day's report as of this time, WIB, "HH:MM": the full edition
    # for supervisors and the aggregate one for local government, for the whole regency;
    # "": no scheduled report (on demand only).
    report_time: str = Field(default="06:00", pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9])?$")
    # The scheduled reports are also written here, one directory per day and edition
    # (<dir>/<date>/<edition>/report.html ...); None: stored in the database only.
    report_dir: Path | None = Path("var/reports")
    # An open alert is past its deadline after this many days, by severity.
    report_deadline_days: dict[str, int] = Field(
        default_factory=lambda: {"CRITICAL": 1, "HIGH": 3, "WARNING": 7, "INFO": 14}
    )
    # Agencies' delivery, acknowledgement and resolution times cover this many days.
    report_response_window_days: int = Field(default=30, ge=1, le=366)
    # The false-positive rate per rule counts the reviews of this many days.
    report_review_window_days: int = Field(default=90, ge=1, le=366)

    @field_validator("report_deadline_days")
    @classmethod
    def _a_deadline_per_severity(cls, days: dict[str, int]) -> dict[str, int]:
        severities = {"INFO", "WARNING", "HIGH", "CRITICAL"}
        if set(days) != severities:
            raise ValueError(f"give one deadline for each of {sorted(severities)}")
        if any(value < 1 for value in days.values()):
            raise ValueError("deadlines are at least 1 day")
        return days

    # --- signed alert feeds ---------------------------------------------------------
    # The directory of the feeds' Ed25519 signing keys: each private key PKCS#8,
    # encrypted with the passphrase, beside its public key and validity.
    feed_keys_dir: Path = Path("var/feed-keys")
    # The passphrase of the feed keys: from the environment
    # (PANTAU_FEED_KEY_PASSPHRASE), never a file; `make run` sets a development one.
    feed_key_passphrase: SecretStr | None = None
    # `pantau keys rotate` publishes the new key this long before it signs with it,
    # so every receiver has fetched it first.
    feed_key_publish_lead_seconds: float = Field(default=3600.0, ge=0)
    # A retired key stays in the published keys, valid for what it signed while in
    # use, for this long after it stopped signing.
    feed_key_overlap_seconds: float = Field(default=30 * 86400.0, ge=0)
    # Subscribe: a heartbeat when nothing was sent for this long; a subscriber that
    # does not take a message within the write bound is ended; entries read per query.
    feed_heartbeat_seconds: float = Field(default=15.0, gt=0)
    feed_write_seconds: float = Field(default=60.0, gt=0)
    feed_read_batch: int = Field(default=500, ge=1, le=10_000)
    # Open subscriptions per agency; they hold no call slot and no worker.
    agency_max_subscriptions: int = Field(default=500, ge=1)
    # CAP documents: the sender (an address of the office) and the status,
    # Actual, or Exercise for pilots.
    cap_sender: str = "kanim-tarempa@imigrasi.go.id"
    cap_status: Literal["Actual", "Exercise"] = "Actual"
    # The delivery workers (`pantau deliver`): which implementation of the agency
    # channels (real: the network; console: print; memory: keep in the process, for tests),
    # entries per claim and per push, the lease a worker holds on a channel while
    # it delivers, attempts before a delivery is dead-lettered, the backoff between
    # attempts (exponential with full jitter), and how often an idle worker looks.
    delivery_adapter: Literal["real", "console", "memory"] = "real"
    delivery_batch: int = Field(default=200, ge=1, le=10_000)
    delivery_lease_seconds: float = Field(default=30.0, gt=0)
    delivery_max_attempts: int = Field(default=50, ge=1)
    delivery_backoff_initial_seconds: float = Field(default=1.0, gt=0)
    delivery_backoff_max_seconds: float = Field(default=300.0, gt=0)
    delivery_poll_seconds: float = Field(default=1.0, gt=0)
    # Pantau's client certificate when it pushes to an agency over mutual TLS.
    delivery_client_cert_file: Path | None = None
    delivery_client_key_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = settings_file(development_fallback=_DEVELOPMENT_FALLBACK.get())
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path is not None and path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def settings_file(*, development_fallback: bool = False) -> Path | None:
    """The file settings are read from, or None: ``PANTAU_SETTINGS``, else ``./pantau.toml``.

    With ``development_fallback``, failing both, ``./deploy/pantau.dev.toml``
    (the file `make run` serves with) if present.
    """
    if "PANTAU_SETTINGS" in os.environ:
        return Path(os.environ["PANTAU_SETTINGS"])
    for candidate, allowed in (
        (DEFAULT_SETTINGS_FILE, True),
        (DEVELOPMENT_SETTINGS_FILE, development_fallback),
    ):
        if allowed and Path(candidate).is_file():
            return Path(candidate)
    return None


def load_settings(*, development_fallback: bool = False, **overrides: Any) -> Settings:
    """Settings from file and environment; keyword overrides win (for tests and tools).

    ``development_fallback``: see ``settings_file``.
    """
    token = _DEVELOPMENT_FALLBACK.set(development_fallback)
    try:
        return Settings(**overrides)
    finally:
        _DEVELOPMENT_FALLBACK.reset(token)
