// Cross-language check of Pantau's gRPC contract: a Node.js client that has
// nothing but the .proto files in proto/ (tests/interop/pantau_client.mjs
// says how it connects, and its options).
//
//   node tests/interop/client.mjs HOST:PORT [--pki DIR] [--agency ID] [--now ISO]
//
// The agency defaults to kanim-tarempa, the immigration office, which may
// register persons. It registers a person with a fresh random document,
// records an entry on a visa on arrival, reports an address in Tarempa, then
// finds the person by document (GetPerson) and by place (ListPersonsNear).

import { randomBytes } from "node:crypto";

import {
  call,
  check,
  credentials,
  loadServices,
  localDate,
  main,
  metadata,
  nowMillis,
  options,
  timestamp,
} from "./pantau_client.mjs";

const TAREMPA = { latitude: 3.2166, longitude: 106.2211 };
const SIANTAN = "21.05.01";

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
  const { RegistryService, QueryService } = loadServices([
    "pantau/v1/registry_service.proto",
    "pantau/v1/query_service.proto",
  ]);
  const creds = credentials(pki, agency);
  const registry = new RegistryService(target, creds);
  const queries = new QueryService(target, creds);
  const headers = metadata(agency, Boolean(pki), "tests/interop/client.mjs contract check");
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

await main("interop client", () =>
  run(options({ script: "tests/interop/client.mjs", defaultAgency: "kanim-tarempa" })),
);
