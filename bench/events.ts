/**
 * The events scenario (issue 10, part 7): per backend, a fresh Ferry, an account and its token
 * made over the API, then
 *
 *   1. ingest: `options.events` generated events (bench/events-data.ts, made on the fly by the
 *      load generator) through POST /v1/events in batches of `eventsBatch`, `eventsConcurrency`
 *      requests in flight (closed loop), each answered 201; events/s = events ÷ (first request
 *      sent → last answer);
 *   then the wait for the fan-out outbox to empty (fan-out runs after the 201, off the request
 *   path: how far behind it is at the last 201, and events/s counted until it is empty);
 *   on Postgres, statistics: ANALYZE once if autovacuum is off on the server and has not run;
 *   2. queries over HTTP, one at a time, warm (20 first, untimed): the session view, a session's
 *      events, one category over one hour, every category over one hour (first 1,000), the
 *      sessions active in one hour (first 100); `eventQueries` of each;
 *   3. Ferry stopped, the same queries through the store port (EventStore) in this process, on
 *      the same data: what the store costs, apart from HTTP, auth and JSON.
 *
 * No destination is registered, so stored events fan out to nothing: the fan-out step still
 * reads each event off its outbox and marks it (in the API process), but no postback is queued
 * and no worker runs (`ferry start` for embedded, `ferry api` alone for redis-postgres).
 */
import { statSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { Ferry } from "@ferry/client";
import { openSqlite } from "../src/sqlite.js";
import { openSqliteStores } from "../src/store/sqlite.js";
import { connectPostgresStores } from "../src/store/postgres.js";
import type { Stores } from "../src/store/port.js";
import { cpuMeter, postgresBackends, type Group } from "./cpu.js";
import { EventData, HOUR_US, QueryDraw } from "./events-data.js";
import type { FerryProcess } from "./ferry.js";
import type { BackendName } from "./options.js";
import { runPhase } from "./phases.js";
import type { QuerySummary } from "./protocol.js";
import { backendSettings, start, stop, TOKEN, type Context } from "./scenarios.js";
import { round, summarize, type Summary } from "./stats.js";

export interface EventsBackendResult {
  name: BackendName;
  processes: string[];
  events: number;
  batch: number;
  concurrency: number;
  ingest: {
    requests: number;
    /** First POST /v1/events sent → last 201 received. */
    seconds: number;
    events_per_s: number;
    /** Per request (one batch): send → complete 201. */
    request_latency_ms: Summary;
    /** CPU ms per 1,000 events by process, their total, and the cores busy on average. */
    cpu: { ms_per_1000_events: Record<string, number>; total_ms_per_1000_events: number; cores_busy: number };
  };
  /** By kind of query, over HTTP. */
  api: Record<string, QuerySummary>;
  /** By kind of query, through the store port in the bench's process (Ferry stopped). */
  store: Record<string, QuerySummary>;
  /** Events still on the fan-out outbox once Ferry stopped (0: fan-out kept up). */
  outbox_left: number;
  /** SQLite: the database file and its WAL; Postgres: pg_database_size. */
  storage_mib: number;
  /**
   * The fan-out outbox after ingest: what was left on it when the last 201 came, and how long
   * it took to empty (no destination: each event is only read off it and marked).
   */
  fanout: {
    left_at_ingest_end: number;
    /** Last 201 → outbox empty; null: it did not empty within the wait. */
    seconds_after_ingest: number | null;
    /** Events ÷ (first request sent → outbox empty): stored and fanned out. */
    events_per_s_through_fanout: number | null;
    /** CPU ms per 1,000 events from the last 201 to the outbox empty, by process. */
    cpu_ms_per_1000_events: Record<string, number>;
  };
  /** Postgres: whether autovacuum runs on the server, and what the bench did about statistics before the queries. */
  postgres_analyze: null | { autovacuum: string; last_autoanalyze: string | null; bench_ran_analyze: boolean };
  peak_rss_mib: Record<string, number | null>;
  /** 1-minute load average as ingest began and as the HTTP queries began: what else the machine was doing. */
  load_average: { ingest: number; queries: number };
}

export const EVENT_QUERY_KINDS: Record<string, string> = {
  http_baseline: "GET /v1/event-types/{a category never registered}: 404 after the token check and one small read; HTTP's own cost, for scale",
  session_view: "GET /v1/sessions/{id}: summary + its 50 events",
  session_events: "GET /v1/events?session_id=…: its 50 events",
  category_hour: "GET /v1/events?category=…&from=…&to=… one hour (~70 of 20 categories)",
  all_hour: "GET /v1/events?from=…&to=… one hour, every category (first 1,000)",
  sessions_hour: "GET /v1/sessions?from=…&to=… one hour (first 100)",
};

export async function eventsScenario(ctx: Context, names: BackendName[]): Promise<EventsBackendResult[]> {
  const out: EventsBackendResult[] = [];
  for (const name of names) out.push(await eventsBackend(ctx, name));
  return out;
}

async function eventsBackend(ctx: Context, name: BackendName): Promise<EventsBackendResult> {
  const { options: o, helpers: h } = ctx;
  const { settings, database } = await backendSettings(ctx, name);
  const api: FerryProcess = await start(ctx, name === "embedded" ? "start" : "api", settings);
  const procs = [api];

  // An account and its token, as a user would get them: with @ferry/client (untimed set-up, so
  // the client is exercised on every run without weighing on a figure).
  const admin = new Ferry({ url: api.url!, token: TOKEN });
  const accountId = (await admin.accounts.create({ name: `bench events ${name}` })).id;
  const token = (await admin.tokens.create(accountId, { name: "bench" })).token;

  const requests = Math.ceil(o.events / o.eventsBatch);
  const groups: Group[] = [
    { name: `ferry ${api.role}`, pids: () => [api.pid] },
    { name: "load generator", pids: () => [h.load.child.pid!] },
  ];
  if (database && ctx.services) {
    groups.push({ name: "postgres", pids: () => postgresBackends(database) });
    groups.push({ name: "redis-server", pids: () => [ctx.services!.redisPid] });
  }
  const loadIngest = round(loadavg()[0]!, 2);
  const meter = cpuMeter(groups);
  const ingest = await runPhase(h, {
    label: `events ${name}: ingest ${o.events.toLocaleString("en-US")} events`,
    job: { type: "events", url: `${api.url}/v1/events`, token, events: o.events, batch: o.eventsBatch, requests, concurrency: o.eventsConcurrency, via: o.loadClient },
    progressFrom: "load",
    watch: procs,
  });
  const used = meter.stop();
  const load = ingest.load!;
  const seconds = (load.t1 - load.t0) / 1000;

  // Fan-out is off the request path: wait until it has taken every event off the outbox, so
  // that the figures say whether it keeps up, and the queries run on a quiet Ferry.
  const outbox = outboxCounter(name, settings);
  const drainMeter = cpuMeter(groups);
  let drain: EventsBackendResult["fanout"];
  try {
    drain = await waitForOutbox(ctx, name, outbox, load.t0, load.t1, o.events, procs);
  } finally {
    await outbox.close();
  }
  const drainUsed = drainMeter.stop();
  drain.cpu_ms_per_1000_events = Object.fromEntries(Object.entries(drainUsed).map(([k, v]) => [k, round((v / o.events) * 1000, 1)]));

  let analyze: EventsBackendResult["postgres_analyze"] = null;
  if (name !== "embedded") analyze = await analyzeAsAutovacuumWould(settings["FERRY_DATABASE_URL"]!);

  const loadQueries = round(loadavg()[0]!, 2);
  const queried = await runPhase(h, {
    label: `events ${name}: queries over HTTP`,
    job: { type: "event-queries", url: api.url!, token, events: o.events, perKind: o.eventQueries, requests: o.eventQueries * Object.keys(EVENT_QUERY_KINDS).length },
    progressFrom: "load",
    watch: procs,
  });

  const peak: Record<string, number | null> = {};
  for (const p of procs) peak[`ferry ${p.role}`] = await stop(ctx, p);

  // The store port, in this process, on the data Ferry left.
  let stores: Stores;
  let storage: number;
  let closeStores: () => Promise<void>;
  if (name === "embedded") {
    const file = join(settings["FERRY_DATA_DIR"]!, "ferry.db");
    storage = [file, `${file}-wal`].reduce((sum, f) => sum + (statSafe(f) ?? 0), 0);
    const db = openSqlite(file);
    stores = openSqliteStores(db);
    closeStores = async () => void db.close();
  } else {
    const url = settings["FERRY_DATABASE_URL"]!;
    stores = await connectPostgresStores(url, { migrate: false });
    storage = await databaseSize(url);
    closeStores = () => stores.close();
  }
  let store: Record<string, QuerySummary>;
  let outboxLeft: number;
  let done = 0;
  try {
    outboxLeft = (await stores.events.pendingFanout(100_000)).length;
    h.progress.phase(`events ${name}: queries through the store`, o.eventQueries * Object.keys(EVENT_QUERY_KINDS).length, "queries");
    store = await storeQueries(stores, accountId, o.events, o.eventQueries, () => h.progress.update(++done));
    h.progress.end();
  } finally {
    await closeStores();
  }

  const cpuPer1000: Record<string, number> = {};
  let total = 0;
  for (const [k, v] of Object.entries(used)) {
    cpuPer1000[k] = round((v / o.events) * 1000, 1);
    total += v;
  }
  return {
    name,
    processes: procs.map((p) => `ferry ${p.role}`),
    events: o.events,
    batch: o.eventsBatch,
    concurrency: o.eventsConcurrency,
    ingest: {
      requests,
      seconds: round(seconds, 2),
      events_per_s: Math.round(o.events / seconds),
      request_latency_ms: load.latencyMs,
      cpu: { ms_per_1000_events: cpuPer1000, total_ms_per_1000_events: round((total / o.events) * 1000, 1), cores_busy: round(total / 1000 / seconds, 2) },
    },
    api: queried.load!.queries!,
    store,
    outbox_left: outboxLeft,
    fanout: drain,
    storage_mib: round(storage / 2 ** 20, 1),
    postgres_analyze: analyze,
    peak_rss_mib: peak,
    load_average: { ingest: loadIngest, queries: loadQueries },
  };
}

function statSafe(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

async function withDatabase<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * The planner needs statistics. With autovacuum on (Postgres' default) the server gathers them
 * as a million rows come in; where it is off (as on the test server here) the bench runs
 * ANALYZE once, which is what autovacuum would have done, and says so in the report.
 */
async function analyzeAsAutovacuumWould(url: string): Promise<NonNullable<EventsBackendResult["postgres_analyze"]>> {
  return withDatabase(url, async (c) => {
    const autovacuum = String((await c.query("SHOW autovacuum")).rows[0].autovacuum);
    const r = await c.query("SELECT last_autoanalyze FROM pg_stat_user_tables WHERE relname = 'events'");
    const at = r.rows[0]?.last_autoanalyze as Date | null | undefined;
    const run = autovacuum !== "on" && !at;
    if (run) await c.query("ANALYZE");
    return { autovacuum, last_autoanalyze: at ? at.toISOString() : null, bench_ran_analyze: run };
  });
}

interface OutboxCounter {
  count(): Promise<number>;
  close(): Promise<void>;
}

/** Counts the fan-out outbox behind Ferry's back: a read-only SQLite handle, or a Postgres client. */
function outboxCounter(name: BackendName, settings: Record<string, string>): OutboxCounter {
  if (name === "embedded") {
    const db = new Database(join(settings["FERRY_DATA_DIR"]!, "ferry.db"), { readonly: true, fileMustExist: true });
    db.pragma("busy_timeout = 5000");
    const stmt = db.prepare("SELECT count(*) AS n FROM event_outbox");
    return { count: async () => Number((stmt.get() as { n: number }).n), close: async () => void db.close() };
  }
  const client = new pg.Client({ connectionString: settings["FERRY_DATABASE_URL"]! });
  const connected = client.connect();
  return {
    count: async () => {
      await connected;
      return Number((await client.query("SELECT count(*) AS n FROM event_outbox")).rows[0].n);
    },
    close: async () => {
      await connected.catch(() => {});
      await client.end();
    },
  };
}

/** Waits for the outbox to empty; gives up after BENCH_STALL_SECONDS without progress, or 20 minutes. */
async function waitForOutbox(
  ctx: Context,
  name: BackendName,
  outbox: OutboxCounter,
  t0: number,
  t1: number,
  events: number,
  procs: FerryProcess[],
): Promise<EventsBackendResult["fanout"]> {
  const h = ctx.helpers;
  const left = await outbox.count();
  if (left === 0) {
    return { left_at_ingest_end: 0, seconds_after_ingest: 0, events_per_s_through_fanout: Math.round(events / ((t1 - t0) / 1000)), cpu_ms_per_1000_events: {} };
  }
  h.progress.phase(`events ${name}: fan-out outbox drains`, left, "events");
  let last = left;
  let lastMove = Date.now();
  let emptyAt: number | null = null;
  const crashed = Promise.race(procs.map((p) => p.crashed));
  while (Date.now() - t1 < 20 * 60_000 && Date.now() - lastMove < ctx.options.stallSeconds * 1000) {
    await Promise.race([new Promise((r) => setTimeout(r, 250)), crashed]);
    const n = await outbox.count();
    h.progress.update(left - n);
    if (n === 0) {
      emptyAt = Date.now();
      break;
    }
    if (n < last) {
      last = n;
      lastMove = Date.now();
    }
  }
  h.progress.end(emptyAt === null ? `gave up with ${last} left` : "");
  return {
    left_at_ingest_end: left,
    seconds_after_ingest: emptyAt === null ? null : round((emptyAt - t1) / 1000, 1),
    events_per_s_through_fanout: emptyAt === null ? null : Math.round(events / ((emptyAt - t0) / 1000)),
    cpu_ms_per_1000_events: {},
  };
}

async function databaseSize(url: string): Promise<number> {
  return withDatabase(url, async (c) => Number((await c.query("SELECT pg_database_size(current_database()) AS n")).rows[0].n));
}

/** The HTTP queries' store-side equivalents, the same kinds in the same order. */
async function storeQueries(stores: Stores, accountId: string, events: number, perKind: number, tick: () => void): Promise<Record<string, QuerySummary>> {
  const store = stores.events;
  const draw = new QueryDraw(new EventData(events));
  const hour = () => {
    const fromUs = draw.hour();
    return { fromUs, toUs: fromUs + HOUR_US };
  };
  const kinds: Record<string, () => Promise<number>> = {
    http_baseline: async () => ((await store.getEventType(accountId, draw.category())) ? 1 : 0),
    session_view: async () => {
      const id = draw.session();
      const [summary, list] = await Promise.all([store.sessionSummary(accountId, id), store.queryEvents({ accountId, sessionId: id, limit: 101 })]);
      return summary ? list.length : 0;
    },
    session_events: async () => (await store.queryEvents({ accountId, sessionId: draw.session(), limit: 1001 })).length,
    category_hour: async () => {
      const range = hour();
      return (await store.queryEvents({ accountId, category: draw.category(), ...range, limit: 1001 })).length;
    },
    all_hour: async () => Math.min(1000, (await store.queryEvents({ accountId, ...hour(), limit: 1001 })).length),
    sessions_hour: async () => Math.min(100, (await store.listSessions({ accountId, ...hour(), limit: 101 })).length),
  };
  const out: Record<string, QuerySummary> = {};
  for (const [kind, fn] of Object.entries(kinds)) {
    for (let i = 0; i < 20; i++) await fn();
    const ms = new Float64Array(perKind);
    let rows = 0;
    for (let i = 0; i < perKind; i++) {
      const s = performance.now();
      rows += await fn();
      ms[i] = performance.now() - s;
      tick();
    }
    out[kind] = { ...summarize(ms), rows: Math.round(rows / perKind) };
  }
  return out;
}
