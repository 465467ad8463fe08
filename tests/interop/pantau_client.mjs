// What the Node.js clients of the cross-language check share: the services
// loaded from the .proto files in proto/ and nothing else, mutual TLS with an
// agency's certificate, the officer and purpose headers, calls with a
// deadline, and the run that prints one JSON line.
//
// Each client takes HOST:PORT [--pki DIR] [--agency ID] [--now ISO] and its
// own options. With --pki it speaks mutual TLS, presenting DIR/<agency>.crt
// and .key and trusting DIR/ca.crt (made by `pantau pki`); without it,
// plaintext, naming the agency in the x-pantau-agency header (`pantau serve
// --insecure-dev`). --now (an ISO instant) is the time its requests go by,
// for a server whose clock is set (the suite's tests at WIB midnight);
// default: now. It prints one JSON line and exits 0 when every check holds;
// otherwise it prints the reason to stderr and exits 1 (2 for bad usage).

import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const PROTO_DIR = path.join(ROOT, "proto");
const CALL_SECONDS = 10;
const OVERALL_SECONDS = 50;

export class CheckFailed extends Error {}

export function check(condition, message) {
  if (!condition) {
    throw new CheckFailed(message);
  }
}

function usage(script, extraUsage, message) {
  process.stderr.write(
    `${message}\nusage: node ${script} HOST:PORT [--pki DIR] [--agency ID] [--now ISO]${extraUsage}\n`,
  );
  process.exit(2);
}

// The command line: the target, --pki, --agency (default `defaultAgency`),
// --now, and the client's own string options (`extra`: name -> default).
export function options({ script, defaultAgency, extra = {}, extraUsage = "" }) {
  let parsed;
  try {
    parsed = parseArgs({
      args: process.argv.slice(2),
      allowPositionals: true,
      options: {
        pki: { type: "string" },
        agency: { type: "string", default: defaultAgency },
        now: { type: "string" },
        ...Object.fromEntries(
          Object.entries(extra).map(([name, fallback]) => [
            name,
            fallback === undefined ? { type: "string" } : { type: "string", default: fallback },
          ]),
        ),
      },
    });
  } catch (error) {
    usage(script, extraUsage, error.message);
  }
  const [target] = parsed.positionals;
  if (!target || !/^[^\s]+:\d+$/.test(target)) {
    usage(
      script,
      extraUsage,
      `the first argument must be the server's HOST:PORT, got ${JSON.stringify(target)}`,
    );
  }
  if (parsed.values.now !== undefined) {
    const millis = Date.parse(parsed.values.now);
    if (Number.isNaN(millis)) {
      usage(script, extraUsage, `--now must be an ISO instant, got ${JSON.stringify(parsed.values.now)}`);
    }
    clockMillis = millis;
  }
  for (const name of Object.keys(extra)) {
    if (parsed.values[name] === undefined) {
      usage(script, extraUsage, `--${name} is required`);
    }
  }
  return { ...parsed.values, target };
}

// The services of pantau.v1 that `files` (paths under proto/) define.
export function loadServices(files) {
  const definition = protoLoader.loadSync(files, {
    includeDirs: [PROTO_DIR],
    keepCase: true, // field names as in the .proto files
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).pantau.v1;
}

export function credentials(pki, agency) {
  if (!pki) {
    return grpc.credentials.createInsecure();
  }
  const read = (name) => readFileSync(path.join(pki, name));
  return grpc.credentials.createSsl(read("ca.crt"), read(`${agency}.key`), read(`${agency}.crt`));
}

export function metadata(agency, tls, purpose) {
  const headers = new grpc.Metadata();
  headers.set("x-pantau-officer", "Interop check (Node.js client)");
  headers.set("x-pantau-purpose", purpose);
  if (!tls) {
    headers.set("x-pantau-agency", agency);
  }
  return headers;
}

// Promise form of a unary call, with a deadline; errors name the RPC.
export function call(client, method, request, headers) {
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

export function timestamp(date) {
  const millis = date.getTime();
  return { seconds: String(Math.floor(millis / 1000)), nanos: (millis % 1000) * 1e6 };
}

// A google.protobuf.Value as the JSON value it stands for. proto-loader
// brings the well-known types in protobufjs's own (camelCase) form, whatever
// keepCase says, so both spellings of each kind are read.
function plainValue(value) {
  const kind = value?.kind;
  const inner = value?.[kind];
  switch (kind) {
    case "nullValue":
    case "null_value":
      return null;
    case "numberValue":
    case "number_value":
    case "stringValue":
    case "string_value":
    case "boolValue":
    case "bool_value":
      return inner;
    case "structValue":
    case "struct_value":
      return plainStruct(inner);
    case "listValue":
    case "list_value":
      return (inner.values ?? []).map(plainValue);
    default:
      throw new CheckFailed(`a google.protobuf.Value without a kind: ${JSON.stringify(value)}`);
  }
}

// A google.protobuf.Struct as the JSON object it stands for.
export function plainStruct(struct) {
  return Object.fromEntries(
    Object.entries(struct?.fields ?? {}).map(([key, value]) => [key, plainValue(value)]),
  );
}

// The time the requests go by: --now if given, else the real time.
let clockMillis = null;
export function nowMillis() {
  return clockMillis === null ? Date.now() : clockMillis;
}

// The calendar day in the office's time zone (WIB) of `at` (default now), plus `days`.
export function localDate(days = 0, at = nowMillis()) {
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

// Runs `work` (an async function returning the result), prints the result as
// one JSON line and sets the exit code; gives up after OVERALL_SECONDS.
export async function main(name, work) {
  const watchdog = setTimeout(() => {
    process.stderr.write(`${name}: no result after ${OVERALL_SECONDS} s\n`);
    process.exit(1);
  }, OVERALL_SECONDS * 1000);
  watchdog.unref();
  try {
    const result = await work();
    process.stdout.write(`${JSON.stringify(result)}\n`);
    process.exitCode = 0;
  } catch (error) {
    const reason = error instanceof CheckFailed ? error.message : error.stack || String(error);
    process.stderr.write(`${name}: ${reason}\n`);
    process.exitCode = 1;
  }
}
