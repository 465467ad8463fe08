"""The office's reviews of the sample's alerts, as its officers would make them after the
rules ran (`make run`: `pantau review-sample`), so that the early-warning report has
decisions to count: acknowledged, confirmed and dismissed alerts of several rules.

The decisions are drawn from the alerts, not at random: for each rule, its alerts in
the order of the person's name, of which the open ones are reviewed: every third is
acknowledged, every fifth confirmed (an overstay past 60 days always: the deportation
is the office's to decide; the others every second acknowledged, never dismissed) and
every seventh dismissed (a permit about to be extended,
a sighting explained). Watchlist matches are left to a supervisor (four eyes). A
second run decides nothing more: the alerts it would decide are no longer open.
"""

from __future__ import annotations

from exchange_service.app import build_application
from exchange_service.domain import commands as cmd
from exchange_service.domain.alerts import Alert, AlertStatus, ReviewDecision, RuleName, Severity
from exchange_service.domain.audit import Actor
from exchange_service.domain.clock import Clock, system_clock
from exchange_service.settings import Settings

REVIEWER = Actor.agency("supervisor-tarempa", "SUPERVISOR", "Kasi Intelijen dan Penindakan")
NOTES = {
    ReviewDecision.ACKNOWLEDGE: "Diterima; petugas ditugaskan memeriksa",
    ReviewDecision.CONFIRM: "Dikonfirmasi setelah pemeriksaan lapangan",
    ReviewDecision.DISMISS: "Ditolak: keadaan sudah dijelaskan dan dicatat",
}


def _decision(rule: RuleName, severity: Severity, index: int) -> ReviewDecision | None:
    if rule is RuleName.WATCHLIST_MATCH:
        return None
    if rule is RuleName.OVERSTAY:
        # An overstay is a fact of the records: confirmed past 60 days, else acknowledged.
        if severity is Severity.CRITICAL:
            return ReviewDecision.CONFIRM
        return ReviewDecision.ACKNOWLEDGE if index % 2 else None
    if index % 7 == 6:
        return ReviewDecision.DISMISS
    if index % 5 == 4:
        return ReviewDecision.CONFIRM
    if index % 3 == 2:
        return ReviewDecision.ACKNOWLEDGE
    return None


def review_sample(settings: Settings, *, clock: Clock = system_clock) -> dict[str, int]:
    """Reviews the open alerts not yet reviewed; the decisions made, by decision."""
    application = build_application(settings, clock=clock)
    made: dict[str, int] = {}
    try:
        alerts = application.alerts
        listed: list[Alert] = []
        token = ""
        while True:
            page = alerts.list_alerts(cmd.ListAlerts(page_size=200, page_token=token))
            listed.extend(page.items)
            token = page.next_page_token
            if not token:
                break
        for rule in RuleName:
            mine = sorted(
                (a for a in listed if a.rule is rule),
                key=lambda a: (str(a.evidence.get("person_name", "")), a.subject_id),
            )
            for index, alert in enumerate(mine):
                decision = _decision(rule, alert.severity, index)
                if decision is None or alert.status is not AlertStatus.OPEN:
                    continue
                alerts.review_alert(
                    cmd.ReviewAlert(str(alert.id), str(decision), NOTES[decision]), REVIEWER
                )
                made[str(decision)] = made.get(str(decision), 0) + 1
    finally:
        application.close()
    return made
