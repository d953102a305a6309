/**
 * The AccountStore conformance suite: accounts, tokens, destinations and endpoint health.
 * Written against the port only; test/store.sqlite.test.ts and test/store.postgres.test.ts run
 * it against each adapter, every test on freshly opened stores.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HOUR, MINUTE } from "../../src/core/time.js";
import { DuplicateExternalIdError, DuplicateIdError, StoreUnavailableError } from "../../src/core/port-errors.js";
import type { AccountStore, Stores } from "../../src/store/port.js";
import { account, assertUnavailable, destination, failure, hashOf, T0, token, withStores, type OpenStores } from "./store-fixtures.js";

/** Asserts that the call rejects with the store's DuplicateIdError for `id`. */
async function assertDuplicate(call: Promise<unknown>, id: string): Promise<void> {
  await assert.rejects(call, (err: unknown) => {
    assert.ok(err instanceof DuplicateIdError, String(err));
    assert.equal(err.backend, "store");
    assert.equal(err.id, id);
    return true;
  });
}

export function accountStoreConformance(name: string, open: OpenStores): void {
  /** Runs `fn` on the port under test of freshly opened stores; `stores` for what another port must see. */
  async function withStore(fn: (store: AccountStore, stores: Stores) => Promise<void>): Promise<void> {
    await withStores(open, ({ stores }) => fn(stores.accounts, stores));
  }

  describe(`account store conformance: ${name}`, () => {
    describe("accounts", () => {
      test("an account reads back with every field; an unknown id gives undefined", () =>
        withStore(async (store) => {
          const a = account({ metadata: { plan: "pro", seats: 3, tags: ["ünï", "😀"], nested: { ok: true, none: null } } });
          const bare = account({ email: null, website: null, metadata: {}, dedupeWindowMs: 0 });
          await store.createAccount(a);
          await store.createAccount(bare);
          assert.deepEqual(await store.getAccount(a.id), a);
          assert.deepEqual(await store.getAccount(bare.id), bare);
          assert.equal(await store.getAccount("acct_none"), undefined);
          await assert.rejects(store.createAccount(a), "an id is taken once");
        }));

      test("listAccounts pages through accounts in id order", () =>
        withStore(async (store) => {
          const accounts = Array.from({ length: 5 }, (_, n) => account({ name: `Account ${n}` }));
          for (const a of [...accounts].reverse()) await store.createAccount(a);
          assert.deepEqual(await store.listAccounts({ limit: 2 }), accounts.slice(0, 2));
          assert.deepEqual(await store.listAccounts({ after: accounts[1]!.id, limit: 2 }), accounts.slice(2, 4));
          assert.deepEqual(await store.listAccounts({ after: accounts[3]!.id, limit: 2 }), accounts.slice(4));
          assert.deepEqual(await store.listAccounts({ after: accounts[4]!.id, limit: 2 }), []);
        }));

      test("updateAccount changes the fields given and updatedAt, nothing else", () =>
        withStore(async (store) => {
          const a = account();
          await store.createAccount(a);
          const updated = await store.updateAccount(a.id, { name: "Acme Ltd", email: null, metadata: { plan: "free" }, website: undefined }, T0 + 5000);
          const expected = { ...a, name: "Acme Ltd", email: null, metadata: { plan: "free" }, updatedAt: T0 + 5000 };
          assert.deepEqual(updated, expected);
          assert.deepEqual(await store.getAccount(a.id), expected);
          assert.deepEqual(await store.updateAccount(a.id, { dedupeWindowMs: 0 }, T0 + 6000), { ...expected, dedupeWindowMs: 0, updatedAt: T0 + 6000 });
          const events = { strictEventTypes: true, eventRetentionMs: 7 * 24 * 3_600_000 };
          assert.deepEqual(await store.updateAccount(a.id, events, T0 + 7000), { ...expected, dedupeWindowMs: 0, ...events, updatedAt: T0 + 7000 });
          assert.deepEqual(await store.getAccount(a.id), { ...expected, dedupeWindowMs: 0, ...events, updatedAt: T0 + 7000 }, "the event settings read back");
          assert.equal((await store.updateAccount(a.id, { eventRetentionMs: null }, T0 + 8000))?.eventRetentionMs, null, "null: back to the default");
          assert.equal(await store.updateAccount("acct_none", { name: "x" }, T0), undefined);
        }));

      test("an external id finds its account; it is unique, and null for as many accounts as like", () =>
        withStore(async (store) => {
          const a = account({ externalId: "webhooks:webhook-consumer" });
          const b = account({ externalId: "ads:user-1" });
          await store.createAccount(a);
          await store.createAccount(b);
          await store.createAccount(account());
          await store.createAccount(account());
          assert.deepEqual(await store.findAccountByExternalId("webhooks:webhook-consumer"), a);
          assert.deepEqual(await store.findAccountByExternalId("ads:user-1"), b);
          assert.equal(await store.findAccountByExternalId("ads:user-2"), undefined);
          const isTaken = (err: unknown) => err instanceof DuplicateExternalIdError && err.externalId === "ads:user-1";
          await assert.rejects(store.createAccount(account({ externalId: "ads:user-1" })), isTaken, "created with another's");
          await assert.rejects(store.updateAccount(a.id, { externalId: "ads:user-1" }, T0 + 1), isTaken, "changed to another's");
          assert.deepEqual(await store.getAccount(a.id), a, "nothing written");
          const renamed = await store.updateAccount(a.id, { externalId: "webhooks:renamed" }, T0 + 2);
          assert.equal(renamed?.externalId, "webhooks:renamed");
          assert.deepEqual(await store.findAccountByExternalId("webhooks:renamed"), renamed);
          assert.equal(await store.findAccountByExternalId("webhooks:webhook-consumer"), undefined, "the old one is free");
          assert.equal((await store.updateAccount(a.id, { externalId: null }, T0 + 3))?.externalId, null);
        }));

      test("deleting an account deletes its tokens and destinations", () =>
        withStore(async (store, stores) => {
          const a = account();
          const other = account();
          await store.createAccount(a);
          await store.createAccount(other);
          const d1 = destination(a.id);
          const d2 = destination(a.id, { url: "https://partner.example/two", enabled: false });
          const kept = destination(other.id);
          for (const d of [d2, d1, kept]) await store.createDestination(d);
          const t = token(a.id);
          const keptToken = token(other.id);
          await store.createToken(t, hashOf("secret-a"));
          await store.createToken(keptToken, hashOf("secret-other"));
          await stores.dedupe.markSeen(a.id, ["content"], T0, HOUR);

          assert.deepEqual(await store.deleteAccount(a.id), [d1.id, d2.id]);
          assert.deepEqual(await stores.dedupe.markSeen(a.id, ["content"], T0 + 1, HOUR), [false], "its content hashes go too");
          assert.equal(await store.getAccount(a.id), undefined);
          assert.equal(await store.findToken(hashOf("secret-a")), undefined);
          assert.deepEqual(await store.listTokens(a.id), []);
          assert.equal(await store.getDestination(d1.id), undefined);
          assert.deepEqual(await store.accountDestinations(a.id), []);
          assert.equal(await store.deleteAccount(a.id), undefined, "a second delete finds nothing");

          assert.deepEqual(await store.getAccount(other.id), other);
          assert.deepEqual(await store.findToken(hashOf("secret-other")), keptToken);
          assert.deepEqual(await store.accountDestinations(other.id), [kept]);
          assert.deepEqual(await store.deleteAccount(other.id), [kept.id]);
          assert.equal(await store.deleteAccount("acct_none"), undefined);
        }));

      test("deleting an account without destinations returns no ids", () =>
        withStore(async (store) => {
          const a = account();
          await store.createAccount(a);
          assert.deepEqual(await store.deleteAccount(a.id), []);
        }));
    });

    describe("tokens", () => {
      test("a token is found by the hash of its secret, and by no other", () =>
        withStore(async (store) => {
          const a = account();
          await store.createAccount(a);
          const t = token(a.id, { name: "ci" });
          const unnamed = token(a.id, { name: null });
          await store.createToken(t, hashOf("tok-secret-1"));
          await store.createToken(unnamed, hashOf("tok-secret-2"));
          assert.deepEqual(await store.findToken(hashOf("tok-secret-1")), t);
          assert.deepEqual(await store.findToken(hashOf("tok-secret-2")), unnamed);
          assert.equal(await store.findToken(hashOf("tok-secret-3")), undefined);
          assert.equal(await store.findToken(Buffer.alloc(32)), undefined);
        }));

      test("two tokens cannot share a hash", () =>
        withStore(async (store) => {
          await store.createToken(token("acct_A"), hashOf("same"));
          await assert.rejects(store.createToken(token("acct_B"), hashOf("same")));
          assert.equal((await store.findToken(hashOf("same")))?.accountId, "acct_A");
        }));

      test("a revoked token is still found, marked revoked", () =>
        withStore(async (store) => {
          const t = token("acct_A");
          await store.createToken(t, hashOf("to-revoke"));
          assert.equal(await store.revokeToken("acct_B", t.id, T0 + 1000), false, "another account cannot revoke it");
          assert.equal(await store.revokeToken("acct_A", "tok_none", T0 + 1000), false);
          assert.equal((await store.findToken(hashOf("to-revoke")))?.revokedAt, null);

          assert.equal(await store.revokeToken("acct_A", t.id, T0 + 2000), true);
          assert.deepEqual(await store.findToken(hashOf("to-revoke")), { ...t, revokedAt: T0 + 2000 });
          assert.equal(await store.revokeToken("acct_A", t.id, T0 + 3000), true, "revoking again is no error");
          assert.equal((await store.findToken(hashOf("to-revoke")))?.revokedAt, T0 + 2000, "it keeps the first revocation");
        }));

      test("listTokens lists the account's tokens in id order, revoked ones too", () =>
        withStore(async (store) => {
          const tokens = Array.from({ length: 3 }, (_, n) => token("acct_A", { name: `t${n}` }));
          for (const [n, t] of [...tokens.entries()].reverse()) await store.createToken(t, hashOf(`list-${n}`));
          await store.createToken(token("acct_B"), hashOf("list-other"));
          await store.revokeToken("acct_A", tokens[1]!.id, T0 + 1);
          assert.deepEqual(await store.listTokens("acct_A"), [tokens[0], { ...tokens[1]!, revokedAt: T0 + 1 }, tokens[2]]);
          assert.deepEqual(await store.listTokens("acct_none"), []);
        }));
    });

    describe("destinations", () => {
      test("a destination reads back with every field; an unknown id gives undefined", () =>
        withStore(async (store) => {
          const d = destination("acct_A");
          const defaults = destination("acct_A", {
            url: "http://partner.example/{id}",
            method: "GET",
            headers: {},
            eventTypes: [],
            timeoutMs: null,
            maxAttempts: null,
            defaultValue: null,
            rateLimit: null,
            concurrency: null,
            failureThreshold: null,
            failureWindowMs: null,
          });
          const disabled = destination("acct_A", { enabled: false, disabledReason: "paused by its owner", disabledAt: T0 + 1, failureWindowMs: 0 });
          for (const x of [d, defaults, disabled]) await store.createDestination(x);
          assert.deepEqual(await store.getDestination(d.id), d);
          assert.deepEqual(await store.getDestination(defaults.id), defaults);
          assert.deepEqual(await store.getDestination(disabled.id), disabled);
          assert.equal(await store.getDestination("dst_none"), undefined);
        }));

      test("listDestinations pages through one account's destinations in id order; accountDestinations lists them all", () =>
        withStore(async (store) => {
          const mine = Array.from({ length: 5 }, (_, n) => destination("acct_A", { url: `https://partner.example/${n}`, enabled: n !== 2 }));
          const theirs = destination("acct_B");
          for (const d of [theirs, ...[...mine].reverse()]) await store.createDestination(d);
          assert.deepEqual(await store.listDestinations("acct_A", { limit: 3 }), mine.slice(0, 3));
          assert.deepEqual(await store.listDestinations("acct_A", { after: mine[2]!.id, limit: 3 }), mine.slice(3));
          assert.deepEqual(await store.listDestinations("acct_A", { after: mine[4]!.id, limit: 3 }), []);
          assert.deepEqual(await store.accountDestinations("acct_A"), mine, "disabled ones too");
          assert.deepEqual(await store.accountDestinations("acct_B"), [theirs]);
          assert.deepEqual(await store.accountDestinations("acct_none"), []);
        }));

      test("listAllDestinations pages through every account's destinations in id order", () =>
        withStore(async (store) => {
          const all = ["acct_A", "acct_B", "acct_A", "acct_C"].map((accountId, n) => destination(accountId, { url: `https://partner.example/${n}`, enabled: n !== 1 }));
          for (const d of [...all].reverse()) await store.createDestination(d);
          assert.deepEqual(await store.listAllDestinations({ limit: 3 }), all.slice(0, 3));
          assert.deepEqual(await store.listAllDestinations({ after: all[2]!.id, limit: 3 }), all.slice(3));
          assert.deepEqual(await store.listAllDestinations({ after: all[3]!.id, limit: 3 }), []);
        }));

      test("a destination's on_disable reads back and changes", () =>
        withStore(async (store) => {
          const d = destination("acct_A", { onDisable: "drop" });
          await store.createDestination(d);
          assert.equal((await store.getDestination(d.id))?.onDisable, "drop");
          assert.equal((await store.updateDestination(d.id, { onDisable: "hold" }, T0 + 1))?.onDisable, "hold");
          assert.equal((await store.getDestination(d.id))?.onDisable, "hold");
        }));

      test("a destination's ordering, burst and pause read back; a pause only lengthens and leaves updatedAt alone", () =>
        withStore(async (store) => {
          const d = destination("acct_A");
          await store.createDestination(d);
          assert.deepEqual(await store.getDestination(d.id), d);
          const patched = await store.updateDestination(d.id, { ordering: "destination", orderingKey: null, rateLimitBurst: null }, T0 + 1);
          assert.deepEqual([patched?.ordering, patched?.orderingKey, patched?.rateLimitBurst], ["destination", null, null]);
          assert.equal(await store.pauseDestination(d.id, T0 + 30_000, "http_429 with Retry-After: 30"), true);
          // A shorter pause does not cut a longer one short; a longer one extends it.
          assert.equal(await store.pauseDestination(d.id, T0 + 10_000, "http_503 with Retry-After: 10"), false);
          let got = await store.getDestination(d.id);
          assert.deepEqual([got?.pausedUntil, got?.pauseReason, got?.updatedAt], [T0 + 30_000, "http_429 with Retry-After: 30", T0 + 1]);
          assert.equal(await store.pauseDestination(d.id, T0 + 60_000, "http_503 with Retry-After: 60"), true);
          got = await store.getDestination(d.id);
          assert.deepEqual([got?.pausedUntil, got?.pauseReason], [T0 + 60_000, "http_503 with Retry-After: 60"]);
          // Its owner ends the pause.
          got = await store.updateDestination(d.id, { pausedUntil: null, pauseReason: null }, T0 + 2);
          assert.deepEqual([got?.pausedUntil, (await store.getDestination(d.id))?.pausedUntil], [null, null]);
          assert.equal(await store.pauseDestination("dst_missing", T0 + 1000, "x"), false);
        }));

      test("findDestination finds the account's destination by method and URL template", () =>
        withStore(async (store) => {
          const post = destination("acct_A", { method: "POST", url: "https://partner.example/hook/{event}" });
          const put = destination("acct_A", { method: "PUT", url: "https://partner.example/hook/{event}" });
          await store.createDestination(post);
          await store.createDestination(put);
          await store.createDestination(destination("acct_B", { method: "POST", url: "https://partner.example/hook/{event}" }));
          assert.deepEqual(await store.findDestination("acct_A", "POST", post.url), post);
          assert.deepEqual(await store.findDestination("acct_A", "PUT", put.url), put);
          assert.equal(await store.findDestination("acct_A", "PATCH", post.url), undefined);
          assert.equal(await store.findDestination("acct_A", "POST", "https://partner.example/hook/{other}"), undefined);
          assert.equal(await store.findDestination("acct_C", "POST", post.url), undefined);
        }));

      test("updateDestination changes the fields given and updatedAt, nothing else", () =>
        withStore(async (store) => {
          const d = destination("acct_A");
          await store.createDestination(d);
          const patch = { url: "https://partner.example/v2/{event}", headers: { "X-Key": "k" }, eventTypes: [], rateLimit: null, timeoutMs: 1500, secret: "whsec_bmV3" };
          const expected = { ...d, ...patch, updatedAt: T0 + 10 };
          assert.deepEqual(await store.updateDestination(d.id, { ...patch, maxAttempts: undefined }, T0 + 10), expected);
          assert.deepEqual(await store.getDestination(d.id), expected);
          assert.equal(await store.updateDestination("dst_none", { url: "x" }, T0), undefined);
        }));

      test("disabling a destination sets disabledAt; enabling clears disabledReason, disabledAt and the failure count", () =>
        withStore(async (store) => {
          const d = destination("acct_A", { failureThreshold: 3, failureWindowMs: HOUR });
          await store.createDestination(d);
          const off = await store.updateDestination(d.id, { enabled: false }, T0 + 100);
          assert.deepEqual(off, { ...d, enabled: false, disabledAt: T0 + 100, disabledReason: null, updatedAt: T0 + 100 });
          const withReason = await store.updateDestination(d.id, { disabledReason: "paused by its owner" }, T0 + 200);
          assert.equal(withReason?.disabledAt, T0 + 100, "still disabled since then");
          assert.equal(withReason?.disabledReason, "paused by its owner");

          const on = await store.updateDestination(d.id, { enabled: true }, T0 + 300);
          assert.deepEqual(on, { ...d, updatedAt: T0 + 300 });
          assert.deepEqual(await store.getDestination(d.id), on);

          const offWithReason = await store.updateDestination(d.id, { enabled: false, disabledReason: "maintenance" }, T0 + 400);
          assert.equal(offWithReason?.disabledAt, T0 + 400);
          assert.equal(offWithReason?.disabledReason, "maintenance");
          await store.updateDestination(d.id, { enabled: true }, T0 + 500);

          // Two failures counted, then enabling (though enabled already) clears them: two more do not disable it.
          await store.recordFailures([failure(d.id, T0 + 600), failure(d.id, T0 + 601)]);
          await store.updateDestination(d.id, { enabled: true }, T0 + 700);
          assert.deepEqual(await store.recordFailures([failure(d.id, T0 + 800), failure(d.id, T0 + 801)]), []);
          assert.equal((await store.getDestination(d.id))?.enabled, true);
          assert.deepEqual(await store.recordFailures([failure(d.id, T0 + 802)]), [d.id]);
        }));

      test("countDisabledDestinations counts the disabled destinations of every account", () =>
        withStore(async (store) => {
          assert.equal(await store.countDisabledDestinations(), 0);
          const a = destination("acct_A");
          const b = destination("acct_B");
          const c = destination("acct_B", { url: "https://partner.example/c" });
          for (const d of [a, b, c]) await store.createDestination(d);
          await store.updateDestination(a.id, { enabled: false }, T0);
          await store.updateDestination(c.id, { enabled: false }, T0);
          assert.equal(await store.countDisabledDestinations(), 2);
          await store.updateDestination(a.id, { enabled: true }, T0 + 1);
          assert.equal(await store.countDisabledDestinations(), 1);
        }));

      test("deleteDestination deletes one destination", () =>
        withStore(async (store) => {
          const d = destination("acct_A");
          const other = destination("acct_A", { url: "https://partner.example/other" });
          await store.createDestination(d);
          await store.createDestination(other);
          assert.equal(await store.deleteDestination(d.id), true);
          assert.equal(await store.getDestination(d.id), undefined);
          assert.equal(await store.deleteDestination(d.id), false);
          assert.deepEqual(await store.accountDestinations("acct_A"), [other]);
        }));
    });

    describe("endpoint health", () => {
      test("three failures within the window disable a destination", () =>
        withStore(async (store) => {
          const d = destination("acct_A");
          await store.createDestination(d);
          assert.deepEqual(await store.recordFailures([failure(d.id, T0)]), []);
          assert.deepEqual(await store.recordFailures([failure(d.id, T0 + 20 * MINUTE)]), []);
          assert.equal((await store.getDestination(d.id))?.enabled, true);
          assert.deepEqual(await store.recordFailures([failure(d.id, T0 + 40 * MINUTE)]), [d.id]);
          const got = await store.getDestination(d.id);
          assert.equal(got?.enabled, false);
          assert.equal(got?.disabledAt, T0 + 40 * MINUTE);
          assert.equal(got?.disabledReason, "3 failed attempts within 1h");
          assert.deepEqual(await store.recordFailures([failure(d.id, T0 + 41 * MINUTE)]), [], "disabled once, not again");
          assert.equal((await store.getDestination(d.id))?.disabledAt, T0 + 40 * MINUTE);
        }));

      test("failures outside the window do not count", () =>
        withStore(async (store) => {
          const d = destination("acct_A");
          await store.createDestination(d);
          // Two within an hour, the third more than an hour after the first: only two count.
          assert.deepEqual(await store.recordFailures([failure(d.id, T0), failure(d.id, T0 + 30 * MINUTE)]), []);
          assert.deepEqual(await store.recordFailures([failure(d.id, T0 + HOUR + 1)]), []);
          assert.equal((await store.getDestination(d.id))?.enabled, true);
          // ... and the next one makes three within the hour before it.
          assert.deepEqual(await store.recordFailures([failure(d.id, T0 + HOUR + 2)]), [d.id]);

          // A failure exactly the window before the newest one still counts.
          const edge = destination("acct_A", { url: "https://partner.example/edge" });
          await store.createDestination(edge);
          assert.deepEqual(await store.recordFailures([failure(edge.id, T0), failure(edge.id, T0 + 1)]), []);
          assert.deepEqual(await store.recordFailures([failure(edge.id, T0 + HOUR)]), [edge.id]);
        }));

      test("a window of 0 counts failures forever", () =>
        withStore(async (store) => {
          const d = destination("acct_A", { failureWindowMs: 0 });
          await store.createDestination(d);
          const forever = (at: number) => failure(d.id, at, { windowMs: 0 });
          assert.deepEqual(await store.recordFailures([forever(T0)]), []);
          assert.deepEqual(await store.recordFailures([forever(T0 + 100 * HOUR)]), []);
          assert.deepEqual(await store.recordFailures([forever(T0 + 10_000 * HOUR)]), [d.id]);
          assert.equal((await store.getDestination(d.id))?.disabledReason, "3 failed attempts");
        }));

      test("a threshold of 0 never disables", () =>
        withStore(async (store) => {
          const d = destination("acct_A", { failureThreshold: 0 });
          await store.createDestination(d);
          const batch = Array.from({ length: 50 }, (_, n) => failure(d.id, T0 + n, { threshold: 0 }));
          assert.deepEqual(await store.recordFailures(batch), []);
          assert.equal((await store.getDestination(d.id))?.enabled, true);
        }));

      test("failures in one batch count in order, per destination, and each disabled destination is named once", () =>
        withStore(async (store) => {
          const a = destination("acct_A");
          const b = destination("acct_A", { url: "https://partner.example/b" });
          const c = destination("acct_A", { url: "https://partner.example/c" });
          for (const d of [a, b, c]) await store.createDestination(d);
          const batch = [
            failure(b.id, T0 + 1),
            failure(a.id, T0 + 1, { threshold: 2, windowMs: MINUTE }),
            failure("dst_deleted", T0 + 1),
            failure(b.id, T0 + 2),
            failure(a.id, T0 + 2, { threshold: 2, windowMs: MINUTE }),
            failure(c.id, T0 + 2),
            failure(a.id, T0 + 3, { threshold: 2, windowMs: MINUTE }),
            failure(b.id, T0 + 3),
            failure(b.id, T0 + 4),
          ];
          assert.deepEqual((await store.recordFailures(batch)).sort(), [a.id, b.id].sort());
          const gotA = await store.getDestination(a.id);
          assert.equal(gotA?.disabledAt, T0 + 2, "disabled by the failure that reached the threshold");
          assert.equal(gotA?.disabledReason, "2 failed attempts within 1m");
          assert.equal((await store.getDestination(b.id))?.disabledAt, T0 + 3);
          assert.equal((await store.getDestination(c.id))?.enabled, true);
          assert.deepEqual(await store.recordFailures([]), []);
        }));

      test("a disabled destination counts no failures", () =>
        withStore(async (store) => {
          const d = destination("acct_A", { enabled: false, disabledAt: T0, disabledReason: "paused" });
          await store.createDestination(d);
          assert.deepEqual(await store.recordFailures([0, 1, 2, 3].map((n) => failure(d.id, T0 + n))), []);
          assert.deepEqual(await store.getDestination(d.id), d);
          await store.updateDestination(d.id, { enabled: true }, T0 + 10);
          assert.deepEqual(await store.recordFailures([failure(d.id, T0 + 11), failure(d.id, T0 + 12)]), []);
        }));

      test("failures recorded at once by several writers disable a destination exactly once, none lost", () =>
        withStore(async (store) => {
          const d = destination("acct_A", { failureThreshold: 20 });
          await store.createDestination(d);
          const results = await Promise.all(
            Array.from({ length: 20 }, (_, n) => store.recordFailures([failure(d.id, T0 + n, { threshold: 20 })])),
          );
          assert.deepEqual(results.flat(), [d.id]);
          assert.equal((await store.getDestination(d.id))?.enabled, false);
        }));
    });

    describe("errors", () => {
      test("an account, a token or a destination whose id exists: DuplicateIdError naming it, and the first one kept", () =>
        withStore(async (store) => {
          const a = account();
          await store.createAccount(a);
          await assertDuplicate(store.createAccount(account({ id: a.id, name: "Other" })), a.id);
          assert.deepEqual(await store.getAccount(a.id), a);

          const t = token(a.id);
          await store.createToken(t, hashOf("dup-1"));
          await assertDuplicate(store.createToken({ ...t, name: "other" }, hashOf("dup-2")), t.id);
          assert.deepEqual(await store.findToken(hashOf("dup-1")), t);
          assert.equal(await store.findToken(hashOf("dup-2")), undefined);

          const d = destination(a.id);
          await store.createDestination(d);
          await assertDuplicate(store.createDestination(destination(a.id, { id: d.id, url: "https://partner.example/other" })), d.id);
          assert.deepEqual(await store.getDestination(d.id), d);
        }));

      test("a token with a new id but a hash already stored is not a duplicate id, nor an outage", () =>
        withStore(async (store) => {
          await store.createToken(token("acct_A"), hashOf("same"));
          await assert.rejects(store.createToken(token("acct_A"), hashOf("same")), (err: unknown) => {
            assert.ok(err instanceof Error);
            assert.ok(!(err instanceof DuplicateIdError) && !(err instanceof StoreUnavailableError), String(err));
            return true;
          });
        }));

      test("with the database gone, every call rejects with StoreUnavailableError", () =>
        withStores(open, async ({ stores, outage }) => {
          const store = stores.accounts;
          const a = account();
          const d = destination(a.id);
          await store.createAccount(a);
          await store.createDestination(d);
          await outage();
          await assertUnavailable({
            createAccount: () => store.createAccount(account()),
            getAccount: () => store.getAccount(a.id),
            listAccounts: () => store.listAccounts({ limit: 10 }),
            updateAccount: () => store.updateAccount(a.id, { name: "x" }, T0 + 1),
            deleteAccount: () => store.deleteAccount(a.id),
            createToken: () => store.createToken(token(a.id), hashOf("gone")),
            findToken: () => store.findToken(hashOf("gone")),
            listTokens: () => store.listTokens(a.id),
            revokeToken: () => store.revokeToken(a.id, "tok_x", T0 + 1),
            createDestination: () => store.createDestination(destination(a.id)),
            getDestination: () => store.getDestination(d.id),
            listDestinations: () => store.listDestinations(a.id, { limit: 10 }),
            accountDestinations: () => store.accountDestinations(a.id),
            findDestination: () => store.findDestination(a.id, d.method, d.url),
            updateDestination: () => store.updateDestination(d.id, { enabled: false }, T0 + 1),
            deleteDestination: () => store.deleteDestination(d.id),
            recordFailures: () => store.recordFailures([failure(d.id, T0 + 1)]),
          });
        }));
    });
  });
}
