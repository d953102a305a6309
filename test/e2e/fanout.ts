/**
 * Accounts, destinations and fan-out end to end (seeds 002, 003, 004): the real API (inject),
 * a real worker, real backends and real HTTP receivers. Signatures are checked with the
 * standardwebhooks package, the specification's own implementation. Each backend's test file
 * calls `fanoutSuite` once.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Webhook } from "standardwebhooks";
import { AUTH, drained, eventually, startPipeline, type Pipeline } from "../support/harness.js";
import { startReceiver, type Receiver, type Reply } from "../../src/receiver.js";
import type { Config } from "../../src/config.js";
import { account, call, ok, type Call } from "../support/api.js";

/** An account with a token; returns the id and the headers that act as it. */

async function destination(p: Pipeline, auth: Record<string, string>, fields: Record<string, unknown>): Promise<any> {
  return ok(await call(p, "POST", "/v1/destinations", fields, auth), 201, "create destination");
}

async function push(p: Pipeline, auth: Record<string, string>, body: unknown, query = "", headers: Record<string, string> = {}): Promise<Call> {
  return call(p, "POST", `/v1/push${query}`, body, { ...auth, ...headers });
}

async function postback(p: Pipeline, id: string, auth: Record<string, string> = AUTH): Promise<any> {
  return ok(await call(p, "GET", `/v1/postbacks/${id}`, undefined, auth), 200, `GET postback ${id}`);
}

export function fanoutSuite(name: string, backend: () => Partial<Config> | Promise<Partial<Config>>): void {
  describe(`accounts, destinations and fan-out (${name})`, () => {
    let receiver: Receiver;
    let script: (path: string, n: number) => Reply | undefined = () => undefined;
    const pipelines: Pipeline[] = [];
    before(async () => {
      receiver = await startReceiver({ respond: (r, n) => script(new URL(r.url).pathname, n) });
    });
    after(async () => {
      await Promise.all(pipelines.map((p) => p.stop()));
      await receiver.close();
    });
    async function start(overrides: Partial<Config> = {}): Promise<Pipeline> {
      const p = await startPipeline({ ...(await backend()), ...overrides });
      pipelines.push(p);
      script = () => undefined;
      return p;
    }
    const arrived = (path: string) => receiver.requests.filter((r) => new URL(r.url).pathname === path);

    test("a push reaches every matching destination, signed, with its headers; GET gets the fields as a query", async () => {
      const p = await start();
      const acct = await account(p);
      const tag = `/fan-${Date.now()}`;
      const post = await destination(p, acct.auth, { url: `${receiver.url}${tag}/post`, method: "POST", headers: { "x-partner-key": "k1" }, event_types: ["order.*"] });
      const get = await destination(p, acct.auth, { url: `${receiver.url}${tag}/get`, method: "GET" });
      const users = await destination(p, acct.auth, { url: `${receiver.url}${tag}/users`, method: "POST", event_types: ["user.created"] });
      assert.match(post.secret, /^whsec_/);
      const res = ok(await push(p, acct.auth, [{ order_id: 42, item: "café & tea" }, { order_id: 43, item: "x" }], "?type=order.created"), 202, "push");
      assert.equal(res.postbacks.length, 4, "2 objects × 2 matching destinations");
      assert.ok(res.postbacks.every((x: any) => x.destination_id !== users.id));
      await eventually(() => arrived(`${tag}/post`).length === 2 && arrived(`${tag}/get`).length === 2, 10_000, "4 deliveries");
      for (const r of arrived(`${tag}/post`)) {
        assert.equal(r.headers["x-partner-key"], "k1");
        const verified = new Webhook(post.secret).verify(r.body, r.headers as Record<string, string>) as any;
        assert.ok([42, 43].includes(verified.order_id));
        assert.match(String(r.headers["webhook-id"]), /^pb_/);
      }
      const gets = arrived(`${tag}/get`).map((r) => new URL(r.url).search).sort();
      assert.deepEqual(gets, ["?order_id=42&item=caf%C3%A9%20%26%20tea", "?order_id=43&item=x"]);
      const g = arrived(`${tag}/get`)[0]!;
      new Webhook(get.secret).verify("", g.headers as Record<string, string>);
      // A later event the users destination does match: once it has arrived there and the queue
      // is drained, an order event wrongly routed to it would have arrived too.
      ok(await push(p, acct.auth, { user_id: 7 }, "?type=user.created"), 202, "push a matching event");
      await eventually(() => arrived(`${tag}/users`).length >= 1, 10_000, "the user.created delivery");
      await drained(p);
      assert.deepEqual(
        arrived(`${tag}/users`).map((r) => JSON.parse(r.body)),
        [{ user_id: 7 }],
        "a filter that does not match gets nothing; one that matches gets its event",
      );
    });

    test("seed 002: /server/incoming_data with CL-X-TOKEN fans out the same way", async () => {
      const p = await start();
      const acct = await account(p);
      const path = `/seed002-${Date.now()}`;
      await destination(p, acct.auth, { url: `${receiver.url}${path}`, method: "POST" });
      const res = await call(p, "POST", "/server/incoming_data", { name: "Gopher" }, { "cl-x-token": acct.token });
      ok(res, 202, "incoming_data");
      await eventually(() => arrived(path).length === 1, 10_000, "delivery");
      assert.deepEqual(JSON.parse(arrived(path)[0]!.body), { name: "Gopher" });
    });

    test("webhook-id stays the same across retries, and each attempt's signature verifies", async () => {
      const p = await start();
      const acct = await account(p);
      const path = `/retry-${Date.now()}`;
      const d = await destination(p, acct.auth, { url: `${receiver.url}${path}`, failure_threshold: 1000 });
      script = (pathname) => (pathname === path && arrived(path).length <= 1 ? { status: 503 } : undefined);
      const [pb] = ok(await push(p, acct.auth, { n: 1 }), 202, "push").postbacks;
      await eventually(async () => (await postback(p, pb.id, acct.auth)).state === "delivered", 10_000, "delivered after a retry");
      const got = arrived(path);
      assert.equal(got.length, 2);
      assert.equal(got[0]!.headers["webhook-id"], pb.id);
      assert.equal(got[1]!.headers["webhook-id"], pb.id);
      for (const r of got) new Webhook(d.secret).verify(r.body, r.headers as Record<string, string>);
    });

    test("a destination whose host comes from push data, rendered without it, is dead with invalid_url and nothing is sent", async () => {
      const p = await start();
      const acct = await account(p);
      const path = `/empty-host-${Date.now()}`;
      // Rendered without partner_host: "http:///127.0.0.1:PORT/...", which URL parsing would
      // read as host 127.0.0.1:PORT, the receiver.
      await destination(p, acct.auth, { url: `http://{partner_host}/${new URL(receiver.url).host}${path}`, method: "POST", failure_threshold: 1000 });
      const [pb] = ok(await push(p, acct.auth, { n: 1 }), 202, "push").postbacks;
      const view = await eventually(async () => {
        const v = await postback(p, pb.id, acct.auth);
        return v.state === "dead" || v.state === "delivered" ? v : undefined;
      }, 10_000, "settled");
      assert.equal(view.state, "dead");
      assert.equal(view.reason, "invalid_url");
      assert.equal(view.attempts.length, 1, "not retried");
      assert.equal(arrived(path).length, 0);
    });

    test("seed 003: three failed attempts disable a destination; its postbacks are held, then sent when it is enabled", async () => {
      const p = await start();
      const acct = await account(p);
      const path = `/health-${Date.now()}`;
      let healthy = false;
      script = (pathname) => (pathname === path && !healthy ? { status: 500 } : undefined);
      const d = await destination(p, acct.auth, { url: `${receiver.url}${path}`, method: "POST", max_attempts: 1, failure_threshold: 3, failure_window_ms: 0 });
      for (let i = 0; i < 3; i++) ok(await push(p, acct.auth, { i }), 202, "push");
      await eventually(async () => ok(await call(p, "GET", `/v1/destinations/${d.id}`, undefined, acct.auth), 200, "get").enabled === false, 10_000, "disabled");
      const shown = ok(await call(p, "GET", `/v1/destinations/${d.id}`, undefined, acct.auth), 200, "get");
      assert.ok(shown.disabled_reason, "says why it was disabled");
      const before = arrived(path).length;
      const held = ok(await push(p, acct.auth, { i: "held" }), 202, "push while disabled").postbacks[0];
      await eventually(async () => (await postback(p, held.id, acct.auth)).state === "held", 10_000, "held");
      // The worker has dealt with it (held), and nothing is left in flight: had it been sent
      // as well, it would have arrived by now.
      await drained(p);
      assert.equal(arrived(path).length, before, "a disabled destination receives nothing");
      healthy = true;
      // Registering the same URL again re-enables it (seed 003).
      ok(await call(p, "POST", "/v1/destinations", { url: `${receiver.url}${path}`, method: "POST" }, acct.auth), 200, "register again");
      await eventually(async () => (await postback(p, held.id, acct.auth)).state === "delivered", 10_000, "held postback delivered");
      assert.deepEqual(JSON.parse(arrived(path).at(-1)!.body), { i: "held" });
    });

    test("an Idempotency-Key repeat gets the first answer and queues nothing; another body is refused", async () => {
      const p = await start();
      const acct = await account(p);
      const path = `/idem-${Date.now()}`;
      await destination(p, acct.auth, { url: `${receiver.url}${path}` });
      const first = ok(await push(p, acct.auth, { a: 1 }, "", { "idempotency-key": "key-1" }), 202, "first");
      const again = await push(p, acct.auth, { a: 1 }, "", { "idempotency-key": "key-1" });
      assert.equal(again.status, 202);
      assert.deepEqual(again.body, first);
      assert.equal(again.headers["idempotent-replayed"], "true");
      const other = await push(p, acct.auth, { a: 2 }, "", { "idempotency-key": "key-1" });
      assert.equal(other.status, 422);
      assert.equal(other.body.code, "idempotency_key_reused");
      // On /ingest too.
      const body = { endpoint: { url: `${receiver.url}${path}-ingest` }, data: [{ x: 1 }] };
      const i1 = await p.ingest(body, { "idempotency-key": "ingest-1" });
      const i2 = await p.ingest(body, { "idempotency-key": "ingest-1" });
      assert.deepEqual(i2.body, i1.body);
      // Markers sent after the repeats, to the same destination and URL: once they have arrived
      // and the queue is drained, anything a repeat had queued would have arrived too.
      const pushMarker = ok(await push(p, acct.auth, { a: "marker" }), 202, "marker push").postbacks[0].id as string;
      const ingestMarker = await p.ingest({ ...body, data: [{ x: "marker" }] });
      assert.equal(ingestMarker.status, 202);
      const ids = (where: string) => arrived(where).map((r) => r.headers["webhook-id"] as string).sort();
      await eventually(
        () => ids(path).includes(pushMarker) && ids(`${path}-ingest`).includes(ingestMarker.body.ids[0]),
        10_000,
        "the markers",
      );
      await drained(p);
      assert.deepEqual(ids(path), [first.postbacks[0].id, pushMarker].sort(), "the first push once, then the marker");
      assert.deepEqual(ids(`${path}-ingest`), [i1.body.ids[0], ingestMarker.body.ids[0]].sort(), "the first ingest once, then the marker");
    });

    test("seed 004: content-hash duplicate detection drops the same object within the account's window", async () => {
      const p = await start();
      const acct = await account(p, { dedupe_window_ms: 60_000 });
      const path = `/dedupe-${Date.now()}`;
      await destination(p, acct.auth, { url: `${receiver.url}${path}` });
      ok(await push(p, acct.auth, { relation: "added", id: 7 }, "?type=relation_added"), 202, "first");
      const second = ok(await push(p, acct.auth, [{ relation: "added", id: 7 }, { relation: "added", id: 8 }], "?type=relation_added"), 202, "second");
      assert.deepEqual(second.duplicates, [0]);
      assert.equal(second.postbacks.length, 1);
      await eventually(() => arrived(path).length === 2, 10_000, "two deliveries");
    });

    test("a dead postback is sent again by retry and by a destination replay, keeping its id and history", async () => {
      const p = await start();
      const acct = await account(p);
      const path = `/resend-${Date.now()}`;
      let healthy = false;
      script = (pathname) => (pathname === path && !healthy ? { status: 500 } : undefined);
      const d = await destination(p, acct.auth, { url: `${receiver.url}${path}`, max_attempts: 1, failure_threshold: 1000 });
      const ids = ok(await push(p, acct.auth, [{ n: 1 }, { n: 2 }]), 202, "push").postbacks.map((x: any) => x.id);
      for (const id of ids) await eventually(async () => (await postback(p, id, acct.auth)).state === "dead", 10_000, "dead");
      assert.equal((await call(p, "POST", `/v1/postbacks/${ids[0]}/retry`, undefined, acct.auth)).status, 202);
      // Dead again and out of the queue: the attempt is recorded before its entry is settled, and
      // a replay passes over a postback still queued (it raced, now and then, on Redis).
      await eventually(async () => {
        const v = await postback(p, ids[0], acct.auth);
        return v.attempts.length === 2 && v.state === "dead";
      }, 10_000, "a second attempt, dead and settled");
      healthy = true;
      const replay = ok(await call(p, "POST", `/v1/destinations/${d.id}/replay`, { since: new Date(Date.now() - 60_000).toISOString() }, acct.auth), 202, "replay");
      assert.equal(replay.replayed, 2);
      for (const id of ids) await eventually(async () => (await postback(p, id, acct.auth)).state === "delivered", 10_000, "delivered");
      const view = await postback(p, ids[0], acct.auth);
      assert.deepEqual(view.attempts.map((a: any) => a.attempt), [1, 2, 3]);
      const done = await call(p, "POST", `/v1/postbacks/${ids[0]}/retry`, undefined, acct.auth);
      assert.equal(done.status, 409);
      assert.equal(done.body.code, "postback_delivered");
    });

    test("deleting a destination cancels its held postbacks; another account cannot see or retry them", async () => {
      const p = await start();
      const acct = await account(p);
      const other = await account(p, { name: "Other" });
      const path = `/cancel-${Date.now()}`;
      const d = await destination(p, acct.auth, { url: `${receiver.url}${path}` });
      ok(await call(p, "PATCH", `/v1/destinations/${d.id}`, { enabled: false }, acct.auth), 200, "disable");
      // Disabled by its owner: a push does not queue for it...
      assert.deepEqual(ok(await push(p, acct.auth, { a: 1 }), 202, "push").postbacks, []);
      // ...but what was queued before is held, not lost.
      ok(await call(p, "PATCH", `/v1/destinations/${d.id}`, { enabled: true }, acct.auth), 200, "enable");
      p.worker && (await p.worker.stop(0));
      const [pb] = ok(await push(p, acct.auth, { a: 2 }), 202, "push").postbacks;
      ok(await call(p, "PATCH", `/v1/destinations/${d.id}`, { enabled: false }, acct.auth), 200, "disable");
      // No pause for the old worker's cached view of the destination to age: the new worker
      // starts with none, so it reads the destination as disabled now.
      p.startWorker();
      await eventually(async () => (await postback(p, pb.id, acct.auth)).state === "held", 10_000, "held");
      assert.equal((await call(p, "GET", `/v1/postbacks/${pb.id}`, undefined, other.auth)).status, 404);
      assert.equal((await call(p, "POST", `/v1/postbacks/${pb.id}/retry`, undefined, other.auth)).status, 404);
      assert.equal((await call(p, "POST", `/v1/destinations/${d.id}/replay`, { since: 0 }, other.auth)).status, 404);
      assert.equal((await call(p, "DELETE", `/v1/destinations/${d.id}`, undefined, acct.auth)).status, 204);
      const view = await eventually(async () => {
        const v = await postback(p, pb.id, acct.auth);
        return v.state === "cancelled" ? v : undefined;
      }, 10_000, "cancelled");
      assert.match(view.reason, /destination was deleted/);
      // Cancelled is the worker's verdict on it; with the queue drained nothing is left in flight.
      await drained(p);
      assert.equal(arrived(path).length, 0, "neither a held nor a cancelled postback is sent");
    });
  });
}
