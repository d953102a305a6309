import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { migrate, openSqlite } from "../src/sqlite.js";
import { MIGRATIONS, openSqliteStores } from "../src/store/sqlite.js";
import type { AttemptRecord } from "../src/store/port.js";
import { StoreUnavailableError } from "../src/core/port-errors.js";
import { tempDir } from "./support/harness.js";
import { accountStoreConformance } from "./conformance/account-store.js";
import { dedupeStoreConformance } from "./conformance/dedupe-store.js";
import { eventStoreConformance } from "./conformance/event-store.js";
import { postbackStoreConformance } from "./conformance/postback-store.js";
import { deliveryLogConformance } from "./conformance/delivery-log.js";
import type { OpenedStores } from "./conformance/store-fixtures.js";

/** The three stores on a fresh database file; an outage closes the database under them. */
async function open(): Promise<OpenedStores> {
  const dir = tempDir("ferry-store-");
  const db = openSqlite(join(dir.path, "ferry.db"));
  const stores = openSqliteStores(db);
  return {
    stores,
    async outage() {
      db.close();
    },
    async close() {
      await stores.close();
      if (db.open) db.close();
      dir.cleanup();
    },
  };
}

postbackStoreConformance("SQLite", open);
deliveryLogConformance("SQLite", open);
accountStoreConformance("SQLite", open);
dedupeStoreConformance("SQLite", open);
eventStoreConformance("SQLite", open);

describe("SQLite store", () => {
  test("a batch that fails records nothing, and its endpoint is recorded by the next batch naming it", async () => {
    const dir = tempDir("ferry-store-");
    const db = openSqlite(join(dir.path, "ferry.db"));
    try {
      const store = openSqliteStores(db).postbacks;
      const t0 = Date.UTC(2024, 0, 1);
      const good: AttemptRecord = {
        postbackId: "pb-1",
        endpoint: { id: "ep-1", method: "GET", url: "http://partner.example/", defaultValue: "", maxAttempts: 3 },
        data: "{}",
        createdAt: t0,
        attempt: 1,
        startedAt: t0,
        durationMs: 3,
        url: "http://partner.example/",
        statusCode: 200,
        error: null,
        errorMessage: null,
        responseBody: "ok",
        state: "delivered",
        nextAttemptAt: null,
        reason: null,
      };
      // The data column is NOT NULL: the second record makes the whole batch fail.
      const bad = { ...good, postbackId: "pb-2", data: null as unknown as string };
      await assert.rejects(store.recordAttempts([good, bad]), (err: Error) => {
        assert.equal((err as { code?: string }).code, "SQLITE_CONSTRAINT_NOTNULL", "the driver's own error");
        assert.ok(!(err instanceof StoreUnavailableError));
        return true;
      });
      assert.equal(await store.getPostback("pb-1"), undefined, "the batch is atomic");

      await store.recordAttempts([good]);
      const got = await store.getPostback("pb-1");
      assert.equal(got?.state, "delivered");
      assert.deepEqual(got?.endpoint, good.endpoint);
    } finally {
      db.close();
      dir.cleanup();
    }
  });

  test("a database on the first schema migrates, and what it held reads back as before", async () => {
    const dir = tempDir("ferry-store-");
    const db = openSqlite(join(dir.path, "ferry.db"));
    try {
      migrate(db, "store", MIGRATIONS.slice(0, 1));
      const t0 = Date.UTC(2024, 0, 1);
      db.prepare("INSERT INTO endpoints (id, method, url, default_value, max_attempts) VALUES ('ep-old', 'POST', 'http://partner.example/{n}', '', 3)").run();
      db.prepare(
        "INSERT INTO postbacks (id, endpoint_id, data, state, attempts, created_at, updated_at, next_attempt_at, reason) VALUES ('pb-old', 'ep-old', '{}', 'dead', 1, ?, ?, NULL, 'gave up')",
      ).run(t0, t0 + 5);

      const store = openSqliteStores(db).postbacks;
      const versions = db.prepare("SELECT version FROM ferry_migrations WHERE component = 'store' ORDER BY version").pluck().all();
      assert.deepEqual(versions, MIGRATIONS.map((_, i) => i + 1));
      const got = await store.getPostback("pb-old");
      assert.deepEqual(got?.endpoint, { id: "ep-old", method: "POST", url: "http://partner.example/{n}", defaultValue: "", maxAttempts: 3 });
      assert.equal(got?.state, "dead");
      assert.deepEqual(await store.listFailedPostbacks("dst-any", { from: 0, to: t0 + 1 }, { limit: 10 }), []);
    } finally {
      db.close();
      dir.cleanup();
    }
  });

  test("another process holding the write lock past busy_timeout: StoreUnavailableError, and the call works once it lets go", async () => {
    const dir = tempDir("ferry-store-");
    const path = join(dir.path, "ferry.db");
    const db = openSqlite(path);
    const other = openSqlite(path);
    try {
      const stores = openSqliteStores(db);
      db.pragma("busy_timeout = 50"); // not 5 s: the test waits it out
      other.exec("BEGIN IMMEDIATE");
      await assert.rejects(stores.accounts.recordFailures([{ destinationId: "dst_x", at: 1, threshold: 3, windowMs: 0 }]), (err: Error) => {
        assert.ok(err instanceof StoreUnavailableError, `${String(err)} is not a StoreUnavailableError`);
        assert.equal((err.cause as { code?: string }).code, "SQLITE_BUSY");
        return true;
      });
      other.exec("COMMIT");
      assert.deepEqual(await stores.accounts.recordFailures([{ destinationId: "dst_x", at: 1, threshold: 3, windowMs: 0 }]), []);
    } finally {
      other.close();
      db.close();
      dir.cleanup();
    }
  });
});
