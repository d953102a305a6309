/**
 * A seeded fuzzer for the HTTP API: generates requests over every route (valid requests mutated,
 * junk bodies, headers, query strings, path parameters and methods), sends them to a listening
 * Ferry over real sockets, and checks each answer: never a 5xx, every error an
 * application/problem+json body with a stable code, every success JSON, never a hang, and the
 * server still answering /healthz afterwards.
 *
 * Reproducible: every case comes from one PRNG seeded with FERRY_FUZZ_SEED (default below), and
 * the cases are generated up front, in order, before any is sent, so the answers (which arrive in
 * any order) cannot change what is generated. Ids of the resources made at setup differ between
 * runs; a failure prints the exact request that was sent.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { Agent, request as undiciRequest } from "undici";
import type { Config } from "../../src/config.js";
import { ADMIN_TOKEN, startPipeline } from "./harness.js";
import { exchange, parseResponses } from "./raw-http.js";
import { answerMismatch } from "./openapi-check.js";

export const DEFAULT_SEED = 20261129;

/** The seed of this run: FERRY_FUZZ_SEED (decimal or 0x hex) or the default. */
export function fuzzSeed(): number {
  const raw = process.env["FERRY_FUZZ_SEED"];
  if (raw === undefined || raw === "") return DEFAULT_SEED;
  const seed = Number(raw);
  if (!Number.isInteger(seed)) throw new Error(`FERRY_FUZZ_SEED must be a whole number; got ${JSON.stringify(raw)}`);
  return seed >>> 0;
}

/** mulberry32: a small, fast 32-bit PRNG; the same seed gives the same sequence everywhere. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** A whole number in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** What the fuzzer knows of the server it fuzzes: made at setup, before any case is generated. */
export interface FuzzTargets {
  adminToken: string;
  /** A live token of `accountId`. */
  accountToken: string;
  accountId: string;
  /** Another account, with a token of its own: cross-account access must be 404, never 5xx. */
  otherAccountId: string;
  otherAccountToken: string;
  /** A revoked token of `accountId`. */
  revokedToken: string;
  /** A destination of `accountId` the fuzzer never deletes. */
  destinationId: string;
  /** Resources the fuzzer may delete (never the account, token or destination above). */
  spareAccountIds: string[];
  spareDestinationIds: string[];
  spareTokenIds: string[];
  /** Postbacks that exist (queued: no worker runs). */
  postbackIds: string[];
  /** An event of `accountId`, in session `sessionId`; the category `party` has a schema. */
  eventId: string;
  sessionId: string;
  /** Set when the seed systems' routes are on (FERRY_COMPAT): the tokens they take. */
  compat?: { registrationToken: string; triggerToken: string };
}

/** One request as generated: enough to send it again by hand. */
export interface FuzzCase {
  index: number;
  /** What the generator meant to exercise (for the report). */
  kind: string;
  method: string;
  /** Path and query, as sent on the request line. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Sent over a raw socket (bytes no well-behaved client sends), else with undici. */
  raw: boolean;
  /** Made from a seed system's route: its errors come in that system's shape, not problem+json. */
  compat?: boolean;
}

export interface FuzzFailure {
  case: FuzzCase;
  problem: string;
  status?: number;
  contentType?: string;
  body?: string;
}

export interface FuzzReport {
  seed: number;
  cases: number;
  byClass: Record<string, number>;
  byCode: Record<string, number>;
  fiveXx: number;
  nonProblem: number;
  hangs: number;
  noAnswer: number;
  crashes: number;
  ms: number;
  failures: FuzzFailure[];
}

// ---------------------------------------------------------------------------------------------
// Values

/** Hosts a generated URL may name: only this machine. No name here needs DNS. */
const LOCAL_URLS = [
  "http://127.0.0.1:9/hook",
  "http://127.0.0.1:9/cb?x={x}&y={y}",
  "http://localhost:9/p/{id}",
  "http://[::1]:9/q?v={v}",
  "https://127.0.0.1:9/{a.b}",
  "HTTP://127.0.0.1:9/upper",
  " http://127.0.0.1:9/spaced ",
  "http://127.0.0.1:9/{x}{y}{z}",
  "http://127.0.0.1:9/%ZZ/{x}",
  "http://127.0.0.1:99999/badport",
  "http://user:pass@127.0.0.1:9/creds",
  "http://127.0.0.1:9/{",
  "http://127.0.0.1:9/}{}",
  "http://127.0.0.1:9/" + "a".repeat(9000),
];
/** URLs that must be refused (no scheme, another scheme, no host): none reaches DNS either. */
const BAD_URLS = [
  "", " ", "/relative/{x}", "127.0.0.1:9/x", "ftp://127.0.0.1/x", "javascript:alert(1)", "http://", "http:///x",
  "{scheme}://127.0.0.1/", "file:///etc/passwd", "data:text/plain,hi", "http://[::1", "http://%00/", "mailto:a@b",
  "http://127.0.0.1:9/\u0000", "http://127.0.0.1:9/\r\nX-Injected: 1",
];

const UNICODE = ["é", "ß", "中文", "💥", "\u202e", "\ufeff", "\u0000", "\u0007", "\u2028", "\ud800", "\udfff", "\ud83d", "Ω", "\\", '"', "{", "}", "%", "%ZZ", "%00"];

/** A string, sometimes long, with unicode, control characters and lone surrogates. */
function randomString(rng: Rng, maxLen = 40): string {
  const roll = rng.int(10);
  if (roll === 0) return "";
  if (roll === 1) return rng.pick(["a", "x", "é", "\u0000", "💥"]).repeat(rng.pick([100, 1000, 20_000]));
  let out = "";
  const len = rng.int(maxLen) + 1;
  for (let i = 0; i < len; i++) {
    out += rng.chance(0.2) ? rng.pick(UNICODE) : String.fromCharCode(0x20 + rng.int(0x5f));
  }
  // Never a URL with a host name of its own: a fuzzed destination must not need DNS.
  return /^\s*https?:/i.test(out) ? "x" + out : out;
}

const NUMBERS = [0, -0, 1, -1, 0.5, 1e308, -1e308, 2 ** 53 + 2, -(2 ** 53) - 2, 4294967296, 100, 101, 1000, 1001, 120_001, 1e-300, 3.14];

/** The string with lone surrogates replaced (encodeURIComponent throws on them). */
const wellFormed = (s: string): string => s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");

/** Any JSON value, some of them nested; depth stays small (deep nesting is its own case). */
export function randomValue(rng: Rng, depth = 0): unknown {
  const roll = rng.int(depth > 3 ? 8 : 11);
  switch (roll) {
    case 0: return null;
    case 1: return rng.chance(0.5);
    case 2: case 3: return rng.pick(NUMBERS);
    case 4: case 5: return randomString(rng);
    case 6: return rng.pick(LOCAL_URLS.concat(BAD_URLS));
    case 7: return rng.pick(["GET", "post", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT", "get ", "*", "order.*", "order.created", "2026-11-23T00:00:00Z", "9999-99-99", "0000-01-01T00:00:00Z"]);
    case 8: {
      const n = rng.int(4);
      return Array.from({ length: n }, () => randomValue(rng, depth + 1));
    }
    default: {
      const out: Record<string, unknown> = {};
      for (let i = rng.int(4); i > 0; i--) out[rng.pick(["x", "y", "id", "a", "b", "__proto__", "constructor", "toString", randomString(rng, 8)])] = randomValue(rng, depth + 1);
      return out;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Valid requests, the starting points of mutation (as the README and the existing tests send them)

interface Template {
  method: string;
  /** Path with :name placeholders filled by `pathParam`. */
  path: string;
  body?: () => unknown;
  /** Who usually sends it. */
  auth: "admin" | "account" | "either" | "none" | "registration" | "trigger";
  query?: () => Record<string, string>;
  ingest?: boolean;
  /** A seed system's route (FERRY_COMPAT). */
  compat?: boolean;
}

function templates(t: FuzzTargets, rng: Rng): Template[] {
  const dataObject = () => ({ x: rng.int(100), y: "hello world", id: "abc", v: rng.chance(0.5), a: { b: "nested" } });
  const ingestBody = () => ({
    endpoint: { method: rng.pick(["GET", "POST"]), url: rng.pick(LOCAL_URLS.slice(0, 5)), default: "none", max_attempts: 3 },
    data: Array.from({ length: rng.int(3) + 1 }, dataObject),
  });
  const destinationBody = () => ({
    account_id: t.accountId, url: rng.pick(LOCAL_URLS.slice(0, 5)), method: "POST", event_types: ["order.*"], headers: { "X-Partner": "p" },
    enabled: true, timeout_ms: 1000, max_attempts: 3, default_value: "", rate_limit: 10, concurrency: 2, failure_threshold: 5, failure_window_ms: 60_000,
  });
  const eventObject = () => ({
    session_id: rng.pick([t.sessionId, "fuzz-" + rng.int(5)]), category: rng.pick(["party", "click.button", "page"]), name: "AppName",
    data: { host: "www.party.com", path: "/" + rng.int(9) }, timestamp: rng.pick(["2021-09-26 09:15:27.243860", "2021-09-26T09:15:27Z", "2021-09-26T11:15:27.5+02:00"]),
    ...(rng.chance(0.3) ? { id: "client-" + rng.int(50) } : {}),
  });
  const eventFilters = () => ({ session_id: t.sessionId, category: "party", from: "2021-09-26T00:00:00Z", to: "2021-09-27 00:00:00", limit: "50" });
  const accountBody = () => ({ name: "Acme " + rng.int(1000), email: "ops@acme.example", website: "http://127.0.0.1:9/", metadata: { plan: "pro" }, dedupe_window_ms: 0 });
  return [
    { method: "GET", path: "/", auth: "none" },
    { method: "GET", path: "/healthz", auth: "none" },
    { method: "GET", path: "/readyz", auth: "none" },
    { method: "GET", path: "/dashboard/", auth: "none" },
    { method: "GET", path: "/dashboard/:dashboardFile", auth: "none" },
    { method: "GET", path: "/openapi.json", auth: "none" },
    { method: "GET", path: "/docs", auth: "none" },
    { method: "GET", path: "/docs/:docsFile", auth: "none" },
    { method: "POST", path: "/ingest", body: ingestBody, auth: "either", ingest: true },
    { method: "POST", path: "/ingest.php", body: ingestBody, auth: "either", ingest: true },
    { method: "POST", path: "/v1/push", body: () => (rng.chance(0.3) ? [dataObject(), dataObject()] : dataObject()), auth: "either", ingest: true, query: () => ({ type: "order.created", account_id: t.accountId }) },
    // Data Pusher's route when FERRY_COMPAT has data-pusher: its answers are then in that system's shape.
    { method: "POST", path: "/server/incoming_data", body: dataObject, auth: "account", ingest: true, query: () => ({ type: "order.created" }), ...(t.compat ? { compat: true } : {}) },
    { method: "POST", path: "/v1/accounts", body: accountBody, auth: "admin" },
    { method: "GET", path: "/v1/accounts", auth: "admin", query: () => ({ limit: "10" }) },
    { method: "GET", path: "/v1/accounts/:account", auth: "either" },
    { method: "PATCH", path: "/v1/accounts/:account", body: () => ({ metadata: { plan: "team" }, dedupe_window_ms: 1000 }), auth: "admin" },
    { method: "DELETE", path: "/v1/accounts/:spareAccount", auth: "admin" },
    { method: "POST", path: "/v1/accounts/:account/tokens", body: () => ({ name: "production" }), auth: "either" },
    { method: "GET", path: "/v1/accounts/:account/tokens", auth: "either" },
    { method: "DELETE", path: "/v1/accounts/:account/tokens/:spareToken", auth: "either" },
    { method: "POST", path: "/v1/destinations", body: destinationBody, auth: "either" },
    { method: "GET", path: "/v1/destinations", auth: "either", query: () => ({ account_id: t.accountId, limit: "5" }) },
    { method: "GET", path: "/v1/destinations/:destination", auth: "either" },
    { method: "PATCH", path: "/v1/destinations/:destination", body: () => ({ event_types: ["order.*", "user.created"], timeout_ms: 2000, enabled: true }), auth: "either" },
    { method: "DELETE", path: "/v1/destinations/:spareDestination", auth: "either" },
    { method: "GET", path: "/v1/destinations/:destination/secret", auth: "either" },
    { method: "POST", path: "/v1/destinations/:destination/rotate-secret", auth: "either" },
    { method: "POST", path: "/v1/destinations/:destination/replay", body: () => ({ since: "2026-01-01T00:00:00Z", until: 1_900_000_000_000 }), auth: "either" },
    { method: "POST", path: "/v1/events", body: () => (rng.chance(0.5) ? Array.from({ length: rng.int(4) + 1 }, eventObject) : eventObject()), auth: "either", ingest: true, query: (): Record<string, string> => (rng.chance(0.2) ? { atomic: "true", account_id: t.accountId } : { account_id: t.accountId }) },
    { method: "GET", path: "/v1/events", auth: "either", query: () => ({ ...eventFilters(), account_id: t.accountId }) },
    { method: "POST", path: "/v1/events/query", body: () => ({ ...eventFilters(), limit: 10, account_id: t.accountId }), auth: "either" },
    { method: "GET", path: "/v1/events/:event", auth: "either", query: () => ({ account_id: t.accountId }) },
    { method: "GET", path: "/v1/sessions/:session", auth: "either", query: () => ({ account_id: t.accountId, limit: "10" }) },
    { method: "GET", path: "/v1/sessions", auth: "either", query: () => ({ account_id: t.accountId, from: "2021-09-26T00:00:00Z", name: "AppName" }) },
    { method: "PUT", path: "/v1/event-types/:category", body: () => ({ schema: { type: "object", properties: { host: { type: "string", maxLength: 100 } } }, description: "a page" }), auth: "either", query: () => ({ account_id: t.accountId }) },
    { method: "GET", path: "/v1/event-types/:category", auth: "either", query: () => ({ account_id: t.accountId }) },
    { method: "GET", path: "/v1/event-types", auth: "either", query: () => ({ account_id: t.accountId, limit: "10" }) },
    { method: "DELETE", path: "/v1/event-types/:spareCategory", auth: "either", query: () => ({ account_id: t.accountId }) },
    { method: "GET", path: "/v1/postbacks", auth: "either", query: () => ({ account_id: t.accountId, state: rng.pick(["pending", "failed", "delivered", "dead", "held", "cancelled"]), status_code: "503", q: rng.pick(["pb_0", "timeout", "/hook"]), since: "2026-01-01T00:00:00Z", limit: "10" }) },
    { method: "GET", path: "/v1/destinations/:destination/stats", auth: "either", query: () => ({ bucket: rng.pick(["minute", "hour"]) }) },
    { method: "GET", path: "/v1/stats", auth: "either", query: () => ({ account_id: t.accountId, since: "2026-01-01T00:00:00Z", until: "2026-01-02T00:00:00Z" }) },
    { method: "GET", path: "/v1/postbacks/:postback", auth: "either" },
    { method: "POST", path: "/v1/postbacks/:postback/retry", auth: "either" },
    { method: "POST", path: "/v1/broadcast", body: () => (rng.chance(0.3) ? [dataObject(), dataObject()] : dataObject()), auth: t.compat && rng.chance(0.5) ? "trigger" : "admin", ingest: true, query: () => ({ type: rng.pick(["relation_added", "order.created", "call.standby"]) }) },
    ...(t.compat ? compatTemplates(t, rng, dataObject) : []),
  ];
}

/** The seed systems' own routes, as their clients send them (docs/seeds.md). */
function compatTemplates(t: FuzzTargets, rng: Rng, dataObject: () => Record<string, unknown>): Template[] {
  const url = () => rng.pick(LOCAL_URLS.slice(0, 5));
  // A DELETE names only a spare (in the body here): the targets must survive the run.
  return [
    { method: "POST", path: "/account/", body: () => ({ account_name: "gangdhars" + rng.int(100), email: "gangs2@gamil.com", website: "https://gangs.com" }), auth: "admin" },
    { method: "GET", path: "/account/", auth: "admin", query: (): Record<string, string> => (rng.chance(0.7) ? { account_id: t.accountId } : {}) },
    { method: "PATCH", path: "/account/", body: () => ({ account_id: t.accountId, secret_token: t.accountToken, email: "gangs4@gamil.com", website: "hello.com" }), auth: "none" },
    { method: "DELETE", path: "/account/", body: () => ({ account_id: rng.pick(t.spareAccountIds) }), auth: "admin" },
    { method: "POST", path: "/destination/", body: () => ({ account_id: t.accountId, url: url(), http_method: rng.pick(["GET", "POST", "PUT"]), headers: { "APP-ID": "1234" } }), auth: "account" },
    { method: "GET", path: "/destination/", auth: "account", query: () => ({ account_id: t.accountId }) },
    { method: "PATCH", path: "/destination/", body: () => ({ destination_id: t.destinationId, http_method: "POST", headers: { "X-A": "b" } }), auth: "account" },
    { method: "DELETE", path: "/destination/", body: () => ({ destination_id: rng.pick(t.spareDestinationIds) }), auth: "account" },
    { method: "POST", path: "/server/incoming_data", body: () => ({ account_id: t.accountId, secret_token: t.accountToken, data: dataObject() }), auth: "none", ingest: true },
    { method: "GET", path: "/server/incoming_data", auth: "none", query: () => ({ account_id: t.accountId, secret_token: t.accountToken, x: String(rng.int(9)) }) },
    { method: "POST", path: "/webhook", body: () => ({ name: "webhook-consumer-" + rng.int(5), callbackURL: url() }), auth: "registration" },
    { method: "POST", path: "/webhooks/account", body: () => ({ user_id: "user-" + rng.int(5), user_email: "you@email.bar" }), auth: "registration" },
    { method: "POST", path: "/webhooks/subscribe", body: () => ({ event: rng.pick(["relation_added", "relation_deleted"]), url: url() }), auth: "account" },
    { method: "POST", path: "/webhooks/trigger", body: () => ({ event: "relation_added", payload: { relation: rng.int(9), ok: true } }), auth: "trigger" },
  ].map((template) => ({ ...template, compat: true }) as Template);
}

/** A path parameter: usually a real id, else junk a router and a store must survive. */
function pathParam(rng: Rng, t: FuzzTargets, name: string): string {
  if (rng.chance(0.75)) {
    switch (name) {
      case "account": return rng.chance(0.85) ? t.accountId : t.otherAccountId;
      case "spareAccount": return rng.pick(t.spareAccountIds);
      case "spareToken": return rng.pick(t.spareTokenIds);
      case "destination": return t.destinationId;
      case "spareDestination": return rng.pick(t.spareDestinationIds);
      case "postback": return rng.pick(t.postbackIds);
      case "event": return t.eventId;
      case "session": return t.sessionId;
      case "category": return "party";
      case "docsFile": return rng.pick(["json", "yaml", "static/index.css", "static/swagger-ui-bundle.js", "static/swagger-initializer.js", "static/logo.svg", "static/favicon-32x32.png"]);
      case "spareCategory": return rng.pick(["page", "click.button", "spare"]);
    }
  }
  return rng.pick([
    "acct_00000000000000000000000000", "dst_x", "pb_" + "0".repeat(26), "..", ".", "%2e%2e", "%2F", "%00", "%ZZ", "%", "%e2%82", "%F0%9F%92%A5",
    "a".repeat(100), "a".repeat(101), "a".repeat(5000), encodeURIComponent("💥\u0000"), "0", "-1", "null", "undefined",
    "__proto__", "constructor", "'; DROP TABLE accounts; --", "%27%20OR%201%3D1", "*", "~", encodeURIComponent(wellFormed(randomString(rng, 20))).slice(0, 300),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Mutations

/** Changes a JSON value in place (or returns a new one): a field's type, a field gone, one added. */
function mutateValue(rng: Rng, value: unknown, depth = 0): unknown {
  if (value !== null && typeof value === "object" && depth < 4 && rng.chance(0.6)) {
    if (Array.isArray(value)) {
      if (value.length && rng.chance(0.7)) {
        const i = rng.int(value.length);
        value[i] = mutateValue(rng, value[i], depth + 1);
      } else if (rng.chance(0.5)) value.push(randomValue(rng));
      else value.length = 0;
      return value;
    }
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record);
    const roll = rng.int(10);
    if (keys.length && roll < 6) {
      const key = rng.pick(keys);
      record[key] = mutateValue(rng, record[key], depth + 1);
    } else if (keys.length && roll < 8) {
      delete record[rng.pick(keys)];
    } else {
      record[rng.pick(["extra", "name", "url", "endpoint", "data", "account_id", "since", "__proto__", randomString(rng, 10)])] = randomValue(rng);
    }
    return record;
  }
  const roll = rng.int(8);
  if (roll === 0) return [value];
  if (roll === 1) return { value };
  // Near misses: a valid string with one odd character in it, a valid number nudged. These get
  // past the type checks and into the range checks and the stores behind them.
  if (roll <= 4 && typeof value === "string") {
    const at = rng.int(value.length + 1);
    return value.slice(0, at) + rng.pick(UNICODE) + value.slice(at);
  }
  if (roll <= 4 && typeof value === "number") return rng.pick([value + 1, value - 1, value + 0.5, -value, value * 1e6, value * 1e300]);
  return randomValue(rng);
}

/** `depth` levels of nesting around a value: under, at and over the documented limit (100). */
function nest(depth: number, inner: unknown, arrays: boolean): string {
  const open = arrays ? "[" : '{"a":';
  const close = arrays ? "]" : "}";
  return open.repeat(depth) + JSON.stringify(inner) + close.repeat(depth);
}

/** A body as text: JSON of the (mutated) value, or JSON broken in one of many ways. */
function bodyText(rng: Rng, value: unknown): Buffer {
  const json = JSON.stringify(value) ?? "null";
  const roll = rng.int(40);
  switch (roll) {
    case 0: return Buffer.from(json.slice(0, rng.int(json.length + 1))); // truncated
    case 1: return Buffer.from(json + rng.pick(["}", "]", ",", "x", " ", "\u0000", "\n{}"])); // trailing junk
    case 2: return Buffer.from(rng.pick(["", " ", "null", "true", "0", '""', "[]", "{}", "[{}]", "NaN", "Infinity", "undefined", "1e999", "-1e999", "123456789012345678901234567890", "{'a':1}", '{"a":1,}', '{"a" 1}', "\ufeff{}", '{"a":"\\ud800"}', '{"a":"\\uZZZZ"}', '{"__proto__":{"x":1}}', '{"constructor":{"prototype":{}}}', '{"a":1,"a":2}']));
    case 3: return Buffer.concat([Buffer.from(json.slice(0, -1)), Buffer.from([0xff, 0xfe, 0xed, 0xa0, 0x80, 0xc0]), Buffer.from(json.slice(-1))]); // invalid UTF-8
    case 4: return Buffer.from(nest(rng.pick([50, 99, 100, 101, 150, 5000]), value, rng.chance(0.5))); // nesting around the limit
    case 5: return Buffer.from(json.replace(/:/g, ":\u0000")); // NUL where JSON forbids it
    case 6: return Buffer.from(`{"data":[${Array.from({ length: rng.pick([999, 1000, 1001, 3000]) }, () => "{}").join(",")}],"endpoint":{"url":"http://127.0.0.1:9/"}}`);
    case 7: return Buffer.from(JSON.stringify({ pad: "x".repeat(rng.pick([60_000, 70_000])) })); // around max_body_bytes (64 KiB in the fuzz config)
    case 8: return Buffer.from(json.replace(/"(\w)/, '"\\u0000$1'));
    default: return Buffer.from(json);
  }
}

const CONTENT_TYPES = [
  "application/json", "application/json", "application/json", "application/json; charset=utf-8", "application/merge-patch+json", "text/plain",
  "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/html", "application/xml", "", "application/json; charset=latin1",
  "APPLICATION/JSON", "application/jsonx", "json", "*/*", "application/problem+json", ";;;",
];
const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PURGE", "PROPFIND", "LOCK", "QUERY", "SEARCH"];
const UNKNOWN_PATHS = [
  "/v2/accounts", "/ingest/", "/INGEST", "/ingest.php/x", "/v1", "/v1/", "//ingest", "/./ingest", "/v1/../ingest", "/%2e%2e/etc/passwd",
  "/v1/accounts/x/tokens/y/z", "/v1/destinations//secret", "/favicon.ico", "/healthz/", "/" + "a".repeat(3000), "/%", "/%ZZ", "/\u00e9",
  "/v1/postback", "/v1/accounts?", "/ingest#frag", "*",
];

/** A query string: the template's own, mutated; repeated, empty, and percent-garbage parameters. */
function queryString(rng: Rng, base: Record<string, string>): string {
  const pairs: [string, string][] = Object.entries(base);
  const roll = rng.int(6);
  if (roll === 0) pairs.push([rng.pick(Object.keys(base).concat(["limit", "after", "type", "account_id"])), rng.pick(["", "1", "x", "%ZZ", "0", "101", "-5", "1e2", "a".repeat(300)])]);
  else if (roll === 1 && pairs.length) pairs[rng.int(pairs.length)]![1] = rng.pick(["", "%ZZ", "%", "%00", "a".repeat(300), "order.*", "💥", "+", "acct_x", "1", "100", "101", "9999", "0x10"]);
  else if (roll === 2) pairs.push(["limit", String(rng.pick(NUMBERS))], ["after", randomString(rng, 20)]);
  const text = pairs.map(([k, v]) => `${encodeURIComponent(wellFormed(k))}=${/%|\+/.test(v) ? v : encodeURIComponent(wellFormed(v))}`).join("&");
  if (rng.chance(0.05)) return "?" + rng.pick(["&&&", "=", "a=1=2", "%ZZ=%ZZ", "a[b]=1", "a[]=1&a[]=2", "__proto__[x]=1", "constructor=1"]);
  return text ? "?" + text : rng.chance(0.1) ? "?" : "";
}

/** An Authorization (or CL-X-TOKEN) header for the case; the right token most of the time. */
function authHeaders(rng: Rng, t: FuzzTargets, usual: Template["auth"]): Record<string, string> {
  const right =
    usual === "registration" && t.compat ? t.compat.registrationToken
    : usual === "trigger" && t.compat ? t.compat.triggerToken
    : usual === "admin" ? t.adminToken
    : usual === "account" ? t.accountToken
    : rng.chance(0.5) ? t.adminToken : t.accountToken;
  const roll = rng.int(20);
  if (roll < 13) return { authorization: `Bearer ${right}` };
  switch (roll) {
    case 13: return {};
    case 14: return { authorization: `Bearer ${rng.pick([t.otherAccountToken, t.revokedToken, t.adminToken, t.accountToken])}` };
    case 15: return { "cl-x-token": rng.pick([right, "", " ", "x y", t.revokedToken]) };
    case 16: return { authorization: rng.pick(["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "bearer " + right, "Bearer  " + right + "  ", "Token " + right, "Bearer a b", "Bearer ferry_live_", "Bearer ferry_live_" + "x".repeat(200)]) };
    case 17: return { authorization: `Bearer ${right}x` };
    case 18: return { authorization: `Bearer ${right}`, "cl-x-token": t.otherAccountToken };
    default: return { authorization: `Bearer ${"ferry_live_" + randomString(rng, 30).replace(/[^\x21-\x7e]/g, "z")}` };
  }
}

/** An Idempotency-Key header, valid or junk; repeats from a small pool so replays happen. */
function idempotencyKey(rng: Rng): string | undefined {
  const roll = rng.int(10);
  if (roll < 5) return undefined;
  if (roll < 8) return `fuzz-key-${rng.int(20)}`;
  return rng.pick(["", " ", "a b", "k".repeat(255), "k".repeat(256), "\u00e9", "\t", "{}", "key\u007f"]);
}

/**
 * The `index`th case. Kinds: a valid request of some route mutated (most cases, so requests
 * reach handlers and stores), an unknown path, an unknown method, and raw-socket oddities.
 */
export function generateCase(rng: Rng, t: FuzzTargets, index: number): FuzzCase {
  const all = templates(t, rng);
  const template = rng.pick(all);
  const roll = rng.int(100);
  let method = template.method;
  let kind = `${template.method} ${template.path}`;
  if (roll < 6) {
    method = rng.pick(METHODS);
    kind = `method ${method} on ${template.path}`;
  }
  // A DELETE only ever names a spare: deleting the account or destination every other case
  // uses would turn the rest of the run into 401s and 404s.
  const spare = (name: string): string => (method === "DELETE" ? ({ account: "spareAccount", destination: "spareDestination" } as Record<string, string>)[name] ?? name : name);
  let path = template.path.replace(/:(\w+)/g, (_, name: string) => pathParam(rng, t, spare(name)));
  if (roll < 6) {
    // the method was changed above
  } else if (roll < 11) {
    path = rng.pick(UNKNOWN_PATHS);
    method = rng.pick(METHODS.slice(0, 6));
    kind = `unknown path`;
  }
  path += queryString(rng, template.query?.() ?? {});

  const headers: Record<string, string> = template.auth === "none" && rng.chance(0.7) ? {} : authHeaders(rng, t, template.auth);
  let body: Buffer | undefined;
  if (template.body || rng.chance(0.15)) {
    let value = template.body?.() ?? randomValue(rng);
    // One valid request in five is sent as it is: the happy path must hold up under load too.
    if (rng.chance(0.8)) for (let n = rng.int(3) + 1; n > 0; n--) value = mutateValue(rng, value);
    body = bodyText(rng, value);
    const type = rng.chance(0.8) ? "application/json" : rng.pick(CONTENT_TYPES);
    if (type !== "" || rng.chance(0.5)) headers["content-type"] = type;
  } else if (rng.chance(0.05)) {
    body = Buffer.alloc(0);
    headers["content-type"] = "application/json";
  }
  if (template.ingest || rng.chance(0.05)) {
    const key = idempotencyKey(rng);
    if (key !== undefined) headers["idempotency-key"] = key;
  }
  // Raw bytes where undici would refuse to send them: header values beyond printable Latin-1,
  // paths with spaces or non-ASCII, methods it rejects. Plus a share of plain cases too, so the
  // hand-written framing is exercised on well-formed requests as well.
  let raw = rng.chance(0.15);
  if (rng.chance(0.04)) {
    headers[rng.pick(["x-junk", "user-agent", "accept", "idempotency-key", "authorization"])] = rng.pick(["\u00ff\u00fe", "a\u0001b", "x".repeat(8000), "\t", "é", "a\u007fb"]);
    kind += " with a junk header";
    raw = true;
  }
  if (Object.values(headers).some((v) => /[^\x20-\x7e]/.test(v))) raw = true;
  if (/[^\x21-\x7e]/.test(path) || !path.startsWith("/") || !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].includes(method)) raw = true;
  // An unknown path in place of the template's is not the compat route's to answer.
  const compat = template.compat === true && (roll < 6 || roll >= 11);
  return { index, kind, method, path, headers, ...(body !== undefined ? { body } : {}), raw, ...(compat ? { compat } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Sending and checking

/** The answer as the checks see it: status, content type and body text (nothing for HEAD). */
interface Answer {
  status: number;
  contentType: string;
  body: string;
  /**
   * The body was cut short by the connection's end, not by the server: after answering a request
   * whose body it did not read (a GET with a large body, say), the server closes the connection
   * (src/api/app.ts), and the unread bytes make the kernel reset it, which can discard the tail
   * of the answer at the client. Its status is checked; its body cannot be.
   */
  partial?: boolean;
}

/** Every answer this fuzzer may get must pass this; returns what is wrong, or undefined. */
export function checkAnswer(c: FuzzCase, a: Answer): string | undefined {
  if (a.status >= 500) return `a ${a.status} for client input`;
  if (a.status < 200 || (a.status >= 300 && a.status < 400)) return `an unexpected status ${a.status}`;
  const bodyless = c.method === "HEAD" || a.status === 204 || a.partial === true;
  if (c.compat) return checkCompatAnswer(a, bodyless);
  if (a.status >= 400) {
    if (!/^application\/problem\+json(\s*;|$)/i.test(a.contentType)) return `an error answered as ${JSON.stringify(a.contentType)}, not application/problem+json`;
    if (bodyless) return undefined;
    let problem: any;
    try {
      problem = JSON.parse(a.body);
    } catch {
      return "an error whose body is not JSON";
    }
    if (problem === null || typeof problem !== "object") return "an error whose body is not a JSON object";
    if (typeof problem.code !== "string" || !/^[a-z_]+$/.test(problem.code)) return "a problem without a string code";
    if (typeof problem.title !== "string" || typeof problem.detail !== "string" || typeof problem.type !== "string") return "a problem without type, title and detail";
    if (problem.status !== a.status) return `a problem whose status ${JSON.stringify(problem.status)} is not the HTTP status ${a.status}`;
    return undefined;
  }
  if (bodyless) return undefined;
  // The dashboard's own files are the one success that is not JSON.
  if (/^\/dashboard\//.test(c.path) && /^text\/(html|javascript|css)(\s*;|$)/i.test(a.contentType)) return undefined;
  // So are the browsable API docs' (@fastify/swagger-ui): the page, its files and the YAML document.
  if (/^\/docs(?:[/?]|$)/.test(c.path) && /^(?:text\/(html|javascript|css)|application\/(javascript|x-yaml)|image\/(png|svg\+xml))(\s*;|$)/i.test(a.contentType)) return undefined;
  if (!/^application\/json(\s*;|$)/i.test(a.contentType)) return `a success answered as ${JSON.stringify(a.contentType)}, not application/json`;
  let body: unknown;
  try {
    body = JSON.parse(a.body);
  } catch {
    return "a success whose body is not JSON";
  }
  // The answer is what docs/openapi.json says it is (the client's types are made from it).
  return answerMismatch(c.method, c.path, a.status, body);
}

/**
 * A seed system's route answers in that system's shape: JSON (a Data Pusher envelope, a list of
 * fun-with-webhooks errors, an ADS `{"error"}`), or Ferry's problem+json for what no compat
 * route takes (an unknown method, say). An error must still carry Ferry's code; a success may be
 * empty (fun-with-webhooks answered its registration with no body).
 */
function checkCompatAnswer(a: Answer, bodyless: boolean): string | undefined {
  if (a.status >= 400 && /^application\/problem\+json(\s*;|$)/i.test(a.contentType)) {
    return checkAnswer({ index: -1, kind: "", method: bodyless ? "HEAD" : "GET", path: "/", headers: {}, raw: false }, a);
  }
  if ((a.status < 400 && a.body === "") || (bodyless && a.status === 204)) return undefined;
  if (!/^application\/json(\s*;|$)/i.test(a.contentType)) return `a compat answer sent as ${JSON.stringify(a.contentType)}, not JSON`;
  if (bodyless) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(a.body);
  } catch {
    return "a compat answer whose body is not JSON";
  }
  if (a.status < 400) return undefined;
  const first: unknown = Array.isArray(body) ? body[0] : body;
  const code = first !== null && typeof first === "object" ? (first as { code?: unknown }).code : undefined;
  if (typeof code !== "string" || !/^[a-z_]+$/.test(code)) return "a compat error without Ferry's code";
  return undefined;
}

/** How long an answer may take before the case counts as a hang. */
export const HANG_MS = 5_000;

type Outcome = { answer: Answer } | { hang: true } | { error: string };

async function sendUndici(agent: Agent, port: number, c: FuzzCase): Promise<Outcome> {
  try {
    const res = await undiciRequest(`http://127.0.0.1:${port}${c.path}`, {
      dispatcher: agent,
      method: c.method as "GET",
      headers: c.headers,
      ...(c.body !== undefined ? { body: c.body } : {}),
      headersTimeout: HANG_MS,
      bodyTimeout: HANG_MS,
      // undici times the answer, not the upload: a server that stopped reading the body would
      // hold the case (and the run) forever. This bounds the whole exchange.
      signal: AbortSignal.timeout(HANG_MS + 1_000),
    });
    const type = res.headers["content-type"];
    const contentType = Array.isArray(type) ? type.join(",") : type ?? "";
    let body: string;
    try {
      body = await res.body.text();
    } catch (err) {
      // The answer's tail lost to the reset that follows a request body left unread (see Answer.partial).
      if ((err as { code?: string }).code === "UND_ERR_RES_CONTENT_LENGTH_MISMATCH") return { answer: { status: res.statusCode, contentType, body: "", partial: true } };
      throw err;
    }
    return { answer: { status: res.statusCode, contentType, body } };
  } catch (err) {
    const code = (err as { code?: string }).code ?? "";
    const name = (err as Error).name;
    if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT" || name === "TimeoutError" || name === "AbortError") return { hang: true };
    return { error: `${code} ${(err as Error).message}` };
  }
}

async function sendRaw(port: number, c: FuzzCase): Promise<Outcome> {
  const lines = [`${c.method} ${c.path} HTTP/1.1`, "Host: 127.0.0.1", "Connection: close"];
  for (const [name, value] of Object.entries(c.headers)) lines.push(`${name}: ${value}`);
  if (c.body !== undefined) lines.push(`Content-Length: ${c.body.length}`);
  const head = Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1");
  const res = await exchange(port, c.body ? Buffer.concat([head, c.body]) : head, { waitMs: HANG_MS });
  const [first] = parseResponses(res.text);
  if (!first) return res.closed ? { error: `the connection was closed with no answer (${JSON.stringify(res.text.slice(0, 200))})` } : { hang: true };
  const body = first.text;
  return { answer: { status: first.status, contentType: first.headers["content-type"] ?? "", body, ...(first.complete ? {} : { partial: true }) } };
}

/** The case as a curl-like line, enough to send it again (bodies shown in part). */
export function describeCase(c: FuzzCase): string {
  const headers = Object.entries(c.headers).map(([k, v]) => ` -H ${JSON.stringify(`${k}: ${v.length > 200 ? v.slice(0, 200) + "…" : v}`)}`).join("");
  const body = c.body === undefined ? "" : ` --data-binary ${JSON.stringify(c.body.length > 400 ? c.body.toString("latin1", 0, 400) + `… (${c.body.length} bytes)` : c.body.toString("latin1"))}`;
  const path = c.path.length > 300 ? c.path.slice(0, 300) + "…" : c.path;
  return `#${c.index} [${c.kind}${c.raw ? ", raw socket" : ""}] ${c.method} ${path}${headers}${body}`;
}

/**
 * Generates `count` cases from `seed`, sends them `concurrency` at a time to 127.0.0.1:`port`,
 * checks /healthz every `healthEvery` cases and at the end, and reports.
 */
export async function runFuzz(options: { port: number; targets: FuzzTargets; seed: number; count: number; concurrency?: number; healthEvery?: number }): Promise<FuzzReport> {
  const { port, targets, seed, count, concurrency = 8, healthEvery = 250 } = options;
  const started = Date.now();
  const rng = new Rng(seed);
  const cases = Array.from({ length: count }, (_, i) => generateCase(rng, targets, i));
  const agent = new Agent({ connections: concurrency, pipelining: 1, keepAliveTimeout: 1_000 });
  const report: FuzzReport = { seed, cases: 0, byClass: {}, byCode: {}, fiveXx: 0, nonProblem: 0, hangs: 0, noAnswer: 0, crashes: 0, ms: 0, failures: [] };

  const health = async (): Promise<boolean> => {
    const outcome = await sendUndici(agent, port, { index: -1, kind: "health", method: "GET", path: "/healthz", headers: {}, raw: false });
    return "answer" in outcome && outcome.answer.status === 200;
  };

  let next = 0;
  let crashed = false;
  const worker = async () => {
    while (!crashed && next < cases.length) {
      const c = cases[next++]!;
      const outcome = c.raw ? await sendRaw(port, c) : await sendUndici(agent, port, c);
      report.cases++;
      if ("hang" in outcome) {
        report.hangs++;
        report.failures.push({ case: c, problem: `no answer within ${HANG_MS} ms` });
      } else if ("error" in outcome) {
        report.noAnswer++;
        report.failures.push({ case: c, problem: `no answer: ${outcome.error}` });
      } else {
        const { answer } = outcome;
        const cls = `${Math.floor(answer.status / 100)}xx`;
        report.byClass[cls] = (report.byClass[cls] ?? 0) + 1;
        const problem = checkAnswer(c, answer);
        if (answer.status >= 500) report.fiveXx++;
        else if (problem) report.nonProblem++;
        if (problem) report.failures.push({ case: c, problem, status: answer.status, contentType: answer.contentType, body: answer.body.slice(0, 500) });
        else if (answer.status >= 400 && answer.body) {
          const parsed = JSON.parse(answer.body) as { code: string } | { code: string }[];
          const code = (Array.isArray(parsed) ? parsed[0]?.code : parsed.code) ?? "(none)";
          report.byCode[code] = (report.byCode[code] ?? 0) + 1;
        }
      }
      if (report.cases % healthEvery === 0 && !(await health())) {
        report.crashes++;
        crashed = true;
        report.failures.push({ case: c, problem: "the server stopped answering /healthz after this case (or one in flight with it)" });
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
    if (!crashed && !(await health())) {
      report.crashes++;
      report.failures.push({ case: cases[cases.length - 1]!, problem: "the server stopped answering /healthz at the end" });
    }
  } finally {
    await agent.close();
  }
  report.ms = Date.now() - started;
  return report;
}

/** The report as log lines: the counts, then each failure with its request. */
export function formatReport(backend: string, r: FuzzReport): string {
  const classes = Object.entries(r.byClass).sort().map(([k, v]) => `${k}: ${v}`).join(", ");
  const lines = [
    `fuzz (${backend}): seed ${r.seed} (replay with FERRY_FUZZ_SEED=${r.seed}), ${r.cases} cases in ${r.ms} ms; ${classes}; ` +
      `5xx: ${r.fiveXx}, non-problem+json: ${r.nonProblem}, hangs: ${r.hangs}, no answer: ${r.noAnswer}, crashes: ${r.crashes}`,
    `  error codes: ${Object.entries(r.byCode).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ")}`,
  ];
  for (const f of r.failures.slice(0, 20)) {
    lines.push(`  FAIL ${f.problem}${f.status !== undefined ? ` (${f.status} ${f.contentType}: ${f.body})` : ""}`, `    ${describeCase(f.case)}`);
  }
  if (r.failures.length > 20) lines.push(`  … and ${r.failures.length - 20} more failures`);
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// The suite, shared by the SQLite and the Redis + Postgres files

/** Cases per backend: FERRY_FUZZ_CASES, or enough to cover every route many times over in well under a minute. */
export function fuzzCount(fallback = 4000): number {
  const raw = process.env["FERRY_FUZZ_CASES"];
  return raw ? Number(raw) : fallback;
}

/**
 * Makes what the cases refer to, through the API itself: an account with a live and a revoked
 * token, another account with a token, destinations and postbacks, and spares the fuzzer may
 * delete.
 */
export async function makeTargets(app: FastifyInstance, adminToken: string, compat?: FuzzTargets["compat"]): Promise<FuzzTargets> {
  const call = async (method: string, url: string, token: string, body?: unknown): Promise<any> => {
    const res = await app.inject({
      method: method as "GET",
      url,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    if (res.statusCode >= 300) throw new Error(`setup: ${method} ${url} answered ${res.statusCode} ${res.body}`);
    return res.body ? res.json() : undefined;
  };
  const account = await call("POST", "/v1/accounts", adminToken, { name: "Fuzz" });
  const other = await call("POST", "/v1/accounts", adminToken, { name: "Other" });
  const token = await call("POST", `/v1/accounts/${account.id}/tokens`, adminToken, { name: "fuzz" });
  const otherToken = await call("POST", `/v1/accounts/${other.id}/tokens`, adminToken, {});
  const revoked = await call("POST", `/v1/accounts/${account.id}/tokens`, adminToken, {});
  await call("DELETE", `/v1/accounts/${account.id}/tokens/${revoked.id}`, adminToken);
  const destination = await call("POST", "/v1/destinations", adminToken, { account_id: account.id, url: "http://127.0.0.1:9/hook?id={id}", event_types: ["order.*"] });
  const spareAccountIds: string[] = [];
  const spareDestinationIds: string[] = [];
  const spareTokenIds: string[] = [];
  for (let i = 0; i < 4; i++) {
    spareAccountIds.push((await call("POST", "/v1/accounts", adminToken, { name: `Spare ${i}` })).id);
    spareDestinationIds.push((await call("POST", "/v1/destinations", adminToken, { account_id: account.id, url: `http://127.0.0.1:9/spare/${i}` })).id);
    spareTokenIds.push((await call("POST", `/v1/accounts/${account.id}/tokens`, adminToken, {})).id);
  }
  const ingested = await call("POST", "/ingest", token.token, { endpoint: { url: "http://127.0.0.1:9/cb?x={x}" }, data: [{ x: 1 }, { x: 2 }] });
  const pushed = await call("POST", "/v1/push?type=order.created", token.token, { id: 7 });
  await call("PUT", "/v1/event-types/party", token.token, { schema: { type: "object", required: ["host"], properties: { host: { type: "string" }, path: { type: "string", pattern: "^/" } } } });
  const sessionId = "e2085be5-9137-4e4e-80b5-f1ffddc25423";
  const stored = await call("POST", "/v1/events", token.token, { session_id: sessionId, category: "party", name: "AppName", data: { host: "www.party.com", path: "/" }, timestamp: "2021-09-26 09:15:27.243860" });
  return {
    adminToken,
    accountToken: token.token,
    accountId: account.id,
    otherAccountId: other.id,
    otherAccountToken: otherToken.token,
    revokedToken: revoked.token,
    destinationId: destination.id,
    spareAccountIds,
    spareDestinationIds,
    spareTokenIds,
    postbackIds: [...ingested.ids, ...pushed.postbacks.map((p: { id: string }) => p.id)],
    eventId: stored.events[0].id,
    sessionId,
    ...(compat ? { compat } : {}),
  };
}

/**
 * One test: a real API on `overrides`' backends listening on 127.0.0.1 (no worker: the API is
 * fuzzed, and nothing generated is ever delivered), `fuzzCount()` cases, and the counts asserted.
 */
export function fuzzSuite(backend: string, overrides: () => Partial<Config>, options: { compat?: boolean; count?: number } = {}): void {
  const what = options.compat ? "only problem+json errors or the seed system's own, with Ferry's code" : "only problem+json errors";
  test(`fuzz (${backend}): no 5xx, ${what}, no hangs, no crashes`, { timeout: 180_000 }, async () => {
    // With the seed systems' routes on: every one of them, and the tokens they take.
    const compat = options.compat ? { registrationToken: "fuzz-registration-token-0123", triggerToken: "fuzz-trigger-token-0123456" } : undefined;
    const compatConfig: Partial<Config> = compat ? { compat: "data-pusher,webhooks,ads", registration_token: compat.registrationToken, trigger_token: compat.triggerToken } : {};
    // A small body limit, so that bodies over it cost little to send.
    const pipeline = await startPipeline({ max_body_bytes: 64 * 1024, ...compatConfig, ...overrides() }, { worker: false });
    try {
      await pipeline.app.listen({ port: 0, host: "127.0.0.1" });
      const port = (pipeline.app.server.address() as AddressInfo).port;
      const targets = await makeTargets(pipeline.app, ADMIN_TOKEN, compat);
      const seed = fuzzSeed();
      const count = fuzzCount(options.count);
      const report = await runFuzz({ port, targets, seed, count });
      const text = formatReport(backend, report);
      console.log(text);
      assert.equal(report.cases, count, text);
      assert.deepEqual(
        { fiveXx: report.fiveXx, nonProblem: report.nonProblem, hangs: report.hangs, noAnswer: report.noAnswer, crashes: report.crashes },
        { fiveXx: 0, nonProblem: 0, hangs: 0, noAnswer: 0, crashes: 0 },
        text,
      );
      // The fuzzer must reach the handlers, not only the door: a run that is all 401s and 404s
      // would pass while testing nothing.
      assert.ok((report.byClass["2xx"] ?? 0) >= report.cases / 10, `too few cases succeeded to have reached the handlers\n${text}`);
    } finally {
      await pipeline.stop();
    }
  });
}
