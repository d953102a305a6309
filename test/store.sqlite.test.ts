import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { openSqlite } from "../src/sqlite.js";
import { SqliteStore } from "../src/store/sqlite.js";
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
});
