/**
 * src/redis-connection.ts against the machine's Redis (127.0.0.1:6379): a connection ioredis
 * ends by itself is started again; one Ferry ends stays ended.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { asTarget, endRedis, openRedis } from "../src/redis-connection.js";

const until = async (what: string, check: () => boolean, ms = 5_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

function open(): Redis {
  return openRedis(asTarget("redis://127.0.0.1:6379"), { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
}

test("a reconnect cancelled under ioredis (as a failover's +switch-master does) ends the connection; it is started again", async () => {
  const redis = open();
  try {
    await redis.connect();
    assert.equal(await redis.ping(), "PONG");
    // The failover race, made to happen: a reconnect begins, and its connector is disconnected
    // before it has connected. ioredis then sets status "end" and never retries by itself.
    let ended = false;
    redis.once("end", () => (ended = true));
    redis.once("connecting", () => (redis as unknown as { connector: { disconnect(): void } }).connector.disconnect());
    redis.disconnect(true);
    await until("ioredis to end the connection", () => ended);
    await until("the connection to be ready again", () => redis.status === "ready");
    assert.equal(await redis.ping(), "PONG");
  } finally {
    await endRedis(redis);
  }
});

test("endRedis ends it for good: no restart follows", async () => {
  const redis = open();
  await redis.connect();
  await endRedis(redis, { quit: true });
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(redis.status, "end");
  await assert.rejects(redis.ping(), /Connection is closed/);
});
