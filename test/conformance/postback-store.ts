/**
 * The PostbackStore conformance suite: what every adapter must do with postbacks and attempts.
 * Written against the port only; test/store.sqlite.test.ts and test/store.postgres.test.ts run
 * it against each adapter, every test on freshly opened stores.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HOUR } from "../../src/core/time.js";
import { StoreUnavailableError } from "../../src/core/port-errors.js";
import type { PostbackStore, Stores } from "../../src/store/port.js";
import { assertUnavailable, attemptOf, cancel, endpoint, next, record, T0, withStores, type OpenStores } from "./store-fixtures.js";

export function postbackStoreConformance(name: string, open: OpenStores): void {
  /** Runs `fn` on the port under test of freshly opened stores; `stores` for what another port must see. */
  async function withStore(fn: (store: PostbackStore, stores: Stores) => Promise<void>): Promise<void> {
    await withStores(open, ({ stores }) => fn(stores.postbacks, stores));
  }

  describe(`postback store conformance: ${name}`, () => {
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

    test("ping resolves on open stores", () =>
      withStore(async (_store, stores) => {
        await stores.ping();
      }));

    describe("postbacks of accounts and destinations", () => {
      test("getPostback returns accountId and destinationId of the endpoint", () =>
        withStore(async (store) => {
          const owned = record({ endpoint: endpoint({ accountId: "acct_A", destinationId: "dst_D" }) });
          const ownerOnly = record({ endpoint: endpoint({ accountId: "acct_A" }) });
          const inline = record();
          await store.recordAttempts([owned, ownerOnly, inline]);
          assert.deepEqual((await store.getPostback(owned.postbackId))?.endpoint, owned.endpoint);
          const got = await store.getPostback(ownerOnly.postbackId);
          assert.deepEqual(got?.endpoint, ownerOnly.endpoint);
          assert.ok(!("destinationId" in got!.endpoint), "a null destination is left out, not undefined or null");
          const plain = await store.getPostback(inline.postbackId);
          assert.deepEqual(Object.keys(plain!.endpoint).sort(), ["defaultValue", "id", "maxAttempts", "method", "url"]);
        }));

      test("recordCancelled records state cancelled with its reason", () =>
        withStore(async (store) => {
          const c = cancel({ reason: "destination dst_D was deleted" });
          await store.recordCancelled([c]);
          const got = await store.getPostback(c.postbackId);
          assert.ok(got);
          assert.equal(got.state, "cancelled");
          assert.equal(got.reason, "destination dst_D was deleted");
          assert.deepEqual(got.endpoint, c.endpoint);
          assert.equal(got.data, c.data);
          assert.equal(got.createdAt, c.createdAt);
          assert.equal(got.updatedAt, c.at);
          assert.equal(got.nextAttemptAt, null);
          assert.deepEqual(got.attempts, []);
          await store.recordCancelled([]);
        }));

      test("cancelling a postback that failed before keeps its attempts; a delivered one stays delivered", () =>
        withStore(async (store) => {
          const failed = record({ endpoint: endpoint({ destinationId: "dst_D" }) });
          const delivered = record({ endpoint: failed.endpoint, state: "delivered", statusCode: 200, nextAttemptAt: null, reason: null });
          await store.recordAttempts([failed, delivered]);
          const at = T0 + 60_000;
          await store.recordCancelled([
            cancel({ postbackId: failed.postbackId, endpoint: failed.endpoint, data: failed.data, at, reason: "its account was deleted" }),
            cancel({ postbackId: delivered.postbackId, endpoint: delivered.endpoint, data: delivered.data, at, reason: "its account was deleted" }),
          ]);
          const got = await store.getPostback(failed.postbackId);
          assert.equal(got?.state, "cancelled");
          assert.equal(got?.reason, "its account was deleted");
          assert.equal(got?.nextAttemptAt, null);
          assert.deepEqual(got?.attempts, [attemptOf(failed)]);
          const kept = await store.getPostback(delivered.postbackId);
          assert.equal(kept?.state, "delivered");
          assert.equal(kept?.reason, null);
        }));

      test("listFailedPostbacks lists only failed and dead postbacks of that destination within the range", () =>
        withStore(async (store) => {
          const from = T0 + HOUR;
          const to = T0 + 2 * HOUR;
          const mine = endpoint({ accountId: "acct_A", destinationId: "dst_mine" });
          const mineToo = endpoint({ accountId: "acct_A", destinationId: "dst_mine", url: "https://partner.example/other", maxAttempts: 5 });
          const theirs = endpoint({ accountId: "acct_A", destinationId: "dst_theirs" });
          const inline = endpoint({ accountId: "acct_A" });
          const failedAtFrom = record({ endpoint: mine, createdAt: from });
          const dead = record({ endpoint: mineToo, createdAt: from + 1000, state: "dead", nextAttemptAt: null, reason: "gave up" });
          const failedLater = next(record({ endpoint: mine, createdAt: to - 1 }));
          const delivered = record({ endpoint: mine, createdAt: from + 2000, state: "delivered", statusCode: 200, nextAttemptAt: null, reason: null });
          const before = record({ endpoint: mine, createdAt: from - 1 });
          const atTo = record({ endpoint: mine, createdAt: to });
          const other = record({ endpoint: theirs, createdAt: from + 3000 });
          const noDestination = record({ endpoint: inline, createdAt: from + 4000 });
          const cancelled = cancel({ endpoint: mine, createdAt: from + 5000 });
          await store.recordAttempts([failedAtFrom, dead, failedLater, delivered, before, atTo, other, noDestination]);
          await store.recordAttempts([next(failedLater)]); // its second attempt: still failed
          await store.recordCancelled([cancelled]);

          const listed = await store.listFailedPostbacks("dst_mine", { from, to }, { limit: 100 });
          assert.deepEqual(
            listed.map((p) => p.id),
            [failedAtFrom, dead, failedLater].map((r) => r.postbackId).sort(),
          );
          const byId = new Map(listed.map((p) => [p.id, p]));
          assert.deepEqual(byId.get(dead.postbackId), {
            id: dead.postbackId,
            endpoint: mineToo,
            data: dead.data,
            state: "dead",
            createdAt: from + 1000,
            attempts: 1,
          });
          assert.equal(byId.get(failedLater.postbackId)?.attempts, 3);
          assert.equal(byId.get(failedLater.postbackId)?.state, "failed");
          assert.deepEqual(await store.listFailedPostbacks("dst_none", { from, to }, { limit: 100 }), []);
          assert.deepEqual(await store.listFailedPostbacks("dst_mine", { from: to, to: to + HOUR }, { limit: 100 }).then((l) => l.map((p) => p.id)), [atTo.postbackId]);
          // The count is what the listing would list, over every page: a replay's total.
          assert.equal(await store.countFailedPostbacks("dst_mine", { from, to }), 3);
          assert.equal(await store.countFailedPostbacks("dst_mine", { from: to, to: to + HOUR }), 1);
          assert.equal(await store.countFailedPostbacks("dst_none", { from, to }), 0);
        }));

      test("listFailedPostbacks pages in id order after the given id", () =>
        withStore(async (store) => {
          const ep = endpoint({ destinationId: "dst_paged" });
          const records = Array.from({ length: 7 }, (_, n) => record({ postbackId: `pb_paged_${n}`, endpoint: ep, createdAt: T0 + n }));
          await store.recordAttempts([...records].reverse());
          const seen: string[] = [];
          let after: string | undefined;
          for (;;) {
            const page = await store.listFailedPostbacks("dst_paged", { from: T0, to: T0 + HOUR }, { after, limit: 3 });
            assert.ok(page.length <= 3);
            if (page.length === 0) break;
            seen.push(...page.map((p) => p.id));
            after = page[page.length - 1]!.id;
          }
          assert.deepEqual(seen, records.map((r) => r.postbackId));
        }));
    });

    describe("errors", () => {
      test("a record the schema refuses is the caller's bug: a plain error, not an outage, and nothing of its batch is written", () =>
        withStore(async (store) => {
          const good = record();
          // The data column is NOT NULL.
          const bad = record({ data: null as unknown as string });
          await assert.rejects(store.recordAttempts([good, bad]), (err: unknown) => {
            assert.ok(err instanceof Error);
            assert.ok(!(err instanceof StoreUnavailableError), `${String(err)} is not disguised as an outage`);
            return true;
          });
          assert.equal(await store.getPostback(good.postbackId), undefined);
        }));

      test("with the database gone, every call and ping reject with StoreUnavailableError", () =>
        withStores(open, async ({ stores, outage }) => {
          const store = stores.postbacks;
          const r = record({ endpoint: endpoint({ destinationId: "dst_D" }) });
          await store.recordAttempts([r]);
          await outage();
          await assertUnavailable({
            recordAttempts: () => store.recordAttempts([next(r)]),
            recordCancelled: () => store.recordCancelled([cancel()]),
            getPostback: () => store.getPostback(r.postbackId),
            listFailedPostbacks: () => store.listFailedPostbacks("dst_D", { from: 0, to: T0 + HOUR }, { limit: 10 }),
            countFailedPostbacks: () => store.countFailedPostbacks("dst_D", { from: 0, to: T0 + HOUR }),
            ping: () => stores.ping(),
          });
        }));
    });
  });
}
