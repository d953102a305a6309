/**
 * An enqueue whose answer is lost (issue 9, part 5). Redis was seen to queue a postback after
 * Ferry had answered 503: the 503 freed the Idempotency-Key, and the sender's retry queued it a
 * second time. Now such a 503 says the postbacks *may* have been queued, the key stays
 * unresolved, and its retry finds out what happened before queuing anything.
 *
 * A real redis-server of the test's own: `CLIENT PAUSE … WRITE` makes it sit on Ferry's enqueue
 * past FERRY_REDIS_COMMAND_TIMEOUT_MS, so the call times out on Ferry's side and runs on
 * Redis's afterwards (the case seen), or is dropped with the connection (`CLIENT KILL`) and
 * never runs. A real SQLite store.
 */
import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { AUTH, eventually, startPipeline, type Pipeline } from "./support/harness.js";
import { startRedis, type TestRedis } from "./support/redis.js";

let redis: TestRedis;
let admin: Redis;
let p: Pipeline;

before(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
  p = await startPipeline({ redis_url: redis.url, redis_command_timeout_ms: 300 }, { worker: false });
});

afterEach(async () => {
  await admin.call("CLIENT", "UNPAUSE");
});

after(async () => {
  await p.stop();
  admin.disconnect();
  await redis.close();
});

const BODY = { endpoint: { url: "http://127.0.0.1:9/data?n={n}" }, data: [{ n: 1 }, { n: 2 }] };

async function ingest(key?: string): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
  const res = await p.app.inject({
    method: "POST",
    url: "/ingest",
    headers: { ...AUTH, "content-type": "application/json", ...(key ? { "idempotency-key": key } : {}) },
    payload: JSON.stringify(BODY),
  });
  return { status: res.statusCode, body: res.json(), headers: res.headers };
}

/** Everything queued so far, ready or not. */
async function queued(): Promise<number> {
  const { ready, waiting } = await p.backends.queue.stats();
  return ready + waiting;
}

/** Waits until the queue answers again (after a pause, or a killed connection is replaced). */
async function queueBack(): Promise<void> {
  await eventually(async () => (await p.backends.queue.ping(), true), 10_000, "the queue to answer again");
}

test("the enqueue ran after Ferry gave up on it: the 503 says so, and the retry with its key gets the same ids, queued once", async () => {
  const before = await queued();
  await admin.call("CLIENT", "PAUSE", "1500", "WRITE");
  const first = await ingest("lost-answer-1");
  assert.equal(first.status, 503, JSON.stringify(first.body));
  assert.equal(first.body.code, "queue_unavailable");
  assert.match(first.body.detail, /may have been queued/);
  assert.match(first.body.detail, /same Idempotency-Key/);

  // The pause ends; the call Ferry gave up on runs now.
  await eventually(async () => (await queued()) === before + 2, 10_000, "the timed-out enqueue to land");

  const retry = await ingest("lost-answer-1");
  assert.equal(retry.status, 202, JSON.stringify(retry.body));
  assert.equal(retry.headers["idempotent-replayed"], "true");
  assert.equal(retry.body.ids.length, 2);
  for (const id of retry.body.ids) assert.ok(await p.backends.queue.find(id), `${id} is the postback that landed`);
  assert.equal(await queued(), before + 2, "nothing queued twice");

  const again = await ingest("lost-answer-1");
  assert.deepEqual([again.status, again.body], [202, retry.body], "resolved once, answered alike after");
});

test("the enqueue never ran (its connection dropped while Redis held it): the retry queues the postbacks, once", async () => {
  const before = await queued();
  await admin.call("CLIENT", "PAUSE", "5000", "WRITE");
  const first = await ingest("lost-answer-2");
  assert.equal(first.status, 503, JSON.stringify(first.body));
  assert.match(first.body.detail, /may have been queued/);
  // Drop Ferry's connections with the paused call in them: Redis discards the call.
  await admin.call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");
  await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
  await admin.call("CLIENT", "UNPAUSE");
  await queueBack();
  assert.equal(await queued(), before, "the dropped call queued nothing");

  const retry = await ingest("lost-answer-2");
  assert.equal(retry.status, 202, JSON.stringify(retry.body));
  assert.equal(retry.headers["idempotent-replayed"], undefined, "a fresh answer: the request ran now");
  assert.equal(retry.body.ids.length, 2);
  assert.equal(await queued(), before + 2);

  const again = await ingest("lost-answer-2");
  assert.deepEqual([again.status, again.body.ids], [202, retry.body.ids], "the key now holds the answer");
  assert.equal(await queued(), before + 2);
});

test("without an Idempotency-Key the 503 warns that sending again may deliver twice", async () => {
  await admin.call("CLIENT", "PAUSE", "1000", "WRITE");
  const first = await ingest();
  assert.equal(first.status, 503);
  assert.match(first.body.detail, /may have been queued.*twice/);
  await admin.call("CLIENT", "UNPAUSE");
  await queueBack();
});

test("a Redis that refuses the call outright answers the usual 503: nothing was queued", async () => {
  // Redis is reachable but the connection is gone for good: ioredis refuses to send, so the
  // outcome is known.
  const before = await queued();
  await redis.stop();
  try {
    const res = await ingest("refused-1");
    assert.equal(res.status, 503);
    assert.match(res.body.detail, /nothing was queued/);
  } finally {
    await redis.start();
  }
  await queueBack();
  const retry = await ingest("refused-1");
  assert.equal(retry.status, 202, "the key was freed");
  assert.equal(await queued(), before + 2);
});
