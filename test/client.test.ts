/**
 * @ferry/client against a real Ferry process (`ferry start` on a SQLite data dir) over a
 * socket, with a real receiver: every call of the client's surface, imported by its package
 * name as a user would, and Ferry's refusals as FerryError with Ferry's code, field and detail.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Ferry, FerryError, FerryNetworkError, type Event, type EventInput } from "@ferry/client";
import { tempDir } from "./support/harness.js";
import { freePort, killAll, startServer, until, type ServerProcess } from "./support/processes.js";
import { startReceiver, type Receiver } from "../src/receiver.js";

const TOKEN = "client-test-admin-token-0123456789";

let ferry: ServerProcess;
let receiver: Receiver;
let admin: Ferry;
const dir = tempDir("ferry-client-");

before(async () => {
  // Requests to /fail answer 500: with max_attempts 1 their postbacks are dead at once.
  receiver = await startReceiver({ respond: (r) => (r.url.includes("/fail") ? { status: 500 } : undefined) });
  ferry = await startServer("start", { FERRY_DATA_DIR: dir.path, FERRY_ADMIN_TOKEN: TOKEN, FERRY_POLL_INTERVAL_MS: "20" });
  admin = new Ferry({ url: ferry.url, token: TOKEN });
});

after(async () => {
  await killAll();
  await receiver.close();
  dir.cleanup();
});

/** A FerryError with this status and code, or the assertion fails with what was thrown. */
function isFerryError(status: number, code: string, field?: string) {
  return (err: unknown) => {
    assert.ok(err instanceof FerryError, `a FerryError, got ${String(err)}`);
    assert.equal(err.status, status, err.message);
    assert.equal(err.code, code, err.message);
    if (field !== undefined) assert.equal(err.field, field);
    assert.ok(err.detail.length > 0);
    return true;
  };
}

async function newAccount(name: string): Promise<{ id: string; client: Ferry }> {
  const account = await admin.accounts.create({ name });
  const token = await admin.tokens.create(account.id, { name: "test" });
  return { id: account.id, client: new Ferry({ url: ferry.url, token: token.token }) };
}

test("ingest sends each data object as a postback, and postbacks.get shows it delivered", async () => {
  const answer = await admin.ingest({ endpoint: { method: "GET", url: `${receiver.url}/ingest?n={n}` }, data: [{ n: 1 }, { n: 2 }] });
  assert.equal(answer.ids.length, 2);
  await until(async () => (await admin.postbacks.get(answer.ids[1]!)).state === "delivered", 10_000, () => "postback delivered");
  const postback = await admin.postbacks.get(answer.ids[0]!);
  assert.equal(postback.id, answer.ids[0]);
  assert.ok(receiver.requests.some((r) => r.url.endsWith("/ingest?n=2")));
});

test("bad input comes back as FerryError with Ferry's status, code, field and detail", async () => {
  await assert.rejects(
    admin.ingest({ endpoint: { method: "FETCH" as "GET", url: `${receiver.url}/x` }, data: [{}] }),
    isFerryError(422, "invalid_method", "endpoint.method"),
  );
  await assert.rejects(admin.accounts.get("acct_nope"), isFerryError(404, "account_not_found"));
  // An id is one path segment, encoded: "a/b?c" reaches the account route, not another one.
  await assert.rejects(admin.accounts.get("a/b?c"), isFerryError(404, "account_not_found"));
  await assert.rejects(new Ferry({ url: ferry.url, token: "wrong-token-0123456789" }).accounts.list(), isFerryError(401, "invalid_token"));
});

test("no answer is a FerryNetworkError with code network_error; timeoutMs bounds a request", async () => {
  const port = await freePort();
  const err = await new Ferry({ url: `http://127.0.0.1:${port}`, token: TOKEN }).accounts.list().then(
    () => assert.fail("answered"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof FerryNetworkError);
  assert.equal(err.code, "network_error");
  assert.equal(err.status, 0);

  const slow = await startReceiver({ respond: () => ({ delayMs: 2000 }) });
  try {
    const t0 = Date.now();
    await assert.rejects(new Ferry({ url: slow.url, token: TOKEN, timeoutMs: 200 }).accounts.list(), (e: unknown) => e instanceof FerryNetworkError && /200 ms/.test(e.detail));
    assert.ok(Date.now() - t0 < 1500);
  } finally {
    await slow.close();
  }
});

test("a custom fetch is used for every request", async () => {
  const seen: string[] = [];
  const client = new Ferry({ url: ferry.url, token: TOKEN, fetch: (request) => (seen.push(`${request.method} ${new URL(request.url).pathname}`), fetch(request)) });
  await client.accounts.list({ limit: 1 });
  assert.deepEqual(seen, ["GET /v1/accounts"]);
});

test("accounts: create, get, list page by page, update, delete", async () => {
  const a = await admin.accounts.create({ name: "Acme", email: "ops@acme.example", external_id: "acme-1" });
  const b = await admin.accounts.create({ name: "Beta" });
  assert.match(a.id, /^acct_/);
  assert.equal((await admin.accounts.get(a.id)).email, "ops@acme.example");
  assert.equal((await admin.accounts.list({ external_id: "acme-1" })).data[0]?.id, a.id);

  const seen: string[] = [];
  let after: string | undefined;
  do {
    const page = await admin.accounts.list({ limit: 1, ...(after ? { after } : {}) });
    assert.ok(page.data.length <= 1);
    seen.push(...page.data.map((x) => x.id));
    after = page.next_after ?? undefined;
  } while (after);
  assert.ok(seen.includes(a.id) && seen.includes(b.id));

  assert.equal((await admin.accounts.update(a.id, { name: "Acme Corp" })).name, "Acme Corp");
  await admin.accounts.delete(b.id);
  await assert.rejects(admin.accounts.get(b.id), isFerryError(404, "account_not_found"));
});

test("tokens: create, list without secrets, revoke (then 401 token_revoked)", async () => {
  const account = await admin.accounts.create({ name: "Tokens" });
  const token = await admin.tokens.create(account.id, { name: "ci" });
  assert.match(token.token, /^ferry_/);
  const client = new Ferry({ url: ferry.url, token: token.token });
  assert.equal((await client.accounts.get(account.id)).id, account.id);
  const list = await client.tokens.list(account.id);
  assert.deepEqual(list.map((t) => [t.id, t.name, t.revoked_at]), [[token.id, "ci", null]]);
  assert.equal("token" in list[0]!, false);
  await admin.tokens.revoke(account.id, token.id);
  await assert.rejects(client.accounts.get(account.id), isFerryError(401, "token_revoked"));
  await assert.rejects(client.accounts.create({ name: "x" }), isFerryError(401, "token_revoked"));
});

test("destinations: create, get, list, update, secret, rotateSecret, delete; push reaches them", async () => {
  const { id: accountId, client } = await newAccount("Destinations");
  const created = await client.destinations.create({ url: `${receiver.url}/orders/{id}`, method: "POST", event_types: ["order.*"] });
  assert.match(created.secret, /^whsec_/);
  assert.equal(created.account_id, accountId);
  assert.equal((await client.destinations.get(created.id)).url, `${receiver.url}/orders/{id}`);
  assert.deepEqual((await client.destinations.list()).data.map((d) => d.id), [created.id]);
  assert.deepEqual((await admin.destinations.list({ account_id: accountId })).data.map((d) => d.id), [created.id]);
  assert.equal((await client.destinations.update(created.id, { max_attempts: 3 })).max_attempts, 3);
  assert.equal(await client.destinations.secret(created.id), created.secret);
  const rotated = await client.destinations.rotateSecret(created.id);
  assert.notEqual(rotated.secret, created.secret);

  const pushed = await client.push("order.created", { id: 42 }, { idempotencyKey: "push-42" });
  assert.deepEqual(pushed.postbacks.map((p) => p.destination_id), [created.id]);
  const again = await client.push("order.created", { id: 42 }, { idempotencyKey: "push-42" });
  assert.deepEqual(again, pushed, "the same Idempotency-Key gets the first answer");
  const byAdmin = await admin.push("order.created", [{ id: 43 }, { id: 44 }], { accountId });
  assert.equal(byAdmin.postbacks.length, 2);
  await until(() => receiver.requests.filter((r) => r.url.includes("/orders/4")).length >= 3, 10_000, () => "3 pushes delivered");

  await client.destinations.delete(created.id);
  await assert.rejects(client.destinations.get(created.id), isFerryError(404, "destination_not_found"));
});

test("postbacks: search the delivery log, retry a dead one, replay a destination's failures", async () => {
  const { client } = await newAccount("Postbacks");
  const dest = await client.destinations.create({ url: `${receiver.url}/fail`, max_attempts: 1, failure_threshold: 100 });
  const { postbacks } = await client.push(undefined, { n: 1 });
  const id = postbacks[0]!.id;
  await until(async () => (await client.postbacks.get(id)).state === "dead", 10_000, () => "postback dead");

  const log = await client.postbacks.search({ destination_id: dest.id, state: "dead" });
  assert.deepEqual(log.data.map((p) => p.id), [id]);
  assert.equal(log.data[0]!.last_attempt?.status_code, 500);
  assert.equal(log.next_after, null);

  const before = receiver.requests.filter((r) => r.url.endsWith("/fail")).length;
  await client.postbacks.retry(id);
  await until(() => receiver.requests.filter((r) => r.url.endsWith("/fail")).length > before, 10_000, () => "retried");
  await until(async () => (await client.postbacks.get(id)).state === "dead", 10_000, () => "dead again");
  await assert.rejects(client.postbacks.get("pb_nope"), isFerryError(404, "postback_not_found"));

  const replay = await client.destinations.replay(dest.id, { since: new Date(Date.now() - 60_000).toISOString() });
  assert.deepEqual([replay.destination_id, replay.replayed, replay.skipped], [dest.id, 1, 0]);
});

const SESSION = "e2085be5-9137-4e4e-80b5-f1ffddc25423";
function event(i: number, extra: Partial<EventInput> = {}): EventInput {
  return { session_id: SESSION, category: "party", name: "AppName", data: { i }, timestamp: `2021-09-26 09:15:${String(10 + i).padStart(2, "0")}.000000`, ...extra };
}

test("events: send one and a batch (per-event answers), query a page, queryAll across pages, get, sessions.get", async () => {
  const { id: accountId, client } = await newAccount("Events");
  const one = await client.events.send(event(0));
  assert.equal(one.status, 201);
  const batch = await client.events.send([event(1), event(2, { timestamp: "2021-09-31 10:00:00" }), event(3, { id: "mine-3" })]);
  assert.equal(batch.status, 202);
  assert.ok("id" in batch.events[0]!);
  assert.deepEqual("errors" in batch.events[1]! && batch.events[1].errors.map((e) => e.code), ["invalid_timestamp"]);

  const page = await client.events.query({ session_id: SESSION, limit: 2 });
  assert.equal(page.data.length, 2);
  assert.ok(page.next_after);
  const all: Event[] = [];
  for await (const e of client.events.queryAll({ session_id: SESSION, limit: 1 })) all.push(e);
  assert.deepEqual(all.map((e) => e.data["i"]), [0, 1, 3]);
  assert.equal(all[2]!.client_id, "mine-3");

  assert.equal((await client.events.get(all[1]!.id)).id, all[1]!.id);
  assert.equal((await admin.events.get(all[1]!.id, { accountId })).id, all[1]!.id);
  const session = await client.sessions.get(SESSION);
  assert.equal(session.count, 3);
  assert.equal(session.first_timestamp, "2021-09-26T09:15:10.000000Z");
  assert.deepEqual((await admin.sessions.get(SESSION, { account_id: accountId, limit: 1 })).events.length, 1);

  const none = await client.events.send([event(4, { name: "" })]).then(
    () => assert.fail("stored"),
    (e: unknown) => e,
  );
  assert.ok(none instanceof FerryError && none.code === "invalid_events" && Array.isArray(none.problem["events"]));
  await assert.rejects(client.sessions.get("no-such-session"), isFerryError(404, "session_not_found"));
  await assert.rejects(client.events.query({ limit: 0 }), isFerryError(422, "invalid_query", "limit"));
});

test("event types: put (version 1, then 2), get, list, delete; a schema checks events' data", async () => {
  const { client } = await newAccount("Event types");
  const schema = { type: "object", required: ["host"], properties: { host: { type: "string" } } };
  assert.equal((await client.eventTypes.put("party", { schema, description: "a party" })).version, 1);
  assert.equal((await client.eventTypes.put("party", { schema })).version, 2);
  assert.deepEqual((await client.eventTypes.get("party")).schema, schema);
  assert.deepEqual((await client.eventTypes.list()).data.map((t) => t.category), ["party"]);
  const refused = await client.events.send(event(0)).catch((e: unknown) => e);
  assert.ok(refused instanceof FerryError && refused.code === "invalid_events");
  await client.eventTypes.delete("party");
  await assert.rejects(client.eventTypes.get("party"), isFerryError(404, "event_type_not_found"));
  await assert.rejects(client.eventTypes.put("party", { schema: { type: "nonsense" } }), isFerryError(422, "invalid_schema"));
});

test("stats and broadcast: counts per destination and in all, a provider's event to every subscribed account", async () => {
  const { id: accountId, client } = await newAccount("Stats");
  const dest = await client.destinations.create({ url: `${receiver.url}/relation`, event_types: ["relation_added"] });
  const broadcast = await admin.broadcast("relation_added", { user: 1 }, { idempotencyKey: "bc-1" });
  assert.match(broadcast.id, /^bc_/);
  assert.ok(broadcast.postbacks.some((p) => p.account_id === accountId && p.destination_id === dest.id));
  await until(async () => (await client.postbacks.get(broadcast.postbacks.find((p) => p.destination_id === dest.id)!.id)).state === "delivered", 10_000, () => "broadcast delivered");
  const one = await client.stats.destination(dest.id, { bucket: "minute" });
  assert.equal(one.buckets.reduce((n, b) => n + b.delivered, 0), 1);
  const all = await admin.stats.all({ account_id: accountId });
  assert.equal(all.buckets.reduce((n, b) => n + b.delivered, 0), 1);
});
