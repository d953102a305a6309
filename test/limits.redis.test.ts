/**
 * The Redis limit store against the shared conformance suite (a real redis-server of the test's
 * own, each store under its own key prefix), and what only Redis has: its own function library,
 * loaded again when Redis has lost it, and keys that expire once idle.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { Redis } from "ioredis";
import { RedisLimitStore, LIMITS_FUNCTIONS, LIMITS_LIBRARY, limitsLibrary } from "../src/limits/redis.js";
import type { LimitStore } from "../src/limits/port.js";
import { startRedis } from "./support/redis.js";
import { limitsConformance } from "./conformance/limits.js";
import { repoPath } from "./support/paths.js";

const server = await startRedis();
after(() => server.close());
let prefixes = 0;
const newPrefix = () => `lim${process.pid}x${++prefixes}`;

limitsConformance("Redis", async () => {
  const prefix = newPrefix();
  const opened: LimitStore[] = [];
  const openOne = async () => {
    const s = await RedisLimitStore.connect(server.url, { prefix });
    opened.push(s);
    return s;
  };
  return {
    store: await openOne(),
    peer: openOne,
    async close() {
      for (const s of opened) await s.close();
    },
  };
});

test("the library is its own (apart from the queue's), one function per .lua file, each headed by its inputs and outputs", async () => {
  const files = readdirSync(repoPath("src", "limits", "redis")).filter((f) => f.endsWith(".lua")).sort();
  assert.deepEqual(files, LIMITS_FUNCTIONS.map((f) => `${f}.lua`).sort());
  for (const f of files) assert.match(readFileSync(repoPath("src", "limits", "redis", f), "utf8"), /^--\[\[[\s\S]*?Input:[\s\S]*?Output:[\s\S]*?\]\]/, f);
  assert.ok((await limitsLibrary()).startsWith(`#!lua name=${LIMITS_LIBRARY}\n`));
  assert.notEqual(LIMITS_LIBRARY, "ferry_v4");
});

test("a Redis that lost the library (a restart without persistence) gets it loaded again on the next call", async () => {
  const store = await RedisLimitStore.connect(server.url, { prefix: newPrefix() });
  const admin = new Redis(server.url);
  try {
    await admin.call("FUNCTION", "DELETE", LIMITS_LIBRARY);
    const got = await store.acquire("dst_reload", { rateLimit: null, rateLimitBurst: null, concurrency: 1 }, 1000);
    assert.ok(got.granted);
  } finally {
    admin.disconnect();
    await store.close();
  }
});

test("an idle destination leaves no keys behind: slots and rate expire once nothing in them matters", async () => {
  const prefix = newPrefix();
  const store = await RedisLimitStore.connect(server.url, { prefix });
  const admin = new Redis(server.url);
  try {
    const got = await store.acquire("dst_idle", { rateLimit: 1000, rateLimitBurst: null, concurrency: 1 }, 200);
    assert.ok(got.granted && got.lease !== null);
    const ttl = async (key: string) => admin.pttl(`${prefix}:lim:${key}:dst_idle`);
    assert.ok((await ttl("c")) > 0 && (await ttl("c")) <= 1200, "slots expire after their latest lease");
    assert.ok((await ttl("r")) > 0 && (await ttl("r")) <= 1001, "the rate's state expires once caught up");
    await store.release("dst_idle", got.lease);
  } finally {
    admin.disconnect();
    await store.close();
  }
});
