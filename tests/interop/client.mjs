// Cross-language check of Pantau's gRPC contract: a Node.js client that has
// nothing but the .proto files in proto/.
//
//   node tests/interop/client.mjs HOST:PORT [--pki DIR] [--agency ID] [--now ISO]
//
// With --pki it speaks mutual TLS, presenting DIR/<agency>.crt and .key and
// trusting DIR/ca.crt (made by `pantau pki`); without it, plaintext, naming
// the agency in the x-pantau-agency header (`pantau serve --insecure-dev`).
// The agency defaults to kanim-tarempa, the immigration office, which may
// register persons. --now (an ISO instant) is the time its requests go by, for
// a server whose clock is set (the suite's tests at WIB midnight); default: now.
//
// It registers a person with a fresh random document, records an entry on a
// visa on arrival, reports an address in Tarempa, then finds the person by
// document (GetPerson) and by place (ListPersonsNear). It prints one JSON line
// and exits 0 when every check holds; otherwise it prints the reason to
// stderr and exits 1 (2 for bad usage).

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const PROTO_DIR = path.join(ROOT, "proto");
const TAREMPA = { latitude: 3.2166, longitude: 106.2211 };
const SIANTAN = "21.05.01";
const CALL_SECONDS = 10;
const OVERALL_SECONDS = 50;

class CheckFailed extends Error {}

function usage(message) {
  process.stderr.write(
    `${message}\nusage: node tests/interop/client.mjs HOST:PORT [--pki DIR] [--agency ID] [--now ISO]\n`,
  );
  process.exit(2);
}

function options() {
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      allowPositionals: true,
      options: {
        pki: { type: "string" },
        agency: { type: "string", default: "kanim-tarempa" },
        now: { type: "string" },
      },
    });
  } catch (error) {
    usage(error.message);
  }
  const [target] = parsed.positionals;
  if (!target || !/^[^\s]+:\d+$/.test(target)) {
    usage(`the first argument must be the server's HOST:PORT, got ${JSON.stringify(target)}`);
  }
  if (parsed.values.now !== undefined) {
    const millis = Date.parse(parsed.values.now);
    if (Number.isNaN(millis)) {
      usage(`--now must be an ISO instant, got ${JSON.stringify(parsed.values.now)}`);
    }
    clockMillis = millis;
  }
  return { target, pki: parsed.values.pki, agency: parsed.values.agency };
}

function loadServices() {
  const definition = protoLoader.loadSync(
    ["pantau/v1/registry_service.proto", "pantau/v1/query_service.proto"],
    {
      includeDirs: [PROTO_DIR],
      keepCase: true, // field names as in the .proto files
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    },
  );
  const api = grpc.loadPackageDefinition(definition).pantau.v1;
  return { RegistryService: api.RegistryService, QueryService: api.QueryService };
}

function credentials(pki, agency) {
  if (!pki) {
    return grpc.credentials.createInsecure();
  }
  const read = (name) => readFileSync(path.join(pki, name));
  return grpc.credentials.createSsl(read("ca.crt"), read(`${agency}.key`), read(`${agency}.crt`));
}

function metadata(agency, tls) {
  const headers = new grpc.Metadata();
  headers.set("x-pantau-officer", "Interop check (Node.js client)");
  headers.set("x-pantau-purpose", "tests/interop/client.mjs contract check");
  if (!tls) {
    headers.set("x-pantau-agency", agency);
  }
  return headers;
}

// Promise form of a unary call, with a deadline; errors name the RPC.
function call(client, method, request, headers) {
  return new Promise((resolve, reject) => {
    const deadline = new Date(Date.now() + CALL_SECONDS * 1000);
    client[method](request, headers, { deadline }, (error, response) => {
      if (error) {
        const code = grpc.status[error.code] ?? error.code;
        reject(new CheckFailed(`${method} failed: ${code}: ${error.details || error.message}`));
      } else {
        resolve(response);
      }
    });
  });
}

function check(condition, message) {
  if (!condition) {
    throw new CheckFailed(message);
  }
}

function timestamp(date) {
  const millis = date.getTime();
  return { seconds: String(Math.floor(millis / 1000)), nanos: (millis % 1000) * 1e6 };
}

// The time the requests go by: --now if given, else the real time.
let clockMillis = null;
function nowMillis() {
  return clockMillis === null ? Date.now() : clockMillis;
}

// The calendar day in the office's time zone (WIB) of `at` (default now), plus `days`.
function localDate(days = 0, at = nowMillis()) {
  const [year, month, day] = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Jakarta" })
    .format(new Date(at))
    .split("-")
    .map(Number);
  const shifted = new Date(Date.UTC(year, month - 1, day + days));
  return {
    year: shifted.getUTCFullYear(),
    month: shifted.getUTCMonth() + 1,
    day: shifted.getUTCDate(),
  };
}

async function findNear(queries, headers, personId) {
  let pageToken = "";
  for (let page = 1; page <= 20; page += 1) {
    const response = await call(
      queries,
      "ListPersonsNear",
      { center: TAREMPA, radius_meters: 2000, page_size: 500, page_token: pageToken },
      headers,
    );
    const hit = response.results.find((result) => result.person.id === personId);
    if (hit) {
      return { hit, page };
    }
    pageToken = response.next_page_token;
    if (!pageToken) {
      break;
    }
  }
  return { hit: undefined, page: 0 };
}

async function run({ target, pki, agency }) {
  const { RegistryService, QueryService } = loadServices();
  const creds = credentials(pki, agency);
  const registry = new RegistryService(target, creds);
  const queries = new QueryService(target, creds);
  const headers = metadata(agency, Boolean(pki));
  try {
    const document = {
      issuing_state: "AUS",
      number: `NJ${randomBytes(4).toString("hex").toUpperCase()}`,
    };
    const person = await call(
      registry,
      "RegisterPerson",
      {
        person: {
          family_name: "Interop",
          given_names: "Node Client",
          nationality: "AUS",
          birth_date: { year: 1985, month: 6, day: 1 },
          sex: "SEX_FEMALE",
          documents: [document],
        },
      },
      headers,
    );
    check(person.id, "RegisterPerson returned no id");
    check(
      person.documents.some((d) => d.number === document.number),
      "RegisterPerson did not return the document",
    );

    // An hour ago: just after midnight (WIB) that is yesterday, and the permit
    // must then start on that day.
    const enteredMillis = nowMillis() - 3600 * 1000;
    const stay = await call(
      registry,
      "RecordEntry",
      {
        person_id: person.id,
        port_code: "IDTRE",
        entered_at: timestamp(new Date(enteredMillis)),
        permit: {
          permit_number: `B1-INTEROP-${document.number}`,
          type: "PERMIT_TYPE_VOA",
          valid_from: localDate(0, enteredMillis),
          valid_until: localDate(29, enteredMillis),
          purpose: "wisata bahari",
        },
      },
      headers,
    );
    check(stay.permit?.type === "PERMIT_TYPE_VOA", `the stay's permit is ${stay.permit?.type}`);

    const address = await call(
      registry,
      "ReportAddress",
      {
        person_id: person.id,
        address: {
          line: "Jl. Hang Tuah No. 7, RT 01/RW 02, Kel. Terempa, Kec. Siantan",
          location: TAREMPA,
        },
        effective_from: localDate(0),
      },
      headers,
    );
    check(
      address.address?.district_code === SIANTAN,
      `ReportAddress filled district_code ${JSON.stringify(address.address?.district_code)}`,
    );

    const dossier = await call(queries, "GetPerson", { document }, headers);
    check(dossier.person?.id === person.id, "GetPerson by document found another person");
    check(dossier.current_stay?.id === stay.id, "GetPerson shows no current stay or another one");
    check(
      dossier.current_address?.address?.district_code === SIANTAN,
      "GetPerson's current address is not in Siantan",
    );

    const { hit, page } = await findNear(queries, headers, person.id);
    check(hit, "ListPersonsNear (2 km around Tarempa) does not list the person");
    check(
      hit.address?.district_code === SIANTAN,
      `ListPersonsNear gives district_code ${JSON.stringify(hit.address?.district_code)}`,
    );
    check(hit.distance_meters <= 2000, `ListPersonsNear distance ${hit.distance_meters} m`);

    return {
      ok: true,
      target,
      tls: Boolean(pki),
      agency,
      person_id: person.id,
      document,
      stay_id: stay.id,
      permit_type: stay.permit.type,
      address: {
        district_code: address.address.district_code,
        village_code: address.address.village_code,
        village_name: address.address.village_name,
      },
      get_person: {
        found: true,
        current_stay_id: dossier.current_stay.id,
        district_code: dossier.current_address.address.district_code,
      },
      near: {
        found: true,
        page,
        distance_meters: hit.distance_meters,
        district_code: hit.address.district_code,
      },
    };
  } finally {
    registry.close();
    queries.close();
  }
}

const watchdog = setTimeout(() => {
  process.stderr.write(`interop client: no result after ${OVERALL_SECONDS} s\n`);
  process.exit(1);
}, OVERALL_SECONDS * 1000);
watchdog.unref();

try {
  const result = await run(options());
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exitCode = 0;
} catch (error) {
  const reason = error instanceof CheckFailed ? error.message : error.stack || String(error);
  process.stderr.write(`interop client: ${reason}\n`);
  process.exitCode = 1;
}
