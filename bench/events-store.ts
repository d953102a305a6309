/**
 * A hand-run scale check of the EventStore (issue 10), not a timed test: stores BENCH_EVENTS
 * events (default 1,000,000) in each store through the port, as the events API would (batches
 * of BENCH_BATCH, the fan-out outbox drained as the fan-out job would), then times the queries
 * the issue sets targets for, one at a time on a warm store:
 *
 *   - one session's events (its whole story, 50 events), and the session view (summary + events);
 *   - a one-hour range of one category (~70 events of 20 categories);
 *   - a one-hour range of every category (the first 1,000 of ~1,400), and the sessions active
 *     in one hour (first page of 100).
 *
 *   npm run build --silent && node dist/bench/events-store.js
 *   BENCH_EVENTS=100000 BENCH_STORES=sqlite node dist/bench/events-store.js
 *   BENCH_STORES=postgres BENCH_KEEP=1 node dist/bench/events-store.js   # keeps the database
 *
 * The data: one account (the worst case: every index range holds all of it), 20,000 sessions
 * of 50 events over 30 days, each session within about an hour, 20 categories, 5 application
 * names, ~60 bytes of data; batches interleave sessions as live traffic does. SQLite: a file in
 * a temp dir, synchronous=NORMAL as Ferry opens it. Postgres: a fresh database on the server
 * of test/support/postgres.ts (dropped after), ANALYZEd after loading as autovacuum would.
 */
import { join } from "node:path";
import { monotonicFactory } from "ulid";
import pg from "pg";
import type { StoredEvent } from "../src/core/events.js";
import { openSqlite } from "../src/sqlite.js";
import { openSqliteStores } from "../src/store/sqlite.js";
import { connectPostgresStores } from "../src/store/postgres.js";
import { migratePostgres } from "../src/store/postgres-migrations.js";
import type { EventStore, Stores } from "../src/store/port.js";
import { tempDir } from "../test/support/harness.js";
import { createDatabase } from "../test/support/postgres.js";
import { summarize, type Summary } from "./stats.js";
import { EventData, HOUR_US, QueryDraw } from "./events-data.js";

const EVENTS = Number(process.env["BENCH_EVENTS"] ?? 1_000_000);
const BATCH = Number(process.env["BENCH_BATCH"] ?? 1000);
const QUERIES = Number(process.env["BENCH_QUERIES"] ?? 1000);
const STORES = (process.env["BENCH_STORES"] ?? "sqlite,postgres").split(",");
const ACCOUNT = "acct_bench";
const DATA = new EventData(EVENTS);
const SESSIONS = DATA.sessions;

/** Batch `b` of the generated events, as the events API would store them. */
function batch(b: number, ids: () => string): StoredEvent[] {
  const out: StoredEvent[] = [];
  const now = Date.now();
  for (let n = b * BATCH; n < Math.min(EVENTS, (b + 1) * BATCH); n++) {
    out.push({ id: ids(), accountId: ACCOUNT, clientId: null, ...DATA.event(n), receivedAt: now });
  }
  return out;
}

async function load(store: EventStore): Promise<{ seconds: number; perSecond: number }> {
  const ulid = monotonicFactory();
  const ids = () => `evt_${ulid()}`;
  const t0 = performance.now();
  const batches = Math.ceil(EVENTS / BATCH);
  for (let b = 0; b < batches; b++) {
    const events = batch(b, ids);
    await store.insertEvents(events);
    await store.markFannedOut(events.map((e) => e.id));
    if (b % 100 === 99) process.stderr.write(`  ${((b + 1) * BATCH).toLocaleString("en")} events\r`);
  }
  const seconds = (performance.now() - t0) / 1000;
  return { seconds: Math.round(seconds * 10) / 10, perSecond: Math.round(EVENTS / seconds) };
}

async function timed(fn: (i: number) => Promise<number>): Promise<Summary & { rows: number }> {
  for (let i = 0; i < 20; i++) await fn(i); // warm-up
  const ms: number[] = [];
  let rows = 0;
  for (let i = 0; i < QUERIES; i++) {
    const t = performance.now();
    rows += await fn(i);
    ms.push(performance.now() - t);
  }
  return { ...summarize(ms), rows: Math.round(rows / QUERIES) };
}

/** Loads the events, runs `afterLoad`, then times each query. */
async function measure(stores: Stores, afterLoad: () => Promise<void> = async () => {}): Promise<Record<string, unknown>> {
  const store = stores.events;
  const loaded = await load(store);
  await afterLoad();
  const draw = new QueryDraw(DATA);
  const hour = () => draw.hour();
  const session = () => draw.session();
  return {
    load: { events: EVENTS, batch: BATCH, ...loaded },
    sessionEvents: await timed(async () => (await store.queryEvents({ accountId: ACCOUNT, sessionId: session(), limit: 1000 })).length),
    sessionView: await timed(async () => {
      const id = session();
      const [summary, events] = await Promise.all([store.sessionSummary(ACCOUNT, id), store.queryEvents({ accountId: ACCOUNT, sessionId: id, limit: 1000 })]);
      return summary ? events.length : 0;
    }),
    categoryHour: await timed(async () => {
      const fromUs = hour();
      const category = draw.category();
      return (await store.queryEvents({ accountId: ACCOUNT, category, fromUs, toUs: fromUs + HOUR_US, limit: 1000 })).length;
    }),
    allHour: await timed(async () => {
      const fromUs = hour();
      return (await store.queryEvents({ accountId: ACCOUNT, fromUs, toUs: fromUs + HOUR_US, limit: 1000 })).length;
    }),
    sessionsHour: await timed(async () => {
      const fromUs = hour();
      return (await store.listSessions({ accountId: ACCOUNT, fromUs, toUs: fromUs + HOUR_US, limit: 100 })).length;
    }),
  };
}

async function sqlite(): Promise<Record<string, unknown>> {
  const dir = tempDir("ferry-bench-events-");
  const db = openSqlite(join(dir.path, "ferry.db"));
  try {
    return await measure(openSqliteStores(db));
  } finally {
    db.close();
    dir.cleanup();
  }
}

async function postgres(): Promise<Record<string, unknown>> {
  const database = await createDatabase("ferry_bench_events");
  try {
    await migratePostgres(database.url);
    const stores = await connectPostgresStores(database.url, { migrate: false });
    try {
      // Statistics, as autovacuum would gather a while after loading: the planner needs them.
      return await measure(stores, async () => {
        const client = new pg.Client({ connectionString: database.url });
        await client.connect();
        try {
          await client.query("ANALYZE");
        } finally {
          await client.end();
        }
      });
    } finally {
      await stores.close();
    }
  } finally {
    // BENCH_KEEP=1 keeps it to look at plans (EXPLAIN) after.
    if (process.env["BENCH_KEEP"] === "1") process.stderr.write(`kept ${database.url}\n`);
    else await database.drop();
  }
}

const report: Record<string, unknown> = { events: EVENTS, sessions: SESSIONS, queries: QUERIES };
for (const name of STORES) {
  process.stderr.write(`${name}: loading ${EVENTS.toLocaleString("en")} events\n`);
  report[name] = name === "postgres" ? await postgres() : await sqlite();
}
process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
