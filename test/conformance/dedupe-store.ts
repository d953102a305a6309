/**
 * The DedupeStore conformance suite: idempotency keys and content hashes.
 * Written against the port only; test/store.sqlite.test.ts and test/store.postgres.test.ts run
 * it against each adapter, every test on freshly opened stores.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HOUR, MINUTE } from "../../src/core/time.js";
import type { DedupeStore, Stores } from "../../src/store/port.js";
import { assertUnavailable, T0, withStores, type OpenStores } from "./store-fixtures.js";

export function dedupeStoreConformance(name: string, open: OpenStores): void {
  /** Runs `fn` on the port under test of freshly opened stores; `stores` for what another port must see. */
  async function withStore(fn: (store: DedupeStore, stores: Stores) => Promise<void>): Promise<void> {
    await withStores(open, ({ stores }) => fn(stores.dedupe, stores));
  }

  describe(`dedupe store conformance: ${name}`, () => {
    describe("idempotency keys", () => {
      const TTL = 24 * HOUR;
      const STALE = MINUTE;

      test("an idempotency key answered once returns the same answer", () =>
        withStore(async (store) => {
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0, TTL, STALE), { kind: "claimed" });
          const body = JSON.stringify({ ids: ["pb_1", "pb_2"], note: "ünï 😀" });
          await store.answerIdempotencyKey("acct_A", "key-1", 202, body, T0 + 50);
          const again = { kind: "answered", status: 202, body };
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0 + 1000, TTL, STALE), again);
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0 + 50 + TTL, TTL, STALE), again, "still within the ttl");
        }));

      test("a key reused with another body is a mismatch", () =>
        withStore(async (store) => {
          await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0, TTL, STALE);
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-1", "fp-2", T0 + 1, TTL, STALE), { kind: "mismatch" }, "while in progress");
          await store.answerIdempotencyKey("acct_A", "key-1", 202, "{}", T0 + 2);
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-1", "fp-2", T0 + 3, TTL, STALE), { kind: "mismatch" }, "once answered");
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-1", "fp-2", T0 + 10 * MINUTE, TTL, STALE), { kind: "mismatch" }, "a stale claim is no excuse");
        }));

      test("a claimed key not answered yet is in progress", () =>
        withStore(async (store) => {
          await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0, TTL, STALE);
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0 + STALE, TTL, STALE), { kind: "in_progress" });
        }));

      test("a stale claim can be taken over", () =>
        withStore(async (store) => {
          await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0, TTL, STALE);
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0 + STALE + 1, TTL, STALE), { kind: "claimed" });
          // Taken over at T0 + STALE + 1: in progress again from then.
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0 + STALE + 2, TTL, STALE), { kind: "in_progress" });
          await store.answerIdempotencyKey("acct_A", "key-1", 201, "done", T0 + STALE + 3);
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0 + 10 * STALE, TTL, STALE), { kind: "answered", status: 201, body: "done" });
        }));

      test("a released key can be claimed again, with another body too", () =>
        withStore(async (store) => {
          await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0, TTL, STALE);
          await store.releaseIdempotencyKey("acct_A", "key-1");
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-1", "fp-2", T0 + 1, TTL, STALE), { kind: "claimed" });
          await store.releaseIdempotencyKey("acct_A", "key-never-claimed");
        }));

      test("a key answered longer than the ttl ago counts as new", () =>
        withStore(async (store) => {
          await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0, TTL, STALE);
          await store.answerIdempotencyKey("acct_A", "key-1", 202, "first", T0 + 10);
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-1", "fp-2", T0 + 11 + TTL, TTL, STALE), { kind: "claimed" });
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-1", "fp-2", T0 + 12 + TTL, TTL, STALE), { kind: "in_progress" });
        }));

      test("idempotency keys are per scope", () =>
        withStore(async (store) => {
          await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0, TTL, STALE);
          await store.answerIdempotencyKey("acct_A", "key-1", 202, "a", T0);
          assert.deepEqual(await store.claimIdempotencyKey("acct_B", "key-1", "fp-2", T0, TTL, STALE), { kind: "claimed" });
          assert.deepEqual(await store.claimIdempotencyKey("admin", "key-1", "fp-3", T0, TTL, STALE), { kind: "claimed" });
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0, TTL, STALE), { kind: "answered", status: 202, body: "a" });
        }));

      test("an unresolved key says so with what it holds, until it is answered or retaken", () =>
        withStore(async (store) => {
          await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0, TTL, STALE);
          await store.leaveIdempotencyKeyUnresolved("acct_A", "key-1", '{"first":"pb_1"}', T0 + 5);
          const unresolved = { kind: "unresolved", pending: '{"first":"pb_1"}' };
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0 + 10 * STALE, TTL, STALE), unresolved, "never stale");
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-1", "fp-2", T0 + 6, TTL, STALE), { kind: "mismatch" });
          assert.equal(await store.retakeIdempotencyKey("acct_A", "key-1", T0 + 7), true);
          assert.equal(await store.retakeIdempotencyKey("acct_A", "key-1", T0 + 8), false, "retaken once only");
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0 + 9, TTL, STALE), { kind: "in_progress" });
          await store.answerIdempotencyKey("acct_A", "key-1", 202, "ok", T0 + 10);
          assert.equal(await store.retakeIdempotencyKey("acct_A", "key-1", T0 + 11), false, "an answered key is not retaken");
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0 + 12, TTL, STALE), { kind: "answered", status: 202, body: "ok" });
          assert.equal(await store.retakeIdempotencyKey("acct_A", "no-such-key", T0 + 13), false);
        }));

      test("an unresolved key can be resolved by its answer, and expires with the ttl", () =>
        withStore(async (store) => {
          await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0, TTL, STALE);
          await store.leaveIdempotencyKeyUnresolved("acct_A", "key-1", "p", T0 + 1);
          await store.answerIdempotencyKey("acct_A", "key-1", 202, "ids", T0 + 2);
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0 + 3, TTL, STALE), { kind: "answered", status: 202, body: "ids" });
          await store.claimIdempotencyKey("acct_A", "key-2", "fp-1", T0, TTL, STALE);
          await store.leaveIdempotencyKeyUnresolved("acct_A", "key-2", "p", T0 + 1);
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "key-2", "fp-9", T0 + 2 + TTL, TTL, STALE), { kind: "claimed" });
        }));

      test("retakes of one unresolved key at the same time: exactly one wins", () =>
        withStore(async (store) => {
          await store.claimIdempotencyKey("acct_A", "key-1", "fp-1", T0, TTL, STALE);
          await store.leaveIdempotencyKeyUnresolved("acct_A", "key-1", "p", T0 + 1);
          const won = await Promise.all(Array.from({ length: 10 }, () => store.retakeIdempotencyKey("acct_A", "key-1", T0 + 2)));
          assert.equal(won.filter(Boolean).length, 1);
        }));

      test("claims of one key at the same time: exactly one is claimed", () =>
        withStore(async (store) => {
          const results = await Promise.all(
            Array.from({ length: 10 }, () => store.claimIdempotencyKey("acct_A", "race", "fp", T0, TTL, STALE)),
          );
          assert.deepEqual(results.map((r) => r.kind).sort(), ["claimed", ...Array(9).fill("in_progress")]);
        }));
    });

    describe("content hashes", () => {
      test("markSeen flags a repeat within the window and not after it", () =>
        withStore(async (store) => {
          const W = 10 * MINUTE;
          assert.deepEqual(await store.markSeen("acct_A", ["h1", "h2"], T0, W), [false, false]);
          assert.deepEqual(await store.markSeen("acct_A", ["h1", "h3"], T0 + W - 1, W), [true, false]);
          // h2 was last seen at T0, more than the window ago.
          assert.deepEqual(await store.markSeen("acct_A", ["h2"], T0 + W + 1, W), [false]);
          // h1 was seen again at T0 + W - 1: the window counts from then.
          assert.deepEqual(await store.markSeen("acct_A", ["h1"], T0 + 2 * W - 2, W), [true]);
          assert.deepEqual(await store.markSeen("acct_A", [], T0, W), []);
        }));

      test("markSeen: a hash repeated within one call is a duplicate from its second occurrence; hashes are per account", () =>
        withStore(async (store) => {
          assert.deepEqual(await store.markSeen("acct_A", ["x", "y", "x", "x"], T0, MINUTE), [false, false, true, true]);
          assert.deepEqual(await store.markSeen("acct_B", ["x", "y"], T0, MINUTE), [false, false]);
          assert.deepEqual(await store.markSeen("acct_A", ["y", "z", "z"], T0 + 1, MINUTE), [true, false, true]);
        }));

      test("unmarkSeen forgets the account's hashes, so the same content is new again", () =>
        withStore(async (store) => {
          assert.deepEqual(await store.markSeen("acct_A", ["h1", "h2"], T0, MINUTE), [false, false]);
          assert.deepEqual(await store.markSeen("acct_B", ["h1"], T0, MINUTE), [false]);
          await store.unmarkSeen("acct_A", ["h1"]);
          assert.deepEqual(await store.markSeen("acct_A", ["h1", "h2"], T0 + 1, MINUTE), [false, true]);
          assert.deepEqual(await store.markSeen("acct_B", ["h1"], T0 + 1, MINUTE), [true], "another account's hash stays");
        }));

      test("marking one new hash at the same time: exactly one is not a duplicate", () =>
        withStore(async (store) => {
          const results = await Promise.all(Array.from({ length: 10 }, () => store.markSeen("acct_A", ["race", "other"], T0, MINUTE)));
          assert.equal(results.filter((r) => r[0] === false).length, 1);
          assert.equal(results.filter((r) => r[1] === false).length, 1);
        }));

      test("pruneDedupe forgets idempotency keys and content hashes older than the cut, and keeps the rest", () =>
        withStore(async (store) => {
          const TTL = 100 * HOUR;
          await store.claimIdempotencyKey("acct_A", "old", "fp", T0, TTL, MINUTE);
          await store.answerIdempotencyKey("acct_A", "old", 202, "old", T0 + 1);
          await store.claimIdempotencyKey("acct_A", "answered-late", "fp", T0, TTL, MINUTE);
          await store.answerIdempotencyKey("acct_A", "answered-late", 202, "late", T0 + HOUR);
          await store.claimIdempotencyKey("acct_A", "abandoned", "fp", T0, TTL, MINUTE);
          await store.markSeen("acct_A", ["old", "new"], T0, TTL);
          await store.markSeen("acct_A", ["new"], T0 + HOUR, TTL);

          await store.pruneDedupe(T0 + 10);
          const at = T0 + 2 * HOUR;
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "old", "other", at, TTL, MINUTE), { kind: "claimed" }, "forgotten");
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "abandoned", "other", at, TTL, MINUTE), { kind: "claimed" }, "forgotten");
          assert.deepEqual(await store.claimIdempotencyKey("acct_A", "answered-late", "fp", at, TTL, MINUTE), { kind: "answered", status: 202, body: "late" });
          assert.deepEqual(await store.markSeen("acct_A", ["old", "new"], at, TTL), [false, true]);
        }));
    });

    describe("errors", () => {
      test("with the database gone, every call rejects with StoreUnavailableError", () =>
        withStores(open, async ({ stores, outage }) => {
          const store = stores.dedupe;
          await store.claimIdempotencyKey("acct_A", "k", "fp", T0, HOUR, MINUTE);
          await outage();
          await assertUnavailable({
            claimIdempotencyKey: () => store.claimIdempotencyKey("acct_A", "k2", "fp", T0, HOUR, MINUTE),
            answerIdempotencyKey: () => store.answerIdempotencyKey("acct_A", "k", 202, "{}", T0 + 1),
            releaseIdempotencyKey: () => store.releaseIdempotencyKey("acct_A", "k"),
            markSeen: () => store.markSeen("acct_A", ["h"], T0, MINUTE),
            unmarkSeen: () => store.unmarkSeen("acct_A", ["h"]),
            pruneDedupe: () => store.pruneDedupe(T0),
          });
        }));
    });
  });
}
