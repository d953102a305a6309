/**
 * The use cases of src/app against real ports: the queue and the stores in one SQLite file in a
 * temp dir, as `ferry start` opens them by default. No HTTP, nothing mocked.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { openBackends, type Backends } from "../src/backends.js";
import { ApiError } from "../src/core/errors.js";
import { DISABLED_BY_OWNER } from "../src/core/types.js";
import type { Ports } from "../src/app/ports.js";
import type { Queue } from "../src/queue/port.js";
import { createAccount, deleteAccount, updateAccount } from "../src/app/accounts.js";
import {
  checkDestinationPolicy, deleteDestination, findDestination, maxTimeoutFor, registerDestination, rotateSecret, updateDestination,
} from "../src/app/destinations.js";
import { findPostback, postbackState } from "../src/app/postbacks.js";
import { push, pushTargets } from "../src/app/push.js";
import { ingest } from "../src/app/ingest.js";
import { ACCOUNT_TOKEN_PREFIX, createToken, hashToken, listTokens, revokeToken } from "../src/app/tokens.js";
import { replayDestination, resendPostback } from "../src/app/resend.js";
import { endpointId, newPostbackId } from "../src/core/ids.js";
import { tempDir, testConfig } from "./support/harness.js";

const DEFAULTS = { max_attempts: 3, default_value: "" };
const dir = tempDir();
let backends: Backends;
let ports: Ports;
const warnings: string[] = [];
const log = { warn: (_obj: object, msg: string) => void warnings.push(msg) };

before(async () => {
  backends = await openBackends(testConfig({ data_dir: dir.path }));
  ports = backends;
});

after(async () => {
  await backends.close();
  dir.cleanup();
});

function rejectsWith(code: string): (err: unknown) => boolean {
  return (err) => err instanceof ApiError && err.code === code;
}

/** Reserves the postback and parks it as its disabled destination's worker would. */
async function hold(postbackId: string): Promise<void> {
  const reserved = await ports.queue.reserve(100, 60_000, Date.now() + 60_000);
  const mine = reserved.filter((r) => r.postbackId === postbackId);
  assert.equal(mine.length, 1, "the postback is reserved");
  await ports.queue.settle(reserved.map((r) => ({ reservation: r, settle: r.postbackId === postbackId ? { kind: "hold" } : { kind: "release", at: 0 } })));
  assert.equal((await ports.queue.find(postbackId))?.held, true);
}

test("push fans out to every matching destination, none to one its owner disabled or filtered out", async () => {
  const account = await createAccount(ports, { name: "Fan" });
  const url = (p: string) => `https://partner.example/${p}`;
  const orders = (await registerDestination(ports, log, account.id, { method: "POST", url: url("orders"), eventTypes: ["order.*"] })).destination;
  const all = (await registerDestination(ports, log, account.id, { method: "GET", url: url("all") })).destination;
  await registerDestination(ports, log, account.id, { method: "POST", url: url("users"), eventTypes: ["user.*"] });
  await registerDestination(ports, log, account.id, { method: "POST", url: url("off"), enabled: false });

  const result = await push(ports, DEFAULTS, { accountId: account.id, type: "order.created", objects: [{ n: 1 }, { n: 2 }] });
  assert.deepEqual(result.duplicates, []);
  assert.deepEqual(
    result.postbacks.map((p) => `${p.destination_id}:${p.index}`).sort(),
    [`${orders.id}:0`, `${orders.id}:1`, `${all.id}:0`, `${all.id}:1`].sort(),
  );
  for (const p of result.postbacks) {
    const found = await findPostback(ports, p.id, account.id);
    assert.ok(found, "every postback is queued");
    assert.equal(postbackState(found), "pending");
    assert.equal(found.endpoint.destinationId, p.destination_id);
  }
  await assert.rejects(push(ports, DEFAULTS, { accountId: "acct_nope", type: undefined, objects: [{}] }), rejectsWith("account_not_found"));
});

test("pushTargets keeps a destination disabled by endpoint health (its postbacks are held), not one its owner disabled", () => {
  const base = { eventTypes: [] as string[], enabled: false, disabledAt: 1 };
  const byHealth = { ...base, id: "a", disabledReason: "3 failed attempts" };
  const byOwner = { ...base, id: "b", disabledReason: DISABLED_BY_OWNER };
  assert.deepEqual(pushTargets([byHealth, byOwner] as never, undefined).map((d) => d.id), ["a"]);
});

test("push drops an object seen within the account's window, per type", async () => {
  const account = await createAccount(ports, { name: "Dedupe", dedupeWindowMs: 60_000 });
  await registerDestination(ports, log, account.id, { method: "POST", url: "https://partner.example/dedupe" });
  const first = await push(ports, DEFAULTS, { accountId: account.id, type: "a", objects: [{ n: 1 }, { n: 1 }] });
  assert.deepEqual(first.duplicates, [1], "the same object twice in one push counts once");
  const again = await push(ports, DEFAULTS, { accountId: account.id, type: "a", objects: [{ n: 1 }, { n: 2 }] });
  assert.deepEqual(again.duplicates, [0]);
  assert.equal(again.postbacks.length, 1);
  const otherType = await push(ports, DEFAULTS, { accountId: account.id, type: "b", objects: [{ n: 1 }] });
  assert.deepEqual(otherType.duplicates, [], "another type is another event");
});

test("a push to several destinations reaches the queue in one call, so it is queued all or none", async () => {
  const account = await createAccount(ports, { name: "Atomic" });
  await registerDestination(ports, log, account.id, { method: "POST", url: "https://partner.example/one" });
  await registerDestination(ports, log, account.id, { method: "POST", url: "https://partner.example/two" });
  const calls: unknown[] = [];
  // The real queue, with its enqueue calls counted: the queue's conformance suite proves that
  // one call is atomic, so one call here is what makes the push atomic.
  const queue = new Proxy(ports.queue, {
    get(target, prop) {
      if (prop === "enqueue") return (batches: Parameters<Queue["enqueue"]>[0]) => (calls.push(batches), target.enqueue(batches));
      const value: unknown = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const result = await push({ ...ports, queue }, DEFAULTS, { accountId: account.id, type: undefined, objects: [{ n: 1 }, { n: 2 }] });
  assert.equal(result.postbacks.length, 4);
  assert.equal(calls.length, 1, "one enqueue for both destinations");
  assert.ok(Array.isArray(calls[0]) && calls[0].length === 2, "with one batch per destination");
  for (const p of result.postbacks) assert.ok(await ports.queue.find(p.id));
});

test("ingest queues the batch and returns its ids; findPostback keeps another account's postback unknown", async () => {
  const endpoint = { method: "GET" as const, url: "https://partner.example/in?x={x}", defaultValue: "", maxAttempts: 2, accountId: "acct_mine" };
  const batch = { endpoint: { id: endpointId(endpoint), ...endpoint }, postbacks: [{ id: newPostbackId(), data: '{"x":1}' }], createdAt: Date.now() };
  const ids = await ingest(ports, batch);
  assert.deepEqual(ids, [batch.postbacks[0]!.id]);
  assert.ok(await findPostback(ports, ids[0]!));
  assert.ok(await findPostback(ports, ids[0]!, "acct_mine"));
  assert.equal(await findPostback(ports, ids[0]!, "acct_other"), undefined);
  assert.equal(await resendPostback(ports, ids[0]!, "acct_other"), "not_found");
  assert.equal(await resendPostback(ports, ids[0]!, undefined), "pending", "queued and not failed: not sent again");
});

test("re-registering the same method and URL is the same destination, enabled again and updated", async () => {
  const account = await createAccount(ports, { name: "Again" });
  const first = await registerDestination(ports, log, account.id, { method: "POST", url: "https://partner.example/re", enabled: false, concurrency: 2 });
  assert.equal(first.created, true);
  assert.equal(first.destination.enabled, false);
  const again = await registerDestination(ports, log, account.id, { method: "POST", url: "https://partner.example/re", timeoutMs: 1000 });
  assert.equal(again.created, false);
  assert.equal(again.destination.id, first.destination.id);
  assert.equal(again.destination.enabled, true);
  assert.equal(again.destination.timeoutMs, 1000);
  assert.equal(again.destination.concurrency, 2, "fields not given are kept");
});

test("update refuses another destination's method and URL; rotate gives a new secret; find keeps others' unknown", async () => {
  const account = await createAccount(ports, { name: "Update" });
  const a = (await registerDestination(ports, log, account.id, { method: "POST", url: "https://partner.example/a" })).destination;
  const b = (await registerDestination(ports, log, account.id, { method: "POST", url: "https://partner.example/b" })).destination;
  await assert.rejects(updateDestination(ports, log, b, { url: a.url }), rejectsWith("destination_exists"));
  const moved = await updateDestination(ports, log, b, { url: "https://partner.example/c", enabled: false });
  assert.equal(moved.url, "https://partner.example/c");
  assert.equal(moved.disabledReason, DISABLED_BY_OWNER);
  const rotated = await rotateSecret(ports, a);
  assert.notEqual(rotated.secret, a.secret);
  assert.equal((await findDestination(ports, a.id, account.id)).secret, rotated.secret);
  await assert.rejects(findDestination(ports, a.id, "acct_other"), rejectsWith("destination_not_found"));
});

test("enabling a destination releases its held postbacks; deleting one releases them to be cancelled", async () => {
  const account = await createAccount(ports, { name: "Held" });
  const d = (await registerDestination(ports, log, account.id, { method: "POST", url: "https://partner.example/held" })).destination;
  const [pb] = (await push(ports, DEFAULTS, { accountId: account.id, type: undefined, objects: [{ n: 1 }] })).postbacks;
  await hold(pb!.id);
  const disabled = await updateDestination(ports, log, d, { enabled: false });
  assert.equal((await ports.queue.find(pb!.id))?.held, true, "disabling holds on");
  await updateDestination(ports, log, disabled, { enabled: true });
  assert.equal((await ports.queue.find(pb!.id))?.held, false, "enabled: released");

  await hold(pb!.id);
  await deleteDestination(ports, log, await findDestination(ports, d.id));
  assert.equal((await ports.queue.find(pb!.id))?.held, false, "deleted: released, for the worker to cancel");
  await assert.rejects(findDestination(ports, d.id), rejectsWith("destination_not_found"));
});

test("deleting an account releases its destinations' held postbacks", async () => {
  const account = await createAccount(ports, { name: "Gone" });
  await registerDestination(ports, log, account.id, { method: "POST", url: "https://partner.example/gone" });
  const [pb] = (await push(ports, DEFAULTS, { accountId: account.id, type: undefined, objects: [{ n: 1 }] })).postbacks;
  await hold(pb!.id);
  await deleteAccount(ports, log, account.id);
  assert.equal((await ports.queue.find(pb!.id))?.held, false);
  await assert.rejects(deleteAccount(ports, log, account.id), rejectsWith("account_not_found"));
  await assert.rejects(updateAccount(ports, account.id, { name: "x" }), rejectsWith("account_not_found"));
});

test("updateAccount applies a patch, and with none returns the account", async () => {
  const account = await createAccount(ports, { name: "Patch" });
  assert.equal((await updateAccount(ports, account.id, { name: "Patched" })).name, "Patched");
  assert.equal((await updateAccount(ports, account.id, {})).name, "Patched");
});

test("replayDestination: another account's destination is not_found; nothing failed, nothing replayed", async () => {
  const account = await createAccount(ports, { name: "Replay" });
  const d = (await registerDestination(ports, log, account.id, { method: "POST", url: "https://partner.example/replay" })).destination;
  assert.equal(await replayDestination(ports, d.id, { from: 0, to: Date.now() + 1 }, { accountId: "acct_other" }), "not_found");
  assert.equal(await replayDestination(ports, "dst_nope", { from: 0, to: Date.now() + 1 }), "not_found");
  assert.deepEqual(await replayDestination(ports, d.id, { from: 0, to: Date.now() + 1 }, { accountId: account.id }), { replayed: 0, skipped: 0 });
});

test("replayDestination waits for a dead postback a worker is still settling, then queues it again", async () => {
  // The window the worker leaves between recording the last attempt and settling it in the queue.
  const account = await createAccount(ports, { name: "Settling" });
  const d = (await registerDestination(ports, log, account.id, { method: "POST", url: "https://partner.example/settling" })).destination;
  const [pb] = (await push(ports, DEFAULTS, { accountId: account.id, type: undefined, objects: [{ n: 1 }] })).postbacks;
  const reservation = (await ports.queue.reserve(100, 60_000)).find((r) => r.postbackId === pb!.id)!;
  const at = Date.now();
  await ports.stores.postbacks.recordAttempts([{
    postbackId: pb!.id, endpoint: reservation.endpoint, data: reservation.data, createdAt: reservation.createdAt, state: "dead", nextAttemptAt: null,
    reason: "gave up", attempt: reservation.attempt, startedAt: at, durationMs: 3, url: d.url, statusCode: 500, error: null, errorMessage: null, responseBody: null,
  }]);
  const replay = replayDestination(ports, d.id, { from: 0, to: Date.now() + 1 });
  await new Promise((resolve) => setTimeout(resolve, 200));
  await ports.queue.settle([{ reservation, settle: { kind: "done" } }]);
  assert.deepEqual(await replay, { replayed: 1, skipped: 0 });
  const queued = await ports.queue.find(pb!.id);
  assert.ok(queued && !queued.held && queued.attempts === 1, `queued again after the settle: ${JSON.stringify(queued)}`);
});

test("the destination policy: timeout_ms within half the lease; failure_threshold 0 from the admin only", () => {
  const maxTimeoutMs = maxTimeoutFor(60_000);
  assert.equal(maxTimeoutMs, 30_000);
  checkDestinationPolicy({ timeoutMs: 30_000, failureThreshold: 1 }, { admin: false, maxTimeoutMs });
  checkDestinationPolicy({ timeoutMs: null }, { admin: false, maxTimeoutMs });
  checkDestinationPolicy({ failureThreshold: 0 }, { admin: true, maxTimeoutMs });
  assert.throws(() => checkDestinationPolicy({ timeoutMs: 30_001 }, { admin: true, maxTimeoutMs }), (err: unknown) =>
    err instanceof ApiError && err.code === "timeout_too_long" && err.field === "timeout_ms" && /30000/.test(err.message) && /FERRY_LEASE_MS/.test(err.message));
  assert.throws(() => checkDestinationPolicy({ failureThreshold: 0 }, { admin: false, maxTimeoutMs }), (err: unknown) =>
    err instanceof ApiError && err.code === "admin_only" && err.field === "failure_threshold" && /admin/.test(err.message));
});

test("tokens: made with a secret shown once and kept by its hash, listed, revoked; another's is token_not_found", async () => {
  const account = await createAccount(ports, { name: "Tokens" });
  const { token, secret } = await createToken(ports, account.id, "ci");
  assert.ok(secret.startsWith(ACCOUNT_TOKEN_PREFIX));
  assert.equal((await ports.stores.accounts.findToken(hashToken(secret)))?.id, token.id);
  assert.deepEqual((await listTokens(ports, account.id)).map((t) => t.name), ["ci"]);
  const other = await createAccount(ports, { name: "Other" });
  await assert.rejects(revokeToken(ports, other.id, token.id), rejectsWith("token_not_found"));
  await revokeToken(ports, account.id, token.id);
  assert.notEqual((await listTokens(ports, account.id))[0]!.revokedAt, null);
});
