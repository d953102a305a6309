/**
 * The Postgres store against a real server (FERRY_TEST_DATABASE_URL, FERRY_DATABASE_URL or the
 * local one on 5432), in databases of this file's own, dropped after.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { BackendError } from "../src/backend-error.js";
import { connectPostgresStores } from "../src/store/postgres.js";
import { migratePostgres, STORE_MIGRATIONS } from "../src/store/postgres-migrations.js";
import type { AttemptRecord, Stores } from "../src/store/port.js";
import { StoreUnavailableError } from "../src/core/port-errors.js";
import type { Destination } from "../src/core/types.js";
import { HOUR, MINUTE } from "../src/core/time.js";
import { accountStoreConformance } from "./conformance/account-store.js";
import { dedupeStoreConformance } from "./conformance/dedupe-store.js";
import { eventStoreConformance } from "./conformance/event-store.js";
import { postbackStoreConformance } from "./conformance/postback-store.js";
import { deliveryLogConformance } from "./conformance/delivery-log.js";
import type { OpenedStores } from "./conformance/store-fixtures.js";
import { createDatabase, type TestDatabase } from "./support/postgres.js";
import { startTcpProxy } from "./support/tcp-proxy.js";

const databases: TestDatabase[] = [];
after(async () => {
  for (const db of databases) await db.drop();
});

async function freshDatabase(): Promise<TestDatabase> {
  const db = await createDatabase("ferry_store");
  databases.push(db);
  return db;
}

/** One migrated database for the conformance suite, emptied before each test. */
let shared: Promise<TestDatabase> | undefined;
function sharedDatabase(): Promise<TestDatabase> {
  return (shared ??= freshDatabase().then(async (db) => {
    await migratePostgres(db.url);
    return db;
  }));
}

async function sql<T extends pg.QueryResultRow = any>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/**
 * The three stores on the shared database, emptied, through a TCP proxy of their own: an outage
 * cuts every connection and refuses new ones, as a server going away does.
 */
async function open(): Promise<OpenedStores> {
  const db = await sharedDatabase();
  await sql(db.url, "TRUNCATE endpoints, postbacks, attempts, accounts, tokens, destinations, idempotency_keys, content_hashes, events, event_outbox, event_sessions, event_types, delivery_rollups, delivery_rollups_hourly");
  const target = new URL(db.url);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const url = new URL(db.url);
  url.port = String(proxy.port);
  const stores = await connectPostgresStores(url.toString(), { migrate: false, poolSize: 2 });
  return {
    stores,
    async outage() {
      await proxy.cut();
      // Let the pool see its idle connections die first, as it would after a while in production.
      await new Promise((r) => setTimeout(r, 50));
    },
    async close() {
      await stores.close();
      await proxy.close();
    },
  };
}

postbackStoreConformance("Postgres", open);
deliveryLogConformance("Postgres", open);
accountStoreConformance("Postgres", open);
dedupeStoreConformance("Postgres", open);
eventStoreConformance("Postgres", open);

const T0 = Date.UTC(2024, 0, 1);

function record(n: number, overrides: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    postbackId: `pb-${n}`,
    endpoint: { id: `ep-${n % 7}`, method: "GET", url: `http://partner.example/${n % 7}?n={n}`, defaultValue: "", maxAttempts: 3 },
    data: JSON.stringify({ n }),
    createdAt: T0,
    attempt: 1,
    startedAt: T0 + n,
    durationMs: 3.25,
    url: `http://partner.example/${n % 7}?n=${n}`,
    statusCode: 200,
    error: null,
    errorMessage: null,
    responseBody: "ok",
    state: "delivered",
    nextAttemptAt: null,
    reason: null,
    ...overrides,
  };
}

/** Counts the statements every pg client sends while `fn` runs. */
async function countQueries(fn: () => Promise<void>): Promise<number> {
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  let count = 0;
  proto.query = function (this: unknown, ...args: unknown[]) {
    count++;
    return original.apply(this, args);
  };
  try {
    await fn();
  } finally {
    proto.query = original;
  }
  return count;
}

describe("Postgres store", () => {
  let db: TestDatabase;
  let stores: Stores;
  before(async () => {
    db = await freshDatabase();
    stores = await connectPostgresStores(db.url, { migrate: true, poolSize: 4 });
  });
  after(() => stores.close());

  test("a batch that fails records nothing, and its endpoint is recorded by the next batch naming it", async () => {
    const good = record(1, { postbackId: "atomic-1", endpoint: { id: "ep-atomic", method: "GET", url: "http://partner.example/", defaultValue: "", maxAttempts: 3 } });
    // The data column is NOT NULL: the second record makes the whole statement fail.
    const bad = { ...good, postbackId: "atomic-2", data: null as unknown as string };
    await assert.rejects(stores.postbacks.recordAttempts([good, bad]), (err: Error) => {
      assert.match(err.message, /null value in column "data"/);
      assert.ok(!(err instanceof StoreUnavailableError), "a caller's bug is not disguised as an outage");
      return true;
    });
    assert.equal(await stores.postbacks.getPostback("atomic-1"), undefined, "the batch is atomic");
    assert.deepEqual(await sql(db.url, "SELECT id FROM endpoints WHERE id = 'ep-atomic'"), []);

    await stores.postbacks.recordAttempts([good]);
    const got = await stores.postbacks.getPostback("atomic-1");
    assert.equal(got?.state, "delivered");
    assert.deepEqual(got?.endpoint, good.endpoint);
  });

  test("a batch of 1,000 records, several attempts of a postback among them, is one statement", async () => {
    const batch: AttemptRecord[] = [];
    for (let n = 0; n < 800; n++) batch.push(record(10_000 + n, { postbackId: `bulk-${n}` }));
    // 100 postbacks with two attempts each; the second is delivered and comes first in the batch
    // for half of them, so the batch must not apply in arrival order blindly.
    for (let n = 0; n < 100; n++) {
      const first = record(20_000 + n, { postbackId: `bulk-2-${n}`, statusCode: 503, state: "failed", nextAttemptAt: T0 + 5000, reason: "HTTP 503" });
      const second = { ...first, attempt: 2, startedAt: first.startedAt + 1000, statusCode: 200, state: "delivered" as const, nextAttemptAt: null, reason: null };
      if (n % 2) batch.push(first, second);
      else batch.push(second, first);
    }
    assert.equal(batch.length, 1000);
    const queries = await countQueries(() => stores.postbacks.recordAttempts(batch));
    assert.equal(queries, 1, "one round trip for the whole batch");

    const [{ postbacks, attempts }] = await sql(
      db.url,
      "SELECT (SELECT count(*) FROM postbacks WHERE id LIKE 'bulk-%')::int AS postbacks, (SELECT count(*) FROM attempts WHERE postback_id LIKE 'bulk-%')::int AS attempts",
    );
    assert.equal(postbacks, 900);
    assert.equal(attempts, 1000);
    for (const n of [0, 1, 98, 99]) {
      const got = await stores.postbacks.getPostback(`bulk-2-${n}`);
      assert.equal(got?.state, "delivered", `bulk-2-${n}`);
      assert.equal(got?.reason, null);
      assert.deepEqual(got?.attempts.map((a) => [a.attempt, a.statusCode]), [[1, 503], [2, 200]]);
    }
    const one = await stores.postbacks.getPostback("bulk-7");
    assert.equal(one?.data, JSON.stringify({ n: 10_007 }));
    assert.equal(one?.updatedAt, T0 + 10_007 + 3, "started at + round(duration)");
  });

  test("two processes writing the same new endpoints and postbacks at once, in opposite orders, do not deadlock", async () => {
    const other = await connectPostgresStores(db.url, { migrate: false, poolSize: 2 });
    try {
      await Promise.all([stores.ping(), other.ping()]);
      for (let round = 0; round < 10; round++) {
        const batch = Array.from({ length: 500 }, (_, n) =>
          record(n, {
            postbackId: `race-${round}-${n}`,
            endpoint: { id: `ep-race-${round}-${n}`, method: "POST", url: "http://partner.example/race", defaultValue: "", maxAttempts: 3 },
          }),
        );
        await Promise.all([stores.postbacks.recordAttempts(batch), other.postbacks.recordAttempts([...batch].reverse())]);
      }
    } finally {
      await other.close();
    }
    const [{ n }] = await sql(db.url, "SELECT count(*)::int AS n FROM attempts WHERE postback_id LIKE 'race-%'");
    assert.equal(n, 5000);
  });

  test("the same attempt twice in one batch keeps the later copy", async () => {
    const a = record(1, { postbackId: "dup-1", statusCode: 503, state: "failed", nextAttemptAt: T0 + 9000, reason: "HTTP 503", responseBody: "first" });
    const b = { ...a, responseBody: "second", durationMs: 9.5 };
    await stores.postbacks.recordAttempts([a, b]);
    const got = await stores.postbacks.getPostback("dup-1");
    assert.deepEqual(got?.attempts.map((x) => [x.responseBody, x.durationMs]), [["second", 9.5]]);
  });

  test("several processes at once: failures are counted without loss or deadlock, a key is claimed once, a hash is new once", async () => {
    const other = await connectPostgresStores(db.url, { migrate: false, poolSize: 4 });
    try {
      const destination = (id: string): Destination => ({
        id,
        accountId: "acct_race",
        url: `http://partner.example/${id}`,
        method: "POST",
        headers: {},
        eventTypes: [],
        enabled: true,
        disabledReason: null,
        disabledAt: null,
        timeoutMs: null,
        maxAttempts: null,
        defaultValue: null,
        rateLimit: null,
        concurrency: null,
        failureThreshold: 40,
        failureWindowMs: 0,
        onDisable: "hold",
        rateLimitBurst: null,
        ordering: "none",
        orderingKey: null,
        pausedUntil: null,
        pauseReason: null,
        secret: "whsec_cmFjZQ==",
        createdAt: T0,
        updatedAt: T0,
      });
      await stores.accounts.createDestination(destination("dst_race_a"));
      await stores.accounts.createDestination(destination("dst_race_b"));
      // 20 batches per process, each failing both destinations, in opposite orders: 40 failures
      // of each, the threshold exactly.
      const batch = (n: number, ids: string[]) => ids.map((id) => ({ destinationId: id, at: T0 + n, threshold: 40, windowMs: 0 }));
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, n) => [
          stores.accounts.recordFailures(batch(n, ["dst_race_a", "dst_race_b"])),
          other.accounts.recordFailures(batch(n, ["dst_race_b", "dst_race_a"])),
        ]).flat(),
      );
      assert.deepEqual(results.flat().sort(), ["dst_race_a", "dst_race_b"], "each disabled exactly once: no failure lost");
      assert.equal((await stores.accounts.getDestination("dst_race_a"))?.disabledReason, "40 failed attempts");

      const claims = await Promise.all(
        Array.from({ length: 20 }, (_, n) => (n % 2 ? stores : other).dedupe.claimIdempotencyKey("acct_race", "k", "fp", T0, HOUR, MINUTE)),
      );
      assert.deepEqual(claims.filter((c) => c.kind === "claimed").length, 1);
      assert.ok(claims.every((c) => c.kind === "claimed" || c.kind === "in_progress"));

      const hashes = Array.from({ length: 50 }, (_, n) => `h${n}`);
      const marks = await Promise.all(
        Array.from({ length: 10 }, (_, n) => (n % 2 ? stores : other).dedupe.markSeen("acct_race", n % 2 ? hashes : [...hashes].reverse(), T0, MINUTE)),
      );
      for (const hash of hashes) {
        const fresh = marks.filter((m, n) => m[n % 2 ? hashes.indexOf(hash) : hashes.length - 1 - hashes.indexOf(hash)] === false);
        assert.equal(fresh.length, 1, hash);
      }
    } finally {
      await other.close();
    }
  });

  test("a NUL character from a partner's response does not fail the batch", async () => {
    const r = record(1, { postbackId: "nul-1", responseBody: "bin\u0000ary", errorMessage: "x\u0000y" });
    await stores.postbacks.recordAttempts([r, record(2, { postbackId: "nul-2" })]);
    const got = await stores.postbacks.getPostback("nul-1");
    assert.equal(got?.attempts[0]?.responseBody, "bin\uFFFDary");
    assert.equal(got?.attempts[0]?.errorMessage, "x\uFFFDy");
    assert.ok(await stores.postbacks.getPostback("nul-2"));
  });
});

describe("Postgres store: start-up", () => {
  test("an unreachable server: a one-line BackendError naming FERRY_DATABASE_URL, without the password", async () => {
    const url = "postgres://ferry:s3cret-Pa55@127.0.0.1:1/ferry";
    const err = await connectPostgresStores(url, { migrate: false }).then(
      () => assert.fail("connected"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof BackendError, String(err));
    assert.match(err.message, /^FERRY_DATABASE_URL: cannot connect to postgres:\/\/ferry:\*\*\*@127\.0\.0\.1:1\/ferry: .*ECONNREFUSED/);
    assert.doesNotMatch(err.message, /s3cret/);
    assert.doesNotMatch(err.message, /\n/);
  });

  test("a database that does not exist, or a role that does not exist: the server's reason, on one line", async () => {
    const db = await freshDatabase();
    const missingDb = new URL(db.url);
    missingDb.pathname = "/ferry_no_such_database";
    missingDb.password = "hunter2-hunter2";
    await assert.rejects(connectPostgresStores(missingDb.toString(), { migrate: true }), (err: Error) => {
      assert.ok(err instanceof BackendError);
      assert.match(err.message, /^FERRY_DATABASE_URL: cannot connect to .*:\*\*\*@.*: database "ferry_no_such_database" does not exist$/);
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    });
    const missingRole = new URL(db.url);
    missingRole.username = "ferry_no_such_role";
    await assert.rejects(connectPostgresStores(missingRole.toString(), { migrate: true }), (err: Error) => {
      assert.ok(err instanceof BackendError);
      assert.match(err.message, /role "ferry_no_such_role" does not exist/);
      return true;
    });
  });

  test("an unmigrated database without FERRY_MIGRATE_ON_START: a BackendError saying to run ferry migrate; with it, it migrates", async () => {
    const db = await freshDatabase();
    await assert.rejects(connectPostgresStores(db.url, { migrate: false }), (err: Error) => {
      assert.ok(err instanceof BackendError);
      assert.match(err.message, /^FERRY_DATABASE_URL: .*`ferry migrate`.*FERRY_MIGRATE_ON_START=true$/);
      return true;
    });
    const store = await connectPostgresStores(db.url, { migrate: true });
    await store.postbacks.recordAttempts([record(1)]);
    await store.close();
    // Migrated now: no option needed, and nothing applied again.
    const again = await connectPostgresStores(db.url, { migrate: false });
    assert.equal((await again.postbacks.getPostback("pb-1"))?.state, "delivered");
    await again.close();
    assert.deepEqual(await migratePostgres(db.url), { applied: [] });
  });

  test("migratePostgres applies each migration once, run twice or twice at the same time", async () => {
    const all = STORE_MIGRATIONS.map((_, i) => i + 1);
    const one = await freshDatabase();
    assert.deepEqual(await migratePostgres(one.url), { applied: all });
    assert.deepEqual(await migratePostgres(one.url), { applied: [] });

    const two = await freshDatabase();
    const results = await Promise.all([migratePostgres(two.url), migratePostgres(two.url), migratePostgres(two.url)]);
    assert.deepEqual(results.map((r) => r.applied).sort((a, b) => b.length - a.length), [all, [], []]);
    const rows = await sql(two.url, "SELECT component, version FROM ferry_migrations ORDER BY version");
    assert.deepEqual(rows, all.map((version) => ({ component: "store", version })));
  });

  test("a database on the first schema migrates, and what it held reads back as before", async () => {
    const db = await freshDatabase();
    await sql(db.url, "CREATE TABLE ferry_migrations (component text NOT NULL, version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))");
    await sql(db.url, STORE_MIGRATIONS[0]!);
    await sql(db.url, "INSERT INTO ferry_migrations (component, version) VALUES ('store', 1)");
    await sql(db.url, "INSERT INTO endpoints VALUES ('ep-old', 'POST', 'http://partner.example/{n}', '', 3)");
    await sql(db.url, "INSERT INTO postbacks VALUES ('pb-old', 'ep-old', '{}', 'dead', 1, $1, $2, NULL, 'gave up')", [T0, T0 + 5]);

    assert.deepEqual(await migratePostgres(db.url), { applied: STORE_MIGRATIONS.slice(1).map((_, i) => i + 2) });
    const store = await connectPostgresStores(db.url, { migrate: false });
    try {
      const got = await store.postbacks.getPostback("pb-old");
      assert.deepEqual(got?.endpoint, { id: "ep-old", method: "POST", url: "http://partner.example/{n}", defaultValue: "", maxAttempts: 3 });
      assert.equal(got?.state, "dead");
      assert.equal(got?.updatedAt, T0 + 5);
    } finally {
      await store.close();
    }
  });

  test("migratePostgres to an unreachable server rejects with the BackendError", async () => {
    await assert.rejects(migratePostgres("postgres://ferry:pw-pw-pw@127.0.0.1:1/ferry"), (err: Error) => {
      assert.ok(err instanceof BackendError);
      assert.match(err.message, /^FERRY_DATABASE_URL: cannot connect to postgres:\/\/ferry:\*\*\*@127\.0\.0\.1:1\/ferry: /);
      return true;
    });
  });
});

describe("Postgres store: the server going away", () => {
  test("ping and writes fail fast while it is gone, the process survives, and both work again once it is back", async () => {
    const db = await freshDatabase();
    await migratePostgres(db.url);
    const target = new URL(db.url);
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const url = new URL(db.url);
    url.port = String(proxy.port);
    let stores: Stores | undefined;
    try {
      stores = await connectPostgresStores(url.toString(), { migrate: false, poolSize: 3 });
      await stores.postbacks.recordAttempts([record(1)]);
      await stores.ping();

      // Idle pooled connections die with the server; an unhandled 'error' would end this process.
      await proxy.cut();
      await new Promise((r) => setTimeout(r, 50));
      const t0 = Date.now();
      await assert.rejects(stores.ping(), StoreUnavailableError);
      assert.ok(Date.now() - t0 < 3000, `ping failed in ${Date.now() - t0} ms`);
      await assert.rejects(stores.postbacks.recordAttempts([record(2)]), StoreUnavailableError);
      await assert.rejects(stores.postbacks.getPostback("pb-1"), StoreUnavailableError);

      await proxy.restore();
      await stores.ping();
      await stores.postbacks.recordAttempts([record(2)]);
      assert.equal((await stores.postbacks.getPostback("pb-1"))?.state, "delivered");
      assert.equal((await stores.postbacks.getPostback("pb-2"))?.state, "delivered");
    } finally {
      await stores?.close();
      await proxy.close();
    }
  });

  test("a connection dropped while a statement runs: StoreUnavailableError, and the next call connects anew", async () => {
    const db = await freshDatabase();
    await migratePostgres(db.url);
    const stores = await connectPostgresStores(db.url, { migrate: false, poolSize: 1 });
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      // The lock holds the store's statement in flight while its connection is ended server-side.
      await admin.query("BEGIN; LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE");
      const blocked = stores.accounts.getAccount("acct_any");
      // It may reject as soon as its backend is ended, before assert.rejects below is reached:
      // mark it handled now, or node:test counts an unhandled rejection (it did, now and then).
      blocked.catch(() => undefined);
      const current = admin.query("SELECT current_database() AS name");
      const { rows } = await current;
      for (let tries = 0; ; tries++) {
        const waiting = await admin.query(
          "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'ferry' AND wait_event_type = 'Lock'",
          [rows[0].name],
        );
        if (waiting.rows.length > 0) {
          await admin.query("SELECT pg_terminate_backend($1)", [waiting.rows[0].pid]);
          break;
        }
        assert.ok(tries < 100, "the store's statement never waited on the lock");
        await new Promise((r) => setTimeout(r, 20));
      }
      await assert.rejects(blocked, (err: unknown) => {
        assert.ok(err instanceof StoreUnavailableError, `${String(err)} is not a StoreUnavailableError`);
        return true;
      });
      await admin.query("COMMIT");
      assert.equal(await stores.accounts.getAccount("acct_any"), undefined);
    } finally {
      await admin.end();
      await stores.close();
    }
  });

  test("stores used after close: StoreUnavailableError, not a crash", async () => {
    const db = await sharedDatabase();
    const stores = await connectPostgresStores(db.url, { migrate: false, poolSize: 1 });
    await stores.close();
    await stores.close(); // twice is no error
    for (const call of [() => stores.ping(), () => stores.postbacks.getPostback("pb-x"), () => stores.dedupe.markSeen("acct_A", ["h"], T0, MINUTE)]) {
      await assert.rejects(call(), (err: unknown) => {
        assert.ok(err instanceof StoreUnavailableError, `${String(err)} is not a StoreUnavailableError`);
        return true;
      });
    }
  });
});
