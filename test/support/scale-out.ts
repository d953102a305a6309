/**
 * The scale-out layout for a test file: a Redis and a Postgres database of its own (dropped,
 * with every process it started, after the file), and the settings that point `ferry api` and
 * `ferry worker` processes at them, each call with a queue prefix of its own.
 */
import { after } from "node:test";
import assert from "node:assert/strict";
import { tempDir } from "./harness.js";
import { startRedis, type TestRedis } from "./redis.js";
import { createDatabase, type TestDatabase } from "./postgres.js";
import { killAll } from "./processes.js";

export interface ScaleOut {
  redis: TestRedis;
  database: TestDatabase;
  /** FERRY_* settings for one layout (api and workers share them): a fresh queue prefix, then `extra`. */
  env(extra?: Record<string, string>): Record<string, string>;
}

export async function scaleOut(name: string, adminToken: string): Promise<ScaleOut> {
  const redis = await startRedis();
  const database = await createDatabase(`ferry_${name}`);
  after(async () => {
    await killAll();
    await redis.close();
    await database.drop();
  });
  let prefixes = 0;
  return {
    redis,
    database,
    env: (extra = {}) => ({
      FERRY_REDIS_URL: redis.url,
      FERRY_REDIS_PREFIX: `${name}${++prefixes}`,
      FERRY_DATABASE_URL: database.url,
      FERRY_MIGRATE_ON_START: "true",
      FERRY_ADMIN_TOKEN: adminToken,
      FERRY_DATA_DIR: tempDir().path,
      ...extra,
    }),
  };
}

/** A call to Ferry's JSON API that must succeed (< 300); its parsed answer. */
export async function apiCall(base: string, token: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}
