/**
 * The one place that reads the environment. Settings come from defaults, then an optional
 * JSON file (FERRY_CONFIG), then FERRY_* environment variables; they are validated once at
 * start-up, and every message names the setting at fault.
 *
 * Why not a schema library: settings arrive as strings from the environment and as JSON
 * values from the file; this small table coerces both, names both spellings in its
 * messages, and is the list docs/operations.md is checked against.
 */
import { readFileSync } from "node:fs";
import { HOUR, MINUTE, SECOND } from "./core/time.js";
import type { BlockList } from "node:net";
import { parseAllowlist, parseNetworks, type Allowlist } from "./core/addresses.js";

type Spec =
  | { kind: "int"; default: number; min: number; max: number; doc: string }
  | { kind: "string"; default: string; doc: string; secret?: boolean }
  | { kind: "optional"; doc: string; secret?: boolean; minLength?: number }
  | { kind: "enum"; default: string; values: readonly string[]; doc: string }
  | { kind: "bool"; default: boolean; doc: string }
  /** A length of time: milliseconds, or a number with a unit (`500ms`, `45s`, `90m`, `12h`, `30d`). */
  | { kind: "duration"; default: number; min: number; max: number; doc: string };

/** Every setting: its file key is the name below, its variable FERRY_ + the name in capitals. */
export const SETTINGS = {
  port: { kind: "int", default: 8080, min: 0, max: 65535, doc: "HTTP port of the API (and dashboard)." },
  host: { kind: "string", default: "0.0.0.0", doc: "Address the API listens on." },
  data_dir: { kind: "string", default: "./data", doc: "Directory of the SQLite file and the admin token's hash." },
  admin_token: { kind: "optional", secret: true, minLength: 16, doc: "Admin bearer token. When unset, one is generated on first start, printed once, and its hash kept in the data dir." },
  default_value: { kind: "string", default: "", doc: "What an unmatched or null `{key}` becomes. Per request: `endpoint.default`." },
  max_attempts: { kind: "int", default: 12, min: 1, max: 100, doc: "Attempts before a postback is dead. Per request: `endpoint.max_attempts`." },
  timeout_ms: { kind: "int", default: 10 * SECOND, min: 100, max: 5 * MINUTE, doc: "Time one attempt may take, response body included." },
  retry_base_ms: { kind: "int", default: 1 * SECOND, min: 1, max: HOUR, doc: "Wait before the second attempt; doubles each attempt, with jitter." },
  retry_max_delay_ms: { kind: "int", default: HOUR, min: 1, max: 24 * HOUR, doc: "Longest wait between attempts, Retry-After included." },
  max_body_bytes: { kind: "int", default: 1024 * 1024, min: 1024, max: 64 * 1024 * 1024, doc: "Largest ingest body; larger gets 413 body_too_large." },
  max_batch: { kind: "int", default: 1000, min: 1, max: 100_000, doc: "Most data objects in one ingest request; more gets 413 too_many_items." },
  response_body_bytes: { kind: "int", default: 1024, min: 0, max: 64 * 1024, doc: "How much of each response body is logged and recorded." },
  concurrency: { kind: "int", default: 256, min: 1, max: 10_000, doc: "Postbacks a worker holds in flight at once, all destinations together." },
  origin_concurrency: { kind: "int", default: 32, min: 1, max: 1_000, doc: "Requests in flight to one origin (scheme://host:port) per worker." },
  lease_ms: { kind: "int", default: MINUTE, min: SECOND, max: HOUR, doc: "How long a reserved postback stays a worker's; after a crash it is delivered again once this ends." },
  poll_interval_ms: { kind: "int", default: 50, min: 1, max: MINUTE, doc: "How often an idle worker looks for work another process queued." },
  shutdown_grace_ms: { kind: "int", default: 10 * SECOND, min: 0, max: 10 * MINUTE, doc: "On SIGTERM, how long in-flight deliveries may finish before they go back to the queue." },
  request_timeout_ms: { kind: "int", default: MINUTE, min: 100, max: 10 * MINUTE, doc: "Time a client has to send a whole request, body included; slower gets 408 `request_timeout` and the connection is closed." },
  headers_timeout_ms: { kind: "int", default: 10 * SECOND, min: 100, max: 10 * MINUTE, doc: "Time a client has to send a request's headers; slower gets 408 `request_timeout` and the connection is closed. At most `request_timeout_ms`." },
  keep_alive_timeout_ms: { kind: "int", default: 5 * SECOND, min: 100, max: 10 * MINUTE, doc: "How long an idle keep-alive connection is kept open for the client's next request." },
  max_connections: { kind: "int", default: 10_000, min: 1, max: 1_000_000, doc: "Most connections the API holds open at once; more are closed as they arrive. Keep it under the process's open-file limit." },
  log_level: { kind: "enum", default: "info", values: ["fatal", "error", "warn", "info", "debug", "trace", "silent"], doc: "Log level. Each attempt is one line at info." },
  failure_threshold: { kind: "int", default: 3, min: 0, max: 10_000, doc: "Endpoint health: failed attempts to a destination within `failure_window_ms` that disable it (its postbacks are held until it is enabled again); 0 = never. Per destination: `failure_threshold`." },
  failure_window_ms: { kind: "int", default: HOUR, min: 0, max: 30 * 24 * HOUR, doc: "Endpoint health: how long a failed attempt counts; 0 = forever (with a threshold of 3: disabled after 3 failures in all, as fun-with-webhooks did). Per destination: `failure_window_ms`." },
  idempotency_ttl_ms: { kind: "int", default: 24 * HOUR, min: MINUTE, max: 30 * 24 * HOUR, doc: "How long an `Idempotency-Key` is remembered: a repeat within it gets the first answer and queues nothing." },
  allow_private_destinations: { kind: "bool", default: false, doc: "Deliver to loopback, private, link-local and cloud-metadata addresses too. Off: such postbacks are refused (`destination_refused`)." },
  destination_allowlist: { kind: "optional", doc: "Comma-separated host names, IPs and CIDR ranges delivered to although private, e.g. `receiver.internal,10.1.0.0/16`." },
  proxy_url: { kind: "optional", doc: "Send every postback through this HTTP proxy (plain-http targets in absolute form, https ones tunnelled)." },
  redis_url: { kind: "optional", secret: true, doc: "Queue postbacks in Redis (`redis://[user:pass@]host:port/db`, `rediss://` for TLS) instead of the SQLite file." },
  redis_prefix: { kind: "string", default: "ferry", doc: "Prefix of every Redis key Ferry uses, so several Ferry installations can share one Redis." },
  redis_command_timeout_ms: { kind: "int", default: 10_000, min: 100, max: 10 * MINUTE, doc: "How long a Redis command may take before it fails. An enqueue that times out answers 503 `queue_unavailable` saying the postbacks *may* have been queued; a retry with the same `Idempotency-Key` finds out and never queues them twice." },
  redis_sentinels: { kind: "optional", doc: "Comma-separated Redis Sentinels (`host:port,host:port`) to ask which server is the primary, for failover; `FERRY_REDIS_URL` then gives only the user, password, db and TLS, and its host is not used." },
  redis_master_name: { kind: "string", default: "ferry", doc: "With `FERRY_REDIS_SENTINELS`: the name the sentinels monitor the primary under (`sentinel monitor <name> ...`)." },
  redis_sentinel_password: { kind: "optional", secret: true, doc: "With `FERRY_REDIS_SENTINELS`: the sentinels' own password (`requirepass` in sentinel.conf), if they have one." },
  redis_wait_replicas: { kind: "int", default: 0, min: 0, max: 16, doc: "Answer an ingest only once this many Redis replicas have its postbacks (`WAIT`), so a failover loses nothing acknowledged; 0 = as soon as the primary has them (a failover may lose the last ones)." },
  redis_wait_timeout_ms: { kind: "int", default: 1_000, min: 10, max: MINUTE, doc: "With `FERRY_REDIS_WAIT_REPLICAS`: how long an ingest waits for the replicas; fewer in time answers 503 `queue_unavailable` saying the postbacks may have been queued." },
  database_url: { kind: "optional", secret: true, doc: "Keep postbacks and attempts in Postgres (`postgres://user:pass@host:port/db`) instead of the SQLite file." },
  migrate_on_start: { kind: "bool", default: false, doc: "Apply Postgres migrations on start-up, as `ferry migrate` does. Off: start-up refuses an unmigrated database." },
  test_only_local_dns: { kind: "bool", default: false, doc: "For Ferry's own tests: resolve no host name but `localhost`; any other makes the process fail, so a test can never reach outside this machine. Never set it in production." },
  event_retention: { kind: "duration", default: 30 * 24 * HOUR, min: 0, max: 100 * 365 * 24 * HOUR, doc: "How long events are kept, counted from when Ferry received them (not their own timestamp); older ones are deleted in small batches in the background. `30d`, `12h` or milliseconds; 0 = forever. Per account: `event_retention_ms`." },
  retention: { kind: "duration", default: 30 * 24 * HOUR, min: 0, max: 100 * 365 * 24 * HOUR, doc: "How long delivered, dead and cancelled postbacks and their attempts are kept, counted from their last change; older ones are deleted in small batches in the background (never one still owed). The per-minute counts behind stats and the dashboard stay. `30d`, `12h` or milliseconds; 0 = forever." },
  event_max_future_ms: { kind: "int", default: 5 * MINUTE, min: 0, max: 7 * 24 * HOUR, doc: "How far ahead of Ferry's clock an event's timestamp may be; further is `timestamp_in_future`." },
  metrics_port: { kind: "int", default: 0, min: 0, max: 65535, doc: "Serve `GET /metrics` with no token on this port of `host` too, for a scraper inside the network; 0 = off (then `/metrics` is on the API port with the admin token). A `ferry worker` serves metrics only here." },
  metrics_max_destinations: { kind: "int", default: 50, min: 0, max: 10_000, doc: "Destinations given a label of their own in `/metrics`; attempts to any further one are counted under `destination=\"other\"`." },
  compat: { kind: "optional", doc: "Comma-separated seed systems whose own API Ferry answers too, for clients moved over unchanged: `data-pusher` (seed 002), `webhooks` (fun-with-webhooks, seed 003), `ads` (the ADS webhook service, seed 004). Off by default; see docs/seeds.md." },
  registration_token: { kind: "optional", secret: true, minLength: 16, doc: "The token that registers clients on the compat routes: `POST /webhook` (webhooks) and `POST /webhooks/account` (ads). Unset: those routes answer 401 (but `/webhook` from `trusted_networks`)." },
  trigger_token: { kind: "optional", secret: true, minLength: 16, doc: "The provider token: sends events to every subscribed account, on `POST /webhooks/trigger` (ads) and `POST /v1/broadcast`. It can do nothing else. Unset: only the admin token broadcasts." },
  trusted_networks: { kind: "optional", doc: "Comma-separated CIDR ranges or IPs whose requests may use `/ingest`, `/ingest.php` and `POST /v1/events` without a token (seeds 000 and 001: \"the applications are trusted clients\"). Empty by default. Anyone who can send from those addresses sends as `trusted_account`: keep them tight." },
  trusted_account: { kind: "optional", doc: "The account that token-less requests from `trusted_networks` act for: its id (acct_...) or its `external_id` (which may be set before the account exists); unset, they act as the admin." },
  trusted_proxies: { kind: "optional", doc: "Comma-separated CIDR ranges or IPs of proxies whose `X-Forwarded-For` is believed for the client's address; from any other, the header is ignored." },
  webhooks_max_failures: { kind: "int", default: 3, min: 1, max: 1_000, doc: "webhooks compat: failed deliveries (not necessarily consecutive) that disable a fun-with-webhooks client; what it is owed is then dropped, as in that system." },
  ads_max_send_attempts: { kind: "int", default: 5, min: 1, max: 1_000, doc: "ads compat: failed deliveries that deactivate a subscription (the ADS service's MAX_SEND_ATTEMPTS); what failed stays for `ferry replay`." },
  ads_dedupe_triggers: { kind: "bool", default: true, doc: "ads compat: a trigger whose whole request (keys sorted) was seen before is not sent again, as in that system. Off: every trigger is sent (deliberate re-emission)." },
  sqlite_synchronous: { kind: "enum", default: "normal", values: ["normal", "full"], doc: "SQLite durability: normal survives any process crash; full also survives power loss, at a cost per ingest." },
} as const satisfies Record<string, Spec>;

type Settings = typeof SETTINGS;
type ValueOf<S> = S extends { kind: "int" | "duration" } ? number
  : S extends { kind: "bool" } ? boolean
  : S extends { kind: "optional" } ? string | undefined
  : string;

/**
 * What loadConfig works out from the settings, once, at start-up, so that no other module parses
 * a setting again (and a bad value stops start-up rather than the first delivery). Not settings
 * themselves: no variable or file key sets them, and an override of one is ignored; they always
 * follow the setting they come from.
 */
export interface Parsed {
  /** FERRY_DESTINATION_ALLOWLIST parsed; undefined when it is unset. Structured-clonable (a Set
   * and a node:net BlockList), so it reaches the delivery thread with the rest of the config. */
  allowlist: Allowlist | undefined;
  /** FERRY_COMPAT as a list of known systems, in the order given; empty when unset. */
  compatSystems: CompatSystem[];
  /** FERRY_TRUSTED_NETWORKS parsed; undefined when unset. */
  trustedNetworks: BlockList | undefined;
  /** FERRY_TRUSTED_PROXIES as fastify's trustProxy takes it (IPs and CIDR ranges); empty when unset. */
  trustedProxies: string[];
  /** FERRY_REDIS_SENTINELS, parsed; empty when Redis is reached directly at FERRY_REDIS_URL. */
  redisSentinels: { host: string; port: number }[];
}

/** The seed systems whose own API Ferry can answer too (FERRY_COMPAT). */
export const COMPAT_SYSTEMS = ["data-pusher", "webhooks", "ads"] as const;
export type CompatSystem = (typeof COMPAT_SYSTEMS)[number];

export type Config = { -readonly [K in keyof Settings]: ValueOf<Settings[K]> } & Parsed;
export type SettingName = keyof Settings;

export function envName(name: string): string {
  return "FERRY_" + name.toUpperCase();
}

/** A setting that could not be read; the message names it and says what it takes. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Reads the config: defaults, then the JSON file named by FERRY_CONFIG (or `file`), then the
 * environment. `overrides` (tests, the CLI) win over all.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<Config> = {},
): Config {
  const errors: string[] = [];
  let file: Record<string, unknown> = {};
  const filePath = env["FERRY_CONFIG"];
  if (filePath) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(filePath, "utf8"));
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new Error("it must hold a JSON object");
      }
      file = parsed as Record<string, unknown>;
      for (const key of Object.keys(file)) {
        if (!(key in SETTINGS)) errors.push(`${filePath}: unknown setting "${key}" (known: ${Object.keys(SETTINGS).join(", ")})`);
      }
    } catch (err) {
      // JSON.parse's message quotes the text around the fault, which may be the admin token:
      // keep only the position.
      const at = err instanceof SyntaxError ? /at position \d+/.exec(err.message)?.[0] : undefined;
      const reason = err instanceof SyntaxError ? `it is not valid JSON${at ? ` (${at})` : ""}` : (err as Error).message;
      throw new ConfigError(`FERRY_CONFIG=${filePath}: cannot read it: ${reason}`);
    }
  }
  const config: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(SETTINGS) as [SettingName, Spec][]) {
    const variable = envName(name);
    let raw: unknown;
    let source: string;
    if (name in overrides) {
      config[name] = overrides[name];
      continue;
    } else if (env[variable] !== undefined && env[variable] !== "") {
      raw = env[variable];
      source = variable;
    } else if (name in file) {
      raw = file[name];
      source = `${name} in ${filePath}`;
    } else {
      config[name] = "default" in spec ? spec.default : undefined;
      continue;
    }
    const result = coerce(spec, raw);
    if (typeof result === "object" && result !== null && "error" in result) {
      const shown = spec.kind !== "int" && "secret" in spec && spec.secret ? "(hidden)" : JSON.stringify(raw);
      errors.push(`${source}: ${result.error}, got ${shown}`);
    } else {
      config[name] = result;
    }
  }
  if (errors.length) throw new ConfigError(errors.join("\n"));
  // The Parsed fields are worked out below from the settings they follow, never taken from overrides.
  const out = { ...config, allowlist: undefined, compatSystems: [], trustedNetworks: undefined, trustedProxies: [], redisSentinels: [] } as unknown as Config;
  if (out.proxy_url !== undefined && !/^http:\/\/[^/]+/i.test(out.proxy_url)) {
    throw new ConfigError(`FERRY_PROXY_URL: must be an http:// URL such as http://proxy:3128, got ${JSON.stringify(out.proxy_url)}`);
  }
  if (out.destination_allowlist !== undefined) {
    try {
      out.allowlist = parseAllowlist(out.destination_allowlist);
    } catch (err) {
      throw new ConfigError(`FERRY_DESTINATION_ALLOWLIST: ${(err as Error).message}; give host names, IPs or CIDR ranges separated by commas`);
    }
  }
  if (out.compat !== undefined) {
    for (const name of out.compat.split(",").map((n) => n.trim().toLowerCase()).filter(Boolean)) {
      if (!(COMPAT_SYSTEMS as readonly string[]).includes(name)) {
        throw new ConfigError(`FERRY_COMPAT: unknown system ${JSON.stringify(name)}; give any of ${COMPAT_SYSTEMS.join(", ")}, separated by commas`);
      }
      if (!out.compatSystems.includes(name as CompatSystem)) out.compatSystems.push(name as CompatSystem);
    }
  }
  for (const [setting, variable] of [["trusted_networks", "FERRY_TRUSTED_NETWORKS"], ["trusted_proxies", "FERRY_TRUSTED_PROXIES"]] as const) {
    const text = out[setting];
    if (text === undefined) continue;
    try {
      const { list, entries } = parseNetworks(text);
      // A /0 trusts every address: for networks, no token needed from anywhere; for proxies, any
      // client's X-Forwarded-For believed. Neither is ever what is meant.
      const everything = entries.find((entry) => entry.endsWith("/0"));
      if (everything) throw new Error(`"${everything}" is every address, which would let anyone in`);
      if (setting === "trusted_networks") out.trustedNetworks = list;
      else out.trustedProxies = entries;
    } catch (err) {
      throw new ConfigError(`${variable}: ${(err as Error).message}; give IP addresses or CIDR ranges such as 10.0.0.0/8, separated by commas`);
    }
  }
  // An account id, or an account's external_id: the account is made through the running API, so
  // an external id chosen beforehand is how the setting can name it before Ferry first starts.
  const trustedAccount = out.trusted_account;
  if (
    trustedAccount !== undefined &&
    (trustedAccount.startsWith("acct_") ? !/^acct_[0-9A-Z]{26}$/.test(trustedAccount) : trustedAccount.length > 255 || /[\u0000-\u001f\u007f]/.test(trustedAccount))
  ) {
    throw new ConfigError(
      `FERRY_TRUSTED_ACCOUNT: must be an account id such as acct_01J..., as POST /v1/accounts answered, or an account's external_id (up to 255 characters, no control characters); got ${JSON.stringify(trustedAccount.slice(0, 60))}`,
    );
  }
  if (out.redis_url !== undefined && !/^rediss?:\/\/[^/]/i.test(out.redis_url)) {
    throw new ConfigError("FERRY_REDIS_URL: must be a redis:// or rediss:// URL such as redis://:password@127.0.0.1:6380/0");
  }
  if (out.redis_sentinels !== undefined) {
    if (out.redis_url === undefined) {
      throw new ConfigError("FERRY_REDIS_SENTINELS: needs FERRY_REDIS_URL too, for the password and db, such as redis://:password@primary/0 (its host is not used)");
    }
    for (const item of out.redis_sentinels.split(",").map((s) => s.trim()).filter(Boolean)) {
      // host:port, or [v6]:port; the host is an IP literal or a name the sentinels are reached by.
      const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(item);
      const port = m ? Number(m[3]) : NaN;
      if (!m || port < 1 || port > 65535) {
        throw new ConfigError(`FERRY_REDIS_SENTINELS: "${item.slice(0, 60)}" is not host:port; give sentinels such as 10.0.0.5:26379,10.0.0.6:26379`);
      }
      out.redisSentinels.push({ host: m[1] ?? m[2]!, port });
    }
    if (out.redisSentinels.length === 0) throw new ConfigError("FERRY_REDIS_SENTINELS: is empty; give sentinels such as 10.0.0.5:26379,10.0.0.6:26379, or unset it");
  }
  if (out.database_url !== undefined && !/^postgres(ql)?:\/\/[^/]/i.test(out.database_url)) {
    throw new ConfigError("FERRY_DATABASE_URL: must be a postgres:// URL such as postgres://ferry:password@127.0.0.1:5432/ferry");
  }
  if (out.headers_timeout_ms > out.request_timeout_ms) {
    // Node refuses to start a server whose headers may take longer than the whole request.
    throw new ConfigError(
      `FERRY_HEADERS_TIMEOUT_MS (${out.headers_timeout_ms}) must not exceed FERRY_REQUEST_TIMEOUT_MS (${out.request_timeout_ms})`,
    );
  }
  if (out.lease_ms < 2 * out.timeout_ms) {
    throw new ConfigError(
      `FERRY_LEASE_MS (${out.lease_ms}) must be at least twice FERRY_TIMEOUT_MS (${out.timeout_ms}), ` +
        "or a slow attempt could be delivered twice",
    );
  }
  return out;
}

function coerce(spec: Spec, raw: unknown): unknown {
  switch (spec.kind) {
    case "int": {
      const n = typeof raw === "number" ? raw : typeof raw === "string" && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isInteger(n) || n < spec.min || n > spec.max) {
        return { error: `must be a whole number from ${spec.min} to ${spec.max}` };
      }
      return n;
    }
    case "duration": {
      const ms = typeof raw === "number" ? raw : typeof raw === "string" ? parseDuration(raw.trim()) : NaN;
      if (!Number.isInteger(ms) || ms < spec.min || ms > spec.max) {
        return { error: `must be a length of time such as 30d, 12h, 90m, 45s or a number of milliseconds, from ${spec.min} ms to ${spec.max} ms` };
      }
      return ms;
    }
    case "bool": {
      if (typeof raw === "boolean") return raw;
      const s = String(raw).toLowerCase();
      if (["1", "true", "yes", "on"].includes(s)) return true;
      if (["0", "false", "no", "off"].includes(s)) return false;
      return { error: "must be true or false" };
    }
    case "enum": {
      if (typeof raw === "string" && spec.values.includes(raw)) return raw;
      return { error: `must be one of ${spec.values.join(", ")}` };
    }
    case "string":
      if (typeof raw === "string") return raw;
      return { error: "must be a string" };
    case "optional":
      if (typeof raw !== "string") return { error: "must be a string" };
      if (spec.minLength && raw.length < spec.minLength) return { error: `must be at least ${spec.minLength} characters` };
      return raw;
  }
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: SECOND, m: MINUTE, h: HOUR, d: 24 * HOUR };

/** `30d`, `12h`, `90m`, `45s`, `500ms` or a plain number of milliseconds; NaN for anything else. */
function parseDuration(text: string): number {
  const m = /^(\d{1,15})(ms|s|m|h|d)?$/.exec(text);
  return m ? Number(m[1]) * DURATION_UNITS[m[2] ?? "ms"]! : NaN;
}
