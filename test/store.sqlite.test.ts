import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { migrate, openSqlite } from "../src/sqlite.js";
import { MIGRATIONS, SqliteStore } from "../src/store/sqlite.js";
import type { AttemptRecord } from "../src/store/port.js";
import { tempDir } from "./support/harness.js";
import { storeConformance } from "./conformance/store.js";

storeConformance("SQLite", async () => {
  const dir = tempDir("ferry-store-");
  const db = openSqlite(join(dir.path, "ferry.db"));
  const store = new SqliteStore(db);
  return {
    store,
    async close() {
      await store.close();
      db.close();
      dir.cleanup();
    },
  };
});

describe("SQLite store", () => {
  test("a batch that fails records nothing, and its endpoint is recorded by the next batch naming it", async () => {
    const dir = tempDir("ferry-store-");
    const db = openSqlite(join(dir.path, "ferry.db"));
    try {
      const store = new SqliteStore(db);
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
      await assert.rejects(store.recordAttempts([good, bad]));
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

      const store = new SqliteStore(db);
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
});
