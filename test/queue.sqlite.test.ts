import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { migrate, openSqlite, type SqliteDatabase } from "../src/sqlite.js";
import { MIGRATIONS, SqliteQueue } from "../src/queue/sqlite.js";
import type { Queue } from "../src/queue/port.js";
import { tempDir } from "./support/harness.js";
import { queueConformance, endpoint, postbacks, type OpenedQueue } from "./conformance/queue.js";
import { queueLinesConformance } from "./conformance/queue-lines.js";

async function openQueue(): Promise<OpenedQueue> {
  const dir = tempDir("ferry-queue-");
  const path = join(dir.path, "ferry.db");
  const opened: { db: SqliteDatabase; queue: Queue }[] = [];
  const openOne = (): Queue => {
    const db = openSqlite(path);
    const queue = new SqliteQueue(db);
    opened.push({ db, queue });
    return queue;
  };
  return {
    queue: openOne(),
    // Another connection to the same file, as another process has.
    peer: async () => openOne(),
    async cutOff() {
      for (const { db } of opened) db.close();
    },
    async close() {
      for (const { db, queue } of opened) {
        await queue.close();
        db.close();
      }
      dir.cleanup();
    },
  };
}

queueConformance("SQLite", openQueue);
queueLinesConformance("SQLite", openQueue);

interface ThreadResult {
  ok: boolean;
  error?: string;
  reserved?: string[];
}

/** Starts worker threads that each open their own connection, and releases them at once. */
async function runThreads(inputs: Record<string, unknown>[]): Promise<ThreadResult[]> {
  const start = new SharedArrayBuffer(8);
  const flags = new Int32Array(start);
  const script = new URL("./support/sqlite-queue-thread.js", import.meta.url);
  const results = inputs.map(
    (input) =>
      new Promise<ThreadResult>((resolve, reject) => {
        const w = new Worker(script, { workerData: { ...input, start } });
        w.once("message", (m: ThreadResult) => resolve(m));
        w.once("error", reject);
        w.once("exit", (code) => reject(new Error(`thread exited with ${code} before reporting`)));
      }),
  );
  // Give every thread time to load and wait on the flag, then let them all go.
  await new Promise((resolve) => setTimeout(resolve, 200));
  Atomics.store(flags, 0, 1);
  Atomics.notify(flags, 0);
  return Promise.all(results);
}

describe("SQLite queue, several processes on one file", () => {
  test("processes opening a new database file at the same moment all start", async () => {
    for (let round = 0; round < 10; round++) {
      const dir = tempDir("ferry-queue-");
      try {
        const path = join(dir.path, "ferry.db");
        const results = await runThreads(Array.from({ length: 4 }, () => ({ path, role: "open" })));
        for (const r of results) assert.ok(r.ok, r.error);
      } finally {
        dir.cleanup();
      }
    }
  });

  test("an API and two workers on separate connections never reserve the same entry twice", async () => {
    const dir = tempDir("ferry-queue-");
    try {
      const path = join(dir.path, "ferry.db");
      const db = openSqlite(path);
      new SqliteQueue(db);
      db.close();
      const common = { path, prefix: "pb", batches: 100, perBatch: 20 };
      const [api, ...workers] = await runThreads([
        { ...common, role: "api" },
        { ...common, role: "worker" },
        { ...common, role: "worker" },
      ]);
      assert.ok(api!.ok, api!.error);
      for (const w of workers) assert.ok(w.ok, w.error);
      const all = workers.flatMap((w) => w.reserved!);
      assert.equal(new Set(all).size, all.length, "no entry reserved twice");
      assert.equal(all.length, 100 * 20, "every entry reserved");

      const check = openSqlite(path);
      try {
        assert.deepEqual(await new SqliteQueue(check).stats(), { ready: 0, waiting: 0 });
        assert.equal(check.prepare("SELECT count(*) FROM queue_endpoints").pluck().get(), 0, "no endpoint left behind");
      } finally {
        check.close();
      }
    } finally {
      dir.cleanup();
    }
  });
});

describe("SQLite queue durability", () => {
  test("an acknowledged enqueue survives closing and reopening the file", async () => {
    const dir = tempDir("ferry-queue-");
    try {
      const path = join(dir.path, "ferry.db");
      const ep = endpoint({ method: "POST", url: "http://partner.example/{n}", defaultValue: "d", maxAttempts: 4 });
      const pbs = postbacks(5);
      const t0 = Date.UTC(2024, 0, 1);

      let db = openSqlite(path, { synchronous: "full" });
      let queue = new SqliteQueue(db);
      await queue.enqueue({ endpoint: ep, postbacks: pbs, createdAt: t0 });
      // A worker holds two of them when the process goes away.
      const held = await queue.reserve(2, 1000, t0);
      await queue.close();
      db.close();

      db = openSqlite(path);
      queue = new SqliteQueue(db);
      try {
        assert.deepEqual(await queue.stats(t0), { ready: 3, waiting: 2 });
        assert.deepEqual(await queue.find(pbs[0]!.id), { postbackId: pbs[0]!.id, endpoint: ep, data: pbs[0]!.data, attempts: 1, dueAt: t0 + 1000, held: false, createdAt: t0 });
        const rest = await queue.reserve(10, 60_000, t0);
        assert.deepEqual(rest.map((r) => r.postbackId), pbs.slice(2).map((p) => p.id));
        const recovered = await queue.reserve(10, 1000, t0 + 1000);
        assert.deepEqual(recovered.map((r) => [r.postbackId, r.attempt]), held.map((r) => [r.postbackId, 2]));
        for (const r of [...rest, ...recovered]) assert.deepEqual(r.endpoint, ep);
        // A settle naming a lease from before the restart is stale once the entry was taken again.
        assert.equal(await queue.settle(held.map((reservation) => ({ reservation, settle: { kind: "done" } }))), 0);
        assert.equal(await queue.settle([...rest, ...recovered].map((reservation) => ({ reservation, settle: { kind: "done" } }))), 5);
        assert.deepEqual(await queue.stats(t0 + 5000), { ready: 0, waiting: 0 });
      } finally {
        await queue.close();
        db.close();
      }
    } finally {
      dir.cleanup();
    }
  });

  test("a closed queue's waitForWork resolves at once", async () => {
    const dir = tempDir("ferry-queue-");
    const db = openSqlite(join(dir.path, "ferry.db"));
    try {
      const queue = new SqliteQueue(db);
      const waiting = queue.waitForWork(60_000);
      await queue.close();
      await waiting;
      await queue.waitForWork(60_000);
    } finally {
      db.close();
      dir.cleanup();
    }
  });
});

describe("SQLite queue upgrade (migration 3: lanes and lines)", () => {
  test("entries queued before lanes get their account's lane, and reserve shares among accounts at once", async () => {
    const dir = tempDir("ferry-queue-");
    const db = openSqlite(join(dir.path, "ferry.db"));
    try {
      // A database as the version before issue 14 left it: two queue migrations, entries in it.
      migrate(db, "queue", MIGRATIONS.slice(0, 2));
      const addEndpoint = db.prepare(
        "INSERT INTO queue_endpoints (id, method, url, default_value, max_attempts, account_id, destination_id, remaining) VALUES (?, 'GET', 'http://partner.example/{n}', '', 5, ?, ?, ?)",
      );
      const addEntry = db.prepare("INSERT INTO queue_entries (postback_id, endpoint_id, data, due_at, created_at) VALUES (?, ?, '{}', ?, ?)");
      addEndpoint.run("ep-big", "acct_big", "dst_big", 50);
      addEndpoint.run("ep-small", "acct_small", "dst_small", 2);
      addEndpoint.run("ep-none", null, null, 2);
      for (let i = 0; i < 50; i++) addEntry.run(`pb-big-${String(i).padStart(2, "0")}`, "ep-big", 1000 + i, 1000 + i);
      for (let i = 0; i < 2; i++) addEntry.run(`pb-small-${i}`, "ep-small", 5000, 5000);
      for (let i = 0; i < 2; i++) addEntry.run(`pb-none-${i}`, "ep-none", 5000, 5000);

      const queue = new SqliteQueue(db);
      const lanes = db
        .prepare("SELECT q.postback_id, l.account_id FROM queue_entries q LEFT JOIN queue_lanes l ON l.lane = q.lane WHERE postback_id IN ('pb-big-00', 'pb-small-0', 'pb-none-0') ORDER BY postback_id")
        .all();
      assert.deepEqual(lanes, [
        { postback_id: "pb-big-00", account_id: "acct_big" },
        { postback_id: "pb-none-0", account_id: null },
        { postback_id: "pb-small-0", account_id: "acct_small" },
      ]);
      const got = (await queue.reserve(6, 30_000, 6000)).map((r) => r.postbackId);
      assert.deepEqual(got, ["pb-big-00", "pb-big-01", "pb-small-0", "pb-small-1", "pb-none-0", "pb-none-1"], "two each, oldest due first");
      await queue.close();
    } finally {
      db.close();
      dir.cleanup();
    }
  });
});
