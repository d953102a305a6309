/**
 * The embedded backend's FinishAndTake (src/store/sqlite-finished-work.ts): finished work's
 * store writes, its settle and the next reservation are one SQLite transaction. Real SQLite
 * files; a failure is made with a trigger that aborts, as a full disk or an I/O error would.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { openSqlite, type SqliteDatabase } from "../src/sqlite.js";
import { SqliteQueue } from "../src/queue/sqlite.js";
import { openSqliteStores, type SqliteStores } from "../src/store/sqlite.js";
import { SqliteFinishAndTake } from "../src/store/sqlite-finished-work.js";
import type { FinishedWork, Reservation } from "../src/queue/port.js";
import type { AttemptRecord } from "../src/store/port.js";
import type { Endpoint } from "../src/core/types.js";
import { DISABLED_GONE } from "../src/core/types.js";
import { tempDir } from "./support/harness.js";
import { account, destination } from "./conformance/store-fixtures.js";

const T0 = Date.UTC(2024, 0, 1);
const LEASE = 30_000;

interface Embedded {
  db: SqliteDatabase;
  queue: SqliteQueue;
  stores: SqliteStores;
  finish: SqliteFinishAndTake;
  close(): void;
}

function openEmbedded(): Embedded {
  const dir = tempDir("ferry-finish-");
  const db = openSqlite(join(dir.path, "ferry.db"));
  const queue = new SqliteQueue(db);
  const stores = openSqliteStores(db);
  return {
    db,
    queue,
    stores,
    finish: new SqliteFinishAndTake(queue, stores.postbacks, stores.accounts),
    close() {
      db.close();
      dir.cleanup();
    },
  };
}

const endpoint: Endpoint = { id: "ep-1", method: "GET", url: "http://partner.example/", defaultValue: "", maxAttempts: 3, accountId: "acct-1", destinationId: "dst-1" };

function delivered(r: Reservation): AttemptRecord {
  return {
    postbackId: r.postbackId,
    endpoint: r.endpoint,
    data: r.data,
    createdAt: r.createdAt,
    attempt: r.attempt,
    startedAt: T0 + 10,
    durationMs: 3,
    url: r.endpoint.url,
    statusCode: 200,
    error: null,
    errorMessage: null,
    responseBody: "ok",
    state: "delivered",
    nextAttemptAt: null,
    reason: null,
  };
}

function workOf(records: AttemptRecord[]): FinishedWork {
  return { records, cancels: [], held: [], failures: [], pauses: [], gone: [], at: T0 + 20 };
}

async function enqueued(e: Embedded, n: number): Promise<void> {
  const postbacks = Array.from({ length: n }, (_, i) => ({ id: `pb-${i}`, data: JSON.stringify({ n: i }) }));
  await e.queue.enqueue({ endpoint, postbacks, createdAt: T0 });
}

const count = (db: SqliteDatabase, sql: string) => db.prepare(sql).pluck().get() as number;

describe("embedded FinishAndTake: write finished work, settle it and take more, in one transaction", () => {
  test("records, settles and reserves the next batch in one call", async () => {
    const e = openEmbedded();
    try {
      await enqueued(e, 5);
      const first = await e.queue.reserve(2, LEASE, T0);
      const settlements = first.map((reservation) => ({ reservation, settle: { kind: "done" as const } }));
      const { settled, reserved, written } = await e.finish.finishAndTake(workOf(first.map(delivered)), settlements, 10, LEASE, T0 + 30);
      assert.equal(settled, 2);
      assert.deepEqual(reserved.map((r) => r.postbackId), ["pb-2", "pb-3", "pb-4"]);
      assert.deepEqual(written, { disabled: [], gone: [] });
      for (const r of first) {
        assert.equal((await e.stores.postbacks.getPostback(r.postbackId))?.state, "delivered");
        assert.equal(await e.queue.find(r.postbackId), undefined);
      }
    } finally {
      e.close();
    }
  });

  test("a store write that fails settles nothing and reserves nothing; written again, it is recorded once", async () => {
    const e = openEmbedded();
    try {
      await enqueued(e, 4);
      const first = await e.queue.reserve(2, LEASE, T0);
      const settlements = first.map((reservation) => ({ reservation, settle: { kind: "done" as const } }));
      // Fails after the postback and attempt rows are written: with the roll-ups.
      e.db.exec("CREATE TRIGGER fail_rollups BEFORE INSERT ON delivery_rollups BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END");
      await assert.rejects(e.finish.finishAndTake(workOf(first.map(delivered)), settlements, 10, LEASE, T0 + 30), /disk full/);
      assert.equal(count(e.db, "SELECT count(*) FROM attempts"), 0, "no attempt recorded");
      assert.equal(count(e.db, "SELECT count(*) FROM postbacks"), 0);
      assert.equal(count(e.db, "SELECT count(*) FROM endpoints"), 0, "nor its endpoint");
      for (const r of first) assert.equal((await e.queue.find(r.postbackId))?.attempts, 1, "still queued and leased: not settled");
      assert.deepEqual(await e.queue.stats(T0 + 30), { ready: 2, waiting: 2 }, "the next two not reserved");

      e.db.exec("DROP TRIGGER fail_rollups");
      const { settled, reserved } = await e.finish.finishAndTake(workOf(first.map(delivered)), settlements, 10, LEASE, T0 + 40);
      assert.equal(settled, 2);
      assert.equal(reserved.length, 2);
      // The endpoint row was rolled back, so the retry writes it again (the join finds it).
      for (const r of first) assert.equal((await e.stores.postbacks.getPostback(r.postbackId))?.state, "delivered");
      assert.equal(count(e.db, "SELECT count(*) FROM attempts"), 2);
      assert.equal(count(e.db, "SELECT sum(delivered) FROM delivery_rollups"), 2, "counted once in the roll-ups");
    } finally {
      e.close();
    }
  });

  test("a settle that fails rolls back the attempts written before it", async () => {
    const e = openEmbedded();
    try {
      await enqueued(e, 3);
      const first = await e.queue.reserve(1, LEASE, T0);
      const settlements = first.map((reservation) => ({ reservation, settle: { kind: "done" as const } }));
      e.db.exec("CREATE TRIGGER fail_settle BEFORE DELETE ON queue_entries BEGIN SELECT RAISE(ABORT, 'I/O error (test)'); END");
      await assert.rejects(e.finish.finishAndTake(workOf(first.map(delivered)), settlements, 10, LEASE, T0 + 30), /I\/O error/);
      assert.equal(count(e.db, "SELECT count(*) FROM attempts"), 0);
      assert.equal(count(e.db, "SELECT count(delivered) FROM delivery_rollups"), 0);
      assert.equal((await e.queue.find(first[0]!.postbackId))?.attempts, 1);
      e.db.exec("DROP TRIGGER fail_settle");
      const again = await e.finish.finishAndTake(workOf(first.map(delivered)), settlements, 10, LEASE, T0 + 40);
      assert.equal(again.settled, 1);
      assert.equal(count(e.db, "SELECT sum(delivered) FROM delivery_rollups"), 1);
    } finally {
      e.close();
    }
  });

  test("what partners asked and endpoint health are written with it: failures past the threshold, a pause, a 410", async () => {
    const e = openEmbedded();
    try {
      const { accounts } = e.stores;
      const owner = account();
      await accounts.createAccount(owner);
      const failing = destination(owner.id, { failureThreshold: 2 });
      const paused = destination(owner.id);
      const gone = destination(owner.id);
      const offAlready = destination(owner.id, { enabled: false, disabledReason: "by its owner", disabledAt: T0 });
      for (const d of [failing, paused, gone, offAlready]) await accounts.createDestination(d);
      await enqueued(e, 1);
      const first = await e.queue.reserve(1, LEASE, T0);
      const failure = { destinationId: failing.id, at: T0 + 10, threshold: 2, windowMs: 60_000 };
      const work: FinishedWork = {
        ...workOf(first.map(delivered)),
        failures: [failure, { ...failure, at: T0 + 11 }],
        pauses: [{ destinationId: paused.id, until: T0 + 60_000, reason: "Retry-After" }],
        gone: [gone.id, offAlready.id],
      };
      const settlements = first.map((reservation) => ({ reservation, settle: { kind: "done" as const } }));
      const { written } = await e.finish.finishAndTake(work, settlements, 10, LEASE, T0 + 30);
      assert.deepEqual(written, { disabled: [failing.id], gone: [gone.id] }, "disabled as gone once: not one disabled already");
      assert.equal((await accounts.getDestination(failing.id))?.enabled, false);
      assert.equal((await accounts.getDestination(paused.id))?.pausedUntil, T0 + 60_000);
      const goneNow = await accounts.getDestination(gone.id);
      assert.equal(goneNow?.enabled, false);
      assert.equal(goneNow?.disabledReason, DISABLED_GONE);
      assert.equal((await accounts.getDestination(offAlready.id))?.disabledReason, "by its owner", "its owner's reason stays");
    } finally {
      e.close();
    }
  });
});
