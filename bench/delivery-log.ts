/**
 * A hand-run scale check of the delivery log (issue 11), not a timed test: records
 * BENCH_POSTBACKS postbacks (default 1,000,000) in each store through the port, as workers
 * would (recordAttempts in batches of BENCH_BATCH, roll-ups written with them), then times, one
 * at a time on a warm store:
 *
 *   - the default view: newest first, no filter, first page of 50 (GET /v1/postbacks);
 *   - a destination's failures: destination_id + state=failed, first page of 50; and a page
 *     deep in the history (after = an id from 2 days back);
 *   - an account's page, and a status_code filter (checked on at most 5,000 rows per page);
 *   - 24 h of stats from the roll-ups: one destination by the minute, everything by the hour.
 *
 *   npm run build --silent && node dist/bench/delivery-log.js
 *   BENCH_POSTBACKS=100000 BENCH_STORES=sqlite node dist/bench/delivery-log.js
 *
 * The data: 5 accounts × 10 destinations, postbacks created over 3 days (a busy installation:
 * ~230 a minute), one attempt each: 92 % delivered (200), 5 % failed (503, a retry owed),
 * 3 % dead (410); latencies 5–2000 ms. SQLite: a file in a temp dir. Postgres: a fresh database
 * (dropped after, or kept with BENCH_KEEP=1), ANALYZEd after loading as autovacuum would.
 * The query plans are printed too, to show each query walks an index.
 */
import { join } from "node:path";
import { monotonicFactory } from "ulid";
import pg from "pg";
import { openSqlite, type SqliteDatabase } from "../src/sqlite.js";
import { openSqliteStores } from "../src/store/sqlite.js";
import { connectPostgresStores } from "../src/store/postgres.js";
import { migratePostgres } from "../src/store/postgres-migrations.js";
import { postbackIdAt } from "../src/core/delivery-log.js";
import type { AttemptRecord, Stores } from "../src/store/port.js";
import type { Endpoint } from "../src/core/types.js";
import { tempDir } from "../test/support/harness.js";
import { createDatabase } from "../test/support/postgres.js";
import { summarize, type Summary } from "./stats.js";
import { prng } from "./events-data.js";

const POSTBACKS = Number(process.env["BENCH_POSTBACKS"] ?? 1_000_000);
const BATCH = Number(process.env["BENCH_BATCH"] ?? 1000);
const QUERIES = Number(process.env["BENCH_QUERIES"] ?? 200);
const STORES = (process.env["BENCH_STORES"] ?? "sqlite,postgres").split(",");
const ACCOUNTS = 5;
const PER_ACCOUNT = 10;
const HOUR = 3_600_000;
const SPAN = 3 * 24 * HOUR;
const END = Date.now();
const START = END - SPAN;

const endpoints: Endpoint[] = [];
for (let a = 0; a < ACCOUNTS; a++) {
  for (let d = 0; d < PER_ACCOUNT; d++) {
    endpoints.push({ id: `ep_${a}_${d}`, method: "POST", url: `https://partner-${a}-${d}.example/hook`, defaultValue: "", maxAttempts: 12, accountId: `acct_${a}`, destinationId: `dst_${a}_${d}` });
  }
}

async function load(stores: Stores): Promise<{ seconds: number; perSecond: number }> {
  const ulid = monotonicFactory();
  const rnd = prng(1);
  const t0 = performance.now();
  for (let n = 0; n < POSTBACKS; n += BATCH) {
    const records: AttemptRecord[] = [];
    for (let i = n; i < Math.min(POSTBACKS, n + BATCH); i++) {
      const createdAt = START + Math.floor((i / POSTBACKS) * SPAN);
      const ep = endpoints[Math.floor(rnd() * endpoints.length)]!;
      const roll = rnd();
      const state = roll < 0.92 ? "delivered" : roll < 0.97 ? "failed" : "dead";
      const durationMs = 5 + Math.floor(rnd() ** 3 * 2000);
      records.push({
        postbackId: "pb_" + ulid(createdAt),
        endpoint: ep,
        data: JSON.stringify({ order_id: i, amount: 12.5 }),
        createdAt,
        attempt: 1,
        startedAt: createdAt + 5,
        durationMs,
        url: `${ep.url}?order=${i}`,
        statusCode: state === "delivered" ? 200 : state === "failed" ? 503 : 410,
        error: null,
        errorMessage: null,
        responseBody: state === "delivered" ? "ok" : "no",
        state,
        nextAttemptAt: state === "failed" ? createdAt + 60_000 : null,
        reason: state === "delivered" ? null : "HTTP",
      });
    }
    await stores.postbacks.recordAttempts(records);
    if ((n / BATCH) % 100 === 99) process.stderr.write(`  ${(n + BATCH).toLocaleString("en")} postbacks\r`);
  }
  const seconds = (performance.now() - t0) / 1000;
  return { seconds: Math.round(seconds * 10) / 10, perSecond: Math.round(POSTBACKS / seconds) };
}

async function timed(fn: (i: number) => Promise<number>): Promise<Summary & { rows: number }> {
  for (let i = 0; i < 10; i++) await fn(i);
  const ms: number[] = [];
  let rows = 0;
  for (let i = 0; i < QUERIES; i++) {
    const t = performance.now();
    rows += await fn(i);
    ms.push(performance.now() - t);
  }
  return { ...summarize(ms), rows: Math.round(rows / QUERIES) };
}

async function measure(stores: Stores, afterLoad: () => Promise<void>): Promise<Record<string, unknown>> {
  const log = stores.postbacks;
  const loaded = await load(stores);
  await afterLoad();
  const rnd = prng(2);
  const dest = () => `dst_${Math.floor(rnd() * ACCOUNTS)}_${Math.floor(rnd() * PER_ACCOUNT)}`;
  const deep = postbackIdAt(END - 2 * 24 * HOUR);
  const hourStart = Math.floor((END - 24 * HOUR) / HOUR) * HOUR;
  return {
    load: { postbacks: POSTBACKS, batch: BATCH, ...loaded },
    newestPage: await timed(async () => (await log.searchPostbacks({ limit: 51 })).items.length),
    destinationFailures: await timed(async () => (await log.searchPostbacks({ destinationId: dest(), state: "failed", limit: 51 })).items.length),
    destinationFailuresDeep: await timed(async () => (await log.searchPostbacks({ destinationId: dest(), state: "failed", beforeId: deep, limit: 51 })).items.length),
    accountPage: await timed(async () => (await log.searchPostbacks({ accountId: `acct_${Math.floor(rnd() * ACCOUNTS)}`, limit: 51 })).items.length),
    statusCode410: await timed(async () => (await log.searchPostbacks({ statusCode: 410, limit: 51 })).items.length),
    destinationStats24hMinutes: await timed(async () => (await log.rollups({ destinationId: dest(), from: END - 24 * HOUR, to: END, bucketMs: 60_000 })).buckets.length),
    // From the start of the hour, as the API asks (GET /v1/stats: the last 24 h by the hour).
    accountStats24hHours: await timed(async () => (await log.rollups({ accountId: `acct_${Math.floor(rnd() * ACCOUNTS)}`, from: hourStart, to: END, bucketMs: HOUR })).buckets.length),
    allStats24hHours: await timed(async () => (await log.rollups({ from: hourStart, to: END, bucketMs: HOUR })).buckets.length),
    lastError: await timed(async () => ((await log.lastError(dest())) ? 1 : 0)),
  };
}

function sqlitePlans(db: SqliteDatabase): Record<string, string> {
  const plan = (sql: string, ...args: unknown[]) =>
    (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail).join("; ");
  return {
    newestPage: plan("SELECT id FROM postbacks ORDER BY id DESC LIMIT 51"),
    destinationFailures: plan("SELECT id FROM postbacks WHERE destination_id = ? AND state = ? AND state <> 'delivered' ORDER BY id DESC LIMIT 51", "dst_0_0", "failed"),
    accountStats: plan("SELECT minute - minute % 3600000 AS start, sum(delivered) FROM delivery_rollups_hourly WHERE account_id = ? AND minute >= ? AND minute < ? GROUP BY start", "acct_0", 0, 1),
  };
}

async function sqlite(): Promise<Record<string, unknown>> {
  const dir = tempDir("ferry-bench-log-");
  const db = openSqlite(join(dir.path, "ferry.db"));
  try {
    const stores = openSqliteStores(db);
    const result = await measure(stores, async () => {
      db.exec("ANALYZE");
    });
    return { ...result, plans: sqlitePlans(db) };
  } finally {
    db.close();
    dir.cleanup();
  }
}

async function postgres(): Promise<Record<string, unknown>> {
  const database = await createDatabase("ferry_bench_log");
  try {
    await migratePostgres(database.url);
    const stores = await connectPostgresStores(database.url, { migrate: false });
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const result = await measure(stores, async () => {
        await client.query("ANALYZE");
      });
      const plan = async (sql: string, values: unknown[] = []) =>
        (await client.query<{ "QUERY PLAN": string }>(`EXPLAIN ${sql}`, values)).rows.map((r) => r["QUERY PLAN"].trim()).join("; ");
      return {
        ...result,
        plans: {
          newestPage: await plan(`SELECT id FROM postbacks ORDER BY id COLLATE "C" DESC LIMIT 51`),
          destinationFailures: await plan(`SELECT id FROM postbacks WHERE destination_id = $1 AND state = $2 AND state <> 'delivered' ORDER BY id COLLATE "C" DESC LIMIT 51`, ["dst_0_0", "failed"]),
        },
      };
    } finally {
      await client.end();
      await stores.close();
    }
  } finally {
    if (process.env["BENCH_KEEP"] === "1") process.stderr.write(`kept ${database.url}\n`);
    else await database.drop();
  }
}

const report: Record<string, unknown> = { postbacks: POSTBACKS, queries: QUERIES, destinations: endpoints.length };
for (const name of STORES) {
  process.stderr.write(`${name}: recording ${POSTBACKS.toLocaleString("en")} postbacks\n`);
  report[name] = name === "postgres" ? await postgres() : await sqlite();
}
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
