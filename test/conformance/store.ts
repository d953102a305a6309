/**
 * The store conformance suite: what every Store adapter must do, written against the port
 * only. An adapter's test file calls `storeConformance` with a function that opens a fresh,
 * empty store; each test opens its own.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Endpoint } from "../../src/core/types.js";
import type { Attempt, AttemptRecord, Store } from "../../src/store/port.js";

export interface OpenedStore {
  store: Store;
  /** Closes the store and removes its data. */
  close(): Promise<void>;
}

const T0 = Date.UTC(2024, 0, 1);

let counter = 0;
function uniq(prefix: string): string {
  counter++;
  return `${prefix}-${process.pid}-${counter.toString().padStart(6, "0")}`;
}

function endpoint(overrides: Partial<Endpoint> = {}): Endpoint {
  return {
    id: uniq("ep"),
    method: "POST",
    url: "https://partner.example/hook?title={mascot}",
    defaultValue: "",
    maxAttempts: 3,
    ...overrides,
  };
}

/** A first attempt that failed with HTTP 503 and is retried at T0 + 10 s. */
function record(overrides: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    postbackId: uniq("pb"),
    endpoint: endpoint(),
    data: JSON.stringify({ mascot: "Gopher" }),
    createdAt: T0,
    attempt: 1,
    startedAt: T0 + 100,
    durationMs: 12.5,
    url: "https://partner.example/hook?title=Gopher",
    statusCode: 503,
    error: null,
    errorMessage: null,
    responseBody: "busy",
    state: "failed",
    nextAttemptAt: T0 + 10_000,
    reason: "HTTP 503",
    ...overrides,
  };
}

/** The same postback's next attempt, starting `afterMs` after the previous one. */
function next(prev: AttemptRecord, overrides: Partial<AttemptRecord> = {}, afterMs = 10_000): AttemptRecord {
  return record({
    postbackId: prev.postbackId,
    endpoint: prev.endpoint,
    data: prev.data,
    createdAt: prev.createdAt,
    attempt: prev.attempt + 1,
    startedAt: prev.startedAt + afterMs,
    ...overrides,
  });
}

function attemptOf(r: AttemptRecord): Attempt {
  return {
    attempt: r.attempt,
    startedAt: r.startedAt,
    durationMs: r.durationMs,
    url: r.url,
    statusCode: r.statusCode,
    error: r.error,
    errorMessage: r.errorMessage,
    responseBody: r.responseBody,
  };
}

export function storeConformance(name: string, open: () => Promise<OpenedStore>): void {
  async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
    const opened = await open();
    try {
      await fn(opened.store);
    } finally {
      await opened.close();
    }
  }

  describe(`store conformance: ${name}`, () => {
    test("a recorded attempt reads back with its postback, endpoint, state and every field", () =>
      withStore(async (store) => {
        const r = record();
        await store.recordAttempts([r]);
        const got = await store.getPostback(r.postbackId);
        assert.ok(got);
        assert.equal(got.id, r.postbackId);
        assert.deepEqual(got.endpoint, r.endpoint);
        assert.equal(got.data, r.data);
        assert.equal(got.state, "failed");
        assert.equal(got.createdAt, T0);
        assert.equal(typeof got.updatedAt, "number");
        assert.ok(got.updatedAt >= r.startedAt, "updated no earlier than the attempt started");
        assert.equal(got.nextAttemptAt, T0 + 10_000);
        assert.equal(got.reason, "HTTP 503");
        assert.deepEqual(got.attempts, [attemptOf(r)]);
      }));

    test("an attempt that got no response keeps its error code and message, with no status", () =>
      withStore(async (store) => {
        const r = record({
          statusCode: null,
          error: "connection_refused",
          errorMessage: "connect ECONNREFUSED 127.0.0.1:9",
          responseBody: null,
          durationMs: 0.37,
          reason: "connection_refused",
        });
        await store.recordAttempts([r]);
        const got = await store.getPostback(r.postbackId);
        assert.deepEqual(got?.attempts, [attemptOf(r)]);
        assert.equal(got?.reason, "connection_refused");
      }));

    test("a later attempt updates the state (failed → delivered) and keeps the earlier attempts in order", () =>
      withStore(async (store) => {
        const first = record();
        const second = next(first, { statusCode: 200, responseBody: "ok", state: "delivered", nextAttemptAt: null, reason: null });
        await store.recordAttempts([first]);
        await store.recordAttempts([second]);
        const got = await store.getPostback(first.postbackId);
        assert.equal(got?.state, "delivered");
        assert.equal(got?.nextAttemptAt, null);
        assert.equal(got?.reason, null);
        assert.equal(got?.createdAt, T0);
        assert.ok(got!.updatedAt >= second.startedAt);
        assert.deepEqual(got?.attempts, [attemptOf(first), attemptOf(second)]);
      }));

    test("failed → failed → dead keeps every attempt and the reason it died", () =>
      withStore(async (store) => {
        const a1 = record({ endpoint: endpoint({ maxAttempts: 3 }) });
        const a2 = next(a1, { statusCode: null, error: "timeout", errorMessage: "no response in 10000 ms", responseBody: null, nextAttemptAt: T0 + 40_000, reason: "timeout" });
        const a3 = next(a2, { statusCode: 500, responseBody: "boom", state: "dead", nextAttemptAt: null, reason: "gave up after 3 attempts" });
        for (const r of [a1, a2, a3]) await store.recordAttempts([r]);
        const got = await store.getPostback(a1.postbackId);
        assert.equal(got?.state, "dead");
        assert.equal(got?.nextAttemptAt, null);
        assert.equal(got?.reason, "gave up after 3 attempts");
        assert.deepEqual(got?.attempts, [a1, a2, a3].map(attemptOf));
        assert.deepEqual(got?.endpoint, a1.endpoint);
      }));

    test("attempts of one postback in one batch apply in order", () =>
      withStore(async (store) => {
        const a1 = record();
        const a2 = next(a1, { statusCode: 204, responseBody: "", state: "delivered", nextAttemptAt: null, reason: null }, 50);
        await store.recordAttempts([a1, a2]);
        const got = await store.getPostback(a1.postbackId);
        assert.equal(got?.state, "delivered");
        assert.deepEqual(got?.attempts, [attemptOf(a1), attemptOf(a2)]);
      }));

    test("recording the same attempt twice does not duplicate it", () =>
      withStore(async (store) => {
        // As after a crash between recording an attempt and settling its queue entry.
        const a1 = record();
        await store.recordAttempts([a1]);
        await store.recordAttempts([a1]);
        let got = await store.getPostback(a1.postbackId);
        assert.equal(got?.state, "failed");
        assert.deepEqual(got?.attempts, [attemptOf(a1)]);

        const a2 = next(a1, { statusCode: 200, state: "delivered", nextAttemptAt: null, reason: null, responseBody: "ok" });
        await store.recordAttempts([a2]);
        await store.recordAttempts([a2]);
        got = await store.getPostback(a1.postbackId);
        assert.equal(got?.state, "delivered");
        assert.deepEqual(got?.attempts, [attemptOf(a1), attemptOf(a2)]);
      }));

    test("an earlier attempt recorded late does not undo the state a later attempt led to", () =>
      withStore(async (store) => {
        // Worker A's lease ran out mid-attempt; worker B took the postback over and delivered it;
        // then A records its attempt. The postback stays delivered, with both attempts.
        const a1 = record({ statusCode: null, error: "timeout", errorMessage: "slow", responseBody: null });
        const a2 = next(a1, { statusCode: 200, responseBody: "ok", state: "delivered", nextAttemptAt: null, reason: null }, 1000);
        await store.recordAttempts([a2]);
        await store.recordAttempts([a1]);
        const got = await store.getPostback(a1.postbackId);
        assert.equal(got?.state, "delivered");
        assert.equal(got?.nextAttemptAt, null);
        assert.equal(got?.reason, null);
        assert.deepEqual(got?.attempts, [attemptOf(a1), attemptOf(a2)]);
      }));

    test("a batch of many postbacks sharing one endpoint", () =>
      withStore(async (store) => {
        const shared = endpoint({ method: "GET", url: "http://partner.example/p?n={n}", defaultValue: "?", maxAttempts: 10 });
        const own = endpoint({ method: "DELETE", url: "http://other.example/{n}" });
        const batch = Array.from({ length: 500 }, (_, n) =>
          record({
            endpoint: n % 50 === 49 ? own : shared,
            data: JSON.stringify({ n }),
            url: `http://partner.example/p?n=${n}`,
            state: n % 3 === 0 ? "delivered" : n % 3 === 1 ? "failed" : "dead",
            statusCode: 200 + (n % 3) * 150,
            nextAttemptAt: n % 3 === 1 ? T0 + n : null,
          }),
        );
        await store.recordAttempts(batch);
        // A second batch naming the same endpoint again.
        const more = Array.from({ length: 10 }, (_, n) => record({ endpoint: shared, data: JSON.stringify({ n: 1000 + n }) }));
        await store.recordAttempts(more);
        for (const r of [...batch, ...more]) {
          const got = await store.getPostback(r.postbackId);
          assert.ok(got, r.postbackId);
          assert.deepEqual(got.endpoint, r.endpoint);
          assert.equal(got.data, r.data);
          assert.equal(got.state, r.state);
          assert.equal(got.nextAttemptAt, r.nextAttemptAt);
          assert.deepEqual(got.attempts, [attemptOf(r)]);
        }
      }));

    test("recording an empty batch does nothing", () =>
      withStore(async (store) => {
        await store.recordAttempts([]);
      }));

    test("an unknown postback id gives undefined", () =>
      withStore(async (store) => {
        assert.equal(await store.getPostback("no-such-postback"), undefined);
        await store.recordAttempts([record()]);
        assert.equal(await store.getPostback("no-such-postback"), undefined);
      }));

    test("unicode and large response bodies round-trip", () =>
      withStore(async (store) => {
        const big = "Ferry ⛴ 東京 😀 é\n".repeat(8_000);
        const r = record({
          endpoint: endpoint({ url: "https://partner.example/ünï/{name}?q=😀", defaultValue: "—" }),
          data: JSON.stringify({ name: "Gøpher 🐹", rtl: "שלום", nul: "\u0000" }),
          url: "https://partner.example/%C3%BCn%C3%AF/G%C3%B8pher?q=%F0%9F%98%80",
          errorMessage: "réponse: 😀",
          responseBody: big,
          reason: "réessayer ⏳",
        });
        await store.recordAttempts([r]);
        const got = await store.getPostback(r.postbackId);
        assert.deepEqual(got?.endpoint, r.endpoint);
        assert.equal(got?.data, r.data);
        assert.equal(got?.reason, r.reason);
        assert.equal(got?.attempts[0]?.responseBody?.length, big.length);
        assert.deepEqual(got?.attempts, [attemptOf(r)]);
      }));

    test("ping resolves on an open store", () =>
      withStore(async (store) => {
        await store.ping();
      }));
  });
}
