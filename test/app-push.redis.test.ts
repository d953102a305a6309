/**
 * A push whose queueing fails forgets the objects' hashes (compensation), so the same push sent
 * again is queued, not dropped as a duplicate; and the failure is the queue's typed error.
 * Real redis-server stopped mid-test for the queue, a real SQLite file for the stores.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { openBackends, type Backends } from "../src/backends.js";
import { QueueUnavailableError } from "../src/core/port-errors.js";
import type { Ports } from "../src/app/ports.js";
import { createAccount } from "../src/app/accounts.js";
import { registerDestination } from "../src/app/destinations.js";
import { findPostback } from "../src/app/postbacks.js";
import { push } from "../src/app/push.js";
import { eventually, tempDir, testConfig } from "./support/harness.js";
import { startRedis, type TestRedis } from "./support/redis.js";

const DEFAULTS = { max_attempts: 3, default_value: "" };
const dir = tempDir();
let redis: TestRedis;
let backends: Backends;
let ports: Ports;
const log = { warn: () => {} };

before(async () => {
  redis = await startRedis();
  backends = await openBackends(testConfig({ data_dir: dir.path, redis_url: redis.url }));
  ports = backends;
});

after(async () => {
  await backends.close();
  await redis.close();
  dir.cleanup();
});

test("a push the queue refused is not a duplicate when sent again", async () => {
  const account = await createAccount(ports, { name: "Compensate", dedupeWindowMs: 3_600_000 });
  await registerDestination(ports, log, account.id, { method: "POST", url: "https://partner.example/a" });
  await registerDestination(ports, log, account.id, { method: "POST", url: "https://partner.example/b" });
  const request = { accountId: account.id, type: "order.created", objects: [{ order: 1 }, { order: 2 }] };

  await redis.stop(true);
  await assert.rejects(push(ports, DEFAULTS, request), (err: unknown) => err instanceof QueueUnavailableError);

  await redis.start();
  await eventually(() => ports.queue.ping().then(() => true), 15_000, "the queue to reconnect");
  const again = await push(ports, DEFAULTS, request);
  assert.deepEqual(again.duplicates, [], "the hashes of the refused push were forgotten");
  assert.equal(again.postbacks.length, 4, "two objects to two destinations");
  for (const p of again.postbacks) assert.ok(await findPostback(ports, p.id), "queued");

  const third = await push(ports, DEFAULTS, request);
  assert.deepEqual(third.duplicates, [0, 1], "once queued, the same push is a duplicate");
  assert.equal(third.postbacks.length, 0);
});
