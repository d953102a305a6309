/**
 * The store conformance suite: what every Store adapter must do, written against the port
 * only. An adapter's test file calls `storeConformance` with a function that opens a fresh,
 * empty store; each test opens its own.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { newAccountId, newDestinationId, newTokenId } from "../../src/core/ids.js";
import { HOUR, MINUTE } from "../../src/core/time.js";
import type { Account, Destination, Endpoint, Token } from "../../src/core/types.js";
import type { Attempt, AttemptRecord, CancelRecord, Store } from "../../src/store/port.js";

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
          assert.equal(await store.updateAccount("acct_none", { name: "x" }, T0), undefined);
        }));

      test("deleting an account deletes its tokens and destinations", () =>
        withStore(async (store) => {
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
          await store.markSeen(a.id, ["content"], T0, HOUR);

          assert.deepEqual(await store.deleteAccount(a.id), [d1.id, d2.id]);
          assert.deepEqual(await store.markSeen(a.id, ["content"], T0 + 1, HOUR), [false], "its content hashes go too");
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
  });
}

function account(overrides: Partial<Account> = {}): Account {
  return {
    id: newAccountId(T0),
    name: "Acme",
    email: "ops@acme.example",
    website: "https://acme.example",
    metadata: { plan: "pro" },
    dedupeWindowMs: 10 * MINUTE,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

function token(accountId: string, overrides: Partial<Token> = {}): Token {
  return { id: newTokenId(T0), accountId, name: "deploy", createdAt: T0, revokedAt: null, ...overrides };
}

function hashOf(secret: string): Buffer {
  return createHash("sha256").update(secret).digest();
}

/** An enabled destination with every override set: 3 failures within an hour disable it. */
function destination(accountId: string, overrides: Partial<Destination> = {}): Destination {
  return {
    id: newDestinationId(T0),
    accountId,
    url: "https://partner.example/hook/{event}",
    method: "POST",
    headers: { Authorization: "Bearer partner-token", "X-Note": "ünï 😀" },
    eventTypes: ["order.*", "refund.created"],
    enabled: true,
    disabledReason: null,
    disabledAt: null,
    timeoutMs: 5000,
    maxAttempts: 8,
    defaultValue: "-",
    rateLimit: 2.5,
    concurrency: 4,
    failureThreshold: 3,
    failureWindowMs: HOUR,
    secret: "whsec_c2VjcmV0LXNpZ25pbmcta2V5",
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

/** A failure counted with the destination fixture's settings: 3 within an hour. */
function failure(destinationId: string, at: number, overrides: { threshold?: number; windowMs?: number } = {}) {
  return { destinationId, at, threshold: 3, windowMs: HOUR, ...overrides };
}

function cancel(overrides: Partial<CancelRecord> = {}): CancelRecord {
  return {
    postbackId: uniq("pb"),
    endpoint: endpoint({ accountId: "acct_A", destinationId: "dst_D" }),
    data: JSON.stringify({ event: "order.created" }),
    createdAt: T0,
    at: T0 + 5000,
    reason: "destination deleted",
    ...overrides,
  };
}
