/**
 * The DeliveryLog conformance suite: searching recorded postbacks, roll-ups and retention, on
 * every store adapter (test/store.sqlite.test.ts and test/store.postgres.test.ts run it). Ids
 * are real postback ids (ULIDs), so id order is creation order and time ranges are id ranges.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { LATENCY_BUCKETS, percentiles, postbackIdAt } from "../../src/core/delivery-log.js";
import type { AttemptRecord, DeliveryLog, LogFilter, PostbackStore, Stores } from "../../src/store/port.js";
import { cancel, endpoint, next, record, T0, withStores, type OpenStores } from "./store-fixtures.js";

const MIN = 60_000;

let made = 0;
/**
 * A postback id made at `at` exactly (newPostbackId is monotonic: after a later id it keeps the
 * later time), distinct for each call.
 */
function newPostbackId(at: number): string {
  made++;
  return postbackIdAt(at).slice(0, 13) + made.toString(32).toUpperCase().replace(/[ILOU]/g, "Z").padStart(16, "0");
}

export function deliveryLogConformance(name: string, open: OpenStores): void {
  async function withLog(fn: (store: PostbackStore & DeliveryLog, stores: Stores) => Promise<void>): Promise<void> {
    await withStores(open, ({ stores }) => fn(stores.postbacks, stores));
  }

  const epA1 = () => endpoint({ id: "ep_A1", accountId: "acct_A", destinationId: "dst_A1" });
  const epA2 = () => endpoint({ id: "ep_A2", accountId: "acct_A", destinationId: "dst_A2" });
  const epB = () => endpoint({ id: "ep_B", accountId: "acct_B", destinationId: "dst_B" });

  /** A first attempt of a new postback created at `at`, with the outcome given. */
  function first(at: number, ep = epA1(), overrides: Partial<AttemptRecord> = {}): AttemptRecord {
    return record({
      postbackId: newPostbackId(at),
      endpoint: ep,
      createdAt: at,
      startedAt: at + 10,
      ...overrides,
    });
  }
  const delivered = { statusCode: 200, state: "delivered", nextAttemptAt: null, reason: null, responseBody: "ok" } as const;
  const dead = { statusCode: 410, state: "dead", nextAttemptAt: null, reason: "HTTP 410", responseBody: "gone" } as const;

  /** Every page of a search, following next until null. */
  async function all(store: DeliveryLog, filter: Omit<LogFilter, "limit">, limit = 2): Promise<string[]> {
    const ids: string[] = [];
    let beforeId = filter.beforeId;
    for (let pages = 0; pages < 1000; pages++) {
      const page = await store.searchPostbacks({ ...filter, beforeId, limit });
      assert.ok(page.items.length <= limit);
      ids.push(...page.items.map((p) => p.id));
      if (page.next === null) return ids;
      beforeId = page.next;
    }
    assert.fail("the listing never ended");
  }

  describe(`delivery log conformance: ${name}`, () => {
    test("a search lists newest first, each postback once with its last attempt, across pages", () =>
      withLog(async (store) => {
        const records = Array.from({ length: 7 }, (_, i) => first(T0 + i * MIN));
        await store.recordAttempts(records);
        // The third gets a second attempt that delivers it: the row shows that attempt.
        const second = next(records[2]!, { ...delivered, durationMs: 42, url: "https://partner.example/second" });
        await store.recordAttempts([second]);
        const ids = await all(store, {});
        assert.deepEqual(ids, records.map((r) => r.postbackId).reverse());
        const page = await store.searchPostbacks({ limit: 100 });
        assert.equal(page.next, null);
        const third = page.items.find((p) => p.id === records[2]!.postbackId)!;
        assert.deepEqual(third, {
          id: records[2]!.postbackId,
          state: "delivered",
          accountId: "acct_A",
          destinationId: "dst_A1",
          createdAt: records[2]!.createdAt,
          updatedAt: second.startedAt + 42,
          attempts: 2,
          lastAttempt: { at: second.startedAt, statusCode: 200, error: null, durationMs: 42, url: "https://partner.example/second" },
        });
        const firstOne = page.items.find((p) => p.id === records[0]!.postbackId)!;
        assert.deepEqual(firstOne.lastAttempt, { at: records[0]!.startedAt, statusCode: 503, error: null, durationMs: 12.5, url: records[0]!.url });
      }));

    test("filters: account, destination, state, time range, status code, id prefix and text, alone and together", () =>
      withLog(async (store) => {
        const a1ok = first(T0, epA1(), delivered);
        const a1fail = first(T0 + MIN, epA1());
        const a1dead = first(T0 + 2 * MIN, epA1(), { ...dead, url: "https://partner.example/gone-here" });
        const a2timeout = first(T0 + 3 * MIN, epA2(), { statusCode: null, error: "timeout", errorMessage: "no answer", responseBody: null });
        const bOk = first(T0 + 4 * MIN, epB(), delivered);
        await store.recordAttempts([a1ok, a1fail, a1dead, a2timeout, bOk]);
        const cancelled = cancel({ postbackId: newPostbackId(T0 + 5 * MIN), endpoint: epA2(), createdAt: T0 + 5 * MIN, at: T0 + 6 * MIN });
        await store.recordCancelled([cancelled]);
        const id = (r: { postbackId: string }) => r.postbackId;

        assert.deepEqual(await all(store, { accountId: "acct_A" }), [cancelled, a2timeout, a1dead, a1fail, a1ok].map(id));
        assert.deepEqual(await all(store, { accountId: "acct_B" }), [id(bOk)]);
        assert.deepEqual(await all(store, { accountId: "acct_none" }), []);
        assert.deepEqual(await all(store, { destinationId: "dst_A2" }), [cancelled, a2timeout].map(id));
        assert.deepEqual(await all(store, { state: "delivered" }), [bOk, a1ok].map(id));
        assert.deepEqual(await all(store, { state: "failed" }), [a2timeout, a1fail].map(id));
        assert.deepEqual(await all(store, { state: "dead" }), [id(a1dead)]);
        assert.deepEqual(await all(store, { state: "cancelled" }), [id(cancelled)]);
        assert.deepEqual(await all(store, { accountId: "acct_A", state: "delivered" }), [id(a1ok)]);
        assert.deepEqual(await all(store, { destinationId: "dst_A1", state: "failed" }), [id(a1fail)]);
        // Time ranges: [since, until) on the creation time the id carries.
        assert.deepEqual(await all(store, { fromId: postbackIdAt(T0 + MIN), beforeId: postbackIdAt(T0 + 3 * MIN) }), [a1dead, a1fail].map(id));
        assert.deepEqual(await all(store, { fromId: postbackIdAt(T0 + 4 * MIN) }), [cancelled, bOk].map(id));
        assert.deepEqual(await all(store, { statusCode: 503 }), [id(a1fail)]);
        assert.deepEqual(await all(store, { statusCode: 200, accountId: "acct_A" }), [id(a1ok)]);
        assert.deepEqual(await all(store, { text: "timeout" }), [id(a2timeout)]);
        assert.deepEqual(await all(store, { text: "gone-here" }), [id(a1dead)]);
        assert.deepEqual(await all(store, { idPrefix: id(a1dead) }), [id(a1dead)]);
        assert.deepEqual(await all(store, { idPrefix: id(a1dead).slice(0, 9) }), [cancelled, bOk, a2timeout, a1dead, a1fail, a1ok].map(id), "ids of the same hours share a prefix");
        assert.deepEqual(await all(store, { idPrefix: "pb_7" }), []);
        const cancelledRow = (await store.searchPostbacks({ state: "cancelled", limit: 5 })).items[0]!;
        assert.equal(cancelledRow.lastAttempt, null);
        assert.equal(cancelledRow.attempts, 0);
        assert.equal(cancelledRow.destinationId, "dst_A2");
      }));

    test("a filter no index serves pages through more rows than its budget without losing one", () =>
      withLog(async (store) => {
        // 6000 postbacks, the status code 418 on every 1000th: more than one scan budget (5000).
        // Those are also the only delivered ones: state=delivered is checked on the walk too.
        const records = Array.from({ length: 6000 }, (_, i) =>
          first(T0 + i * 1000, epA1(), i % 1000 === 999 ? { statusCode: 418, state: "delivered", nextAttemptAt: null } : {}));
        for (let i = 0; i < records.length; i += 1000) await store.recordAttempts(records.slice(i, i + 1000));
        const want = records.filter((r) => r.statusCode === 418).map((r) => r.postbackId).reverse();
        assert.deepEqual(await all(store, { statusCode: 418 }, 4), want);
        assert.deepEqual(await all(store, { statusCode: 418, text: "partner" }, 50), want);
        assert.deepEqual(await all(store, { state: "delivered" }, 4), want);
        assert.deepEqual(await all(store, { state: "delivered", destinationId: "dst_A1" }, 50), want);
        assert.equal((await all(store, { state: "failed", accountId: "acct_A" }, 100)).length, 5994, "the partial state index lists the rest");
      }));

    test("roll-ups count each outcome per minute and destination; hours add the minutes; accounts add destinations", () =>
      withLog(async (store) => {
        const base = T0 + 10 * MIN;
        const a = first(base, epA1(), { ...delivered, durationMs: 7 }); // minute 10, latency bucket ≤10
        const b = first(base + 1000, epA1(), { durationMs: 30 }); // retry, minute 10, ≤50
        const b2 = next(b, { ...dead, durationMs: 600 }, MIN); // dead, minute 11, ≤1000
        const c = first(base + 2 * MIN, epA2(), { ...delivered, durationMs: 99 }); // other destination, minute 12
        const d = first(base + 3 * MIN, epB(), { ...delivered, durationMs: 99 }); // other account
        await store.recordAttempts([a, b]);
        await store.recordAttempts([b2, c, d]);
        await store.recordCancelled([cancel({ postbackId: newPostbackId(base), endpoint: epA1(), at: base + 30_000 })]);
        await store.recordHeld([{ destinationId: "dst_A1", accountId: "acct_A", at: base + 59_999 }]);

        const range = { from: base, to: base + HOUR_MS };
        const d1 = await store.rollups({ destinationId: "dst_A1", ...range, bucketMs: MIN });
        assert.deepEqual(d1.buckets, [
          { start: base, delivered: 1, retry: 1, dead: 0, cancelled: 1, held: 1 },
          { start: base + MIN, delivered: 0, retry: 0, dead: 1, cancelled: 0, held: 0 },
        ]);
        const hist = new Array(LATENCY_BUCKETS).fill(0);
        hist[0] = 1; // 7 ms
        hist[2] = 1; // 30 ms
        hist[6] = 1; // 600 ms
        assert.deepEqual(d1.latency, hist);
        assert.deepEqual(percentiles(d1.latency), { p50: 50, p95: 1000, p99: 1000 });

        const hourStart = base - (base % HOUR_MS);
        const acct = await store.rollups({ accountId: "acct_A", from: hourStart, to: hourStart + HOUR_MS, bucketMs: HOUR_MS });
        assert.deepEqual(acct.buckets, [{ start: hourStart, delivered: 2, retry: 1, dead: 1, cancelled: 1, held: 1 }]);
        // A range ending mid-hour: whole hours from the hourly roll-ups, the rest from the minutes.
        const partial = await store.rollups({ accountId: "acct_A", from: hourStart - HOUR_MS, to: base + 2 * MIN, bucketMs: HOUR_MS });
        assert.deepEqual(partial.buckets, [{ start: hourStart, delivered: 1, retry: 1, dead: 1, cancelled: 1, held: 1 }], "c, at base + 2 min, is past the end");
        assert.equal(partial.latency.reduce((x, y) => x + y, 0), 3);
        const twoHours = await store.rollups({ accountId: "acct_A", from: hourStart, to: hourStart + 2 * HOUR_MS, bucketMs: HOUR_MS });
        assert.deepEqual(twoHours, acct);
        const minutes = await store.rollups({ accountId: "acct_A", from: hourStart, to: hourStart + HOUR_MS, bucketMs: MIN });
        const added = (k: "delivered" | "retry" | "dead" | "cancelled" | "held") => minutes.buckets.reduce((x, b) => x + b[k], 0);
        assert.deepEqual({ start: hourStart, delivered: added("delivered"), retry: added("retry"), dead: added("dead"), cancelled: added("cancelled"), held: added("held") }, acct.buckets[0], "the hourly roll-ups hold what the minutes do");
        assert.deepEqual(minutes.latency, acct.latency);
        const everyone = await store.rollups({ from: hourStart, to: hourStart + HOUR_MS, bucketMs: HOUR_MS });
        assert.deepEqual(everyone.buckets, [{ start: hourStart, delivered: 3, retry: 1, dead: 1, cancelled: 1, held: 1 }]);
        assert.equal(everyone.latency.reduce((x, y) => x + y, 0), 5, "one latency per attempt, none for cancelled or held");
        // Outside the range: nothing.
        assert.deepEqual((await store.rollups({ destinationId: "dst_A1", from: base + 2 * MIN, to: base + 3 * MIN, bucketMs: MIN })).buckets, []);

        // The last error is the latest failed attempt's, whatever the order batches came in.
        assert.deepEqual(await store.lastError("dst_A1"), { at: b2.startedAt, statusCode: 410, error: null });
        await store.recordAttempts([first(base - MIN, epA1(), { statusCode: null, error: "timeout" })]);
        assert.deepEqual(await store.lastError("dst_A1"), { at: b2.startedAt, statusCode: 410, error: null });
        assert.equal(await store.lastError("dst_A2"), undefined);
      }));

    test("retention deletes finished postbacks and their attempts in batches, never an owed one, and leaves the roll-ups", () =>
      withLog(async (store) => {
        const old = T0;
        const finished = [
          ...Array.from({ length: 5 }, (_, i) => first(old + i, epA1(), delivered)),
          first(old + 10, epA1(), dead),
        ];
        const owed = first(old + 20, epA1()); // failed: a retry is owed
        const recent = first(old + 10 * HOUR_MS, epA1(), delivered);
        await store.recordAttempts([...finished, owed, recent]);
        const cancelled = cancel({ postbackId: newPostbackId(old + 30), endpoint: epA1(), at: old + 40 });
        await store.recordCancelled([cancelled]);
        const before = await store.rollups({ destinationId: "dst_A1", from: old - HOUR_MS, to: old + 24 * HOUR_MS, bucketMs: HOUR_MS });

        const cutoff = old + HOUR_MS;
        assert.equal(await store.deleteFinishedBefore(cutoff, 3), 3);
        assert.equal(await store.deleteFinishedBefore(cutoff, 3), 3);
        assert.equal(await store.deleteFinishedBefore(cutoff, 3), 1);
        assert.equal(await store.deleteFinishedBefore(cutoff, 3), 0);
        for (const r of finished) assert.equal(await store.getPostback(r.postbackId), undefined);
        assert.equal(await store.getPostback(cancelled.postbackId), undefined);
        assert.equal((await store.getPostback(owed.postbackId))?.state, "failed", "an owed postback stays, however old");
        assert.equal((await store.getPostback(recent.postbackId))?.attempts.length, 1);
        assert.deepEqual(await all(store, {}, 10), [recent.postbackId, owed.postbackId]);
        const after = await store.rollups({ destinationId: "dst_A1", from: old - HOUR_MS, to: old + 24 * HOUR_MS, bucketMs: HOUR_MS });
        assert.deepEqual(after, before, "roll-ups outlive the rows");
        // Recording the postback's next attempt after its row went brings the row back whole.
        const again = next(finished[0]!, delivered);
        await store.recordAttempts([again]);
        assert.equal((await store.getPostback(again.postbackId))?.state, "delivered");
      }));
  });
}

const HOUR_MS = 3_600_000;
