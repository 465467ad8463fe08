// Cross-language check of the alerts in Pantau's gRPC contract: a supervisor's
// Node.js client that has nothing but the .proto files in proto/
// (tests/interop/pantau_client.mjs says how it connects, and its options).
//
//   node tests/interop/alerts_client.mjs HOST:PORT --person ID [--pki DIR] [--agency ID] [--now ISO]
//
// The agency defaults to supervisor-tarempa. It lists the OVERSTAY alerts
// (ListAlerts, page by page, newest first) until it finds the one about the
// person, checks that its evidence gives the days over and the fee accrued,
// and reads it with its events (GetAlert). It prints what it found: the
// alert, its evidence as plain JSON, and its events, so that two runs can be
// compared (a rule run in between that changed nothing leaves them equal).

import {
  CheckFailed,
  call,
  check,
  credentials,
  loadServices,
  main,
  metadata,
  options,
  plainStruct,
} from "./pantau_client.mjs";

const MAX_PAGES = 50;

async function findAlert(queries, headers, personId) {
  let pageToken = "";
  for (let page = 1; page <= MAX_PAGES; page += 1) {
    const response = await call(
      queries,
      "ListAlerts",
      { rules: ["ALERT_RULE_OVERSTAY"], page_size: 500, page_token: pageToken },
      headers,
    );
    for (const alert of response.alerts) {
      check(alert.rule === "ALERT_RULE_OVERSTAY", `ListAlerts gave an alert of ${alert.rule}`);
    }
    const hit = response.alerts.find((alert) => alert.person_id === personId);
    if (hit) {
      return { alert: hit, page };
    }
    pageToken = response.next_page_token;
    if (!pageToken) {
      break;
    }
  }
  throw new CheckFailed(`ListAlerts (rule OVERSTAY) lists no alert about person ${personId}`);
}

function instant(timestamp) {
  return timestamp ? `${timestamp.seconds}.${String(timestamp.nanos).padStart(9, "0")}` : null;
}

async function run({ target, pki, agency, person }) {
  const { QueryService } = loadServices(["pantau/v1/query_service.proto"]);
  const queries = new QueryService(target, credentials(pki, agency));
  const headers = metadata(agency, Boolean(pki), "tests/interop/alerts_client.mjs contract check");
  try {
    const { alert, page } = await findAlert(queries, headers, person);
    const evidence = plainStruct(alert.evidence);
    check(Number.isInteger(evidence.days_over), `days_over is ${evidence.days_over}`);
    check(evidence.days_over > 0, `days_over is ${evidence.days_over}`);
    check(
      evidence.fee_accrued_idr === evidence.days_over * evidence.fee_per_day_idr,
      `fee_accrued_idr ${evidence.fee_accrued_idr} is not days_over ${evidence.days_over}` +
        ` times fee_per_day_idr ${evidence.fee_per_day_idr}`,
    );
    const read = await call(queries, "GetAlert", { alert_id: alert.id }, headers);
    check(read.alert?.id === alert.id, "GetAlert returned another alert");
    check(read.events.length > 0, "GetAlert returned no events");
    check(read.events[0].kind === "ALERT_EVENT_KIND_OPENED", "the first event is not OPENED");
    const seqs = read.events.map((event) => BigInt(event.seq));
    check(
      seqs.every((seq, i) => i === 0 || seqs[i - 1] < seq),
      "GetAlert's events are not oldest first",
    );
    return {
      ok: true,
      target,
      tls: Boolean(pki),
      agency,
      page,
      alert: {
        id: alert.id,
        rule: alert.rule,
        subject_kind: alert.subject_kind,
        person_id: alert.person_id,
        stay_id: alert.stay_id,
        severity: alert.severity,
        status: alert.status,
        action: alert.action,
        district_code: alert.district_code,
        summary_en: alert.summary_en,
        first_detected_at: instant(alert.first_detected_at),
        changed_at: instant(alert.changed_at),
      },
      evidence,
      events: read.events.map((event) => ({
        seq: event.seq,
        kind: event.kind,
        severity: event.severity,
        rule_run_id: event.rule_run_id,
        days_over: plainStruct(event.evidence).days_over,
      })),
    };
  } finally {
    queries.close();
  }
}

await main("interop alerts client", () =>
  run(
    options({
      script: "tests/interop/alerts_client.mjs",
      defaultAgency: "supervisor-tarempa",
      extra: { person: undefined },
      extraUsage: " --person ID",
    }),
  ),
);
