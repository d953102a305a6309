/**
 * A failure names the backend at fault: with the queue in Redis and the store in SQLite, a
 * Redis outage answers 503 queue_unavailable on the routes that read the queue (a postback
 * lookup, a retry, a push), while the routes that read only the store go on answering.
 * Real redis-server (stopped mid-test) and a real SQLite file; nothing mocked.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { AUTH, startPipeline, type Pipeline } from "./support/harness.js";
import { startRedis, type TestRedis } from "./support/redis.js";

let redis: TestRedis;
let p: Pipeline;

before(async () => {
  redis = await startRedis();
  p = await startPipeline({ redis_url: redis.url }, { worker: false });
});

after(async () => {
  await p.stop();
  await redis.close();
});

async function call(method: "GET" | "POST", url: string, body?: unknown): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
  const res = await p.app.inject({
    method,
    url,
    headers: { ...AUTH, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return { status: res.statusCode, body: res.json(), headers: res.headers };
}

test("with Redis down and the store up, queue reads answer queue_unavailable, store reads still answer", async () => {
  const account = await call("POST", "/v1/accounts", { name: "Outage" });
  assert.equal(account.status, 201);
  const destination = await call("POST", "/v1/destinations", { account_id: account.body.id, url: "https://partner.example/hook" });
  assert.equal(destination.status, 201);
  const pushed = await call("POST", `/v1/push?account_id=${account.body.id}`, { n: 1 });
  assert.equal(pushed.status, 202);
  const id: string = pushed.body.postbacks[0].id;
  assert.equal((await call("GET", `/v1/postbacks/${id}`)).body.state, "pending", "Redis up: the postback is found queued");

  await redis.stop(true);

  for (const [what, res] of [
    ["GET /v1/postbacks/{id}", await call("GET", `/v1/postbacks/${id}`)],
    ["POST /v1/postbacks/{id}/retry", await call("POST", `/v1/postbacks/${id}/retry`)],
    ["POST /v1/push", await call("POST", `/v1/push?account_id=${account.body.id}`, { n: 2 })],
  ] as const) {
    assert.equal(res.status, 503, `${what}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.code, "queue_unavailable", `${what} names the queue, not the store: ${JSON.stringify(res.body)}`);
    assert.equal(res.headers["retry-after"], "1", what);
  }

  // The store is fine: what reads only the store is answered as before.
  assert.equal((await call("GET", `/v1/accounts/${account.body.id}`)).status, 200);
  assert.equal((await call("GET", `/v1/destinations/${destination.body.id}`)).status, 200);
});
