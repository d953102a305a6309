/**
 * Redis failover through Sentinel (issue 15): real `ferry api` and `ferry worker` processes on a
 * primary, a replica and three sentinels; the primary killed with SIGKILL under steady ingest.
 * With FERRY_REDIS_WAIT_REPLICAS=1 nothing acknowledged is lost; without it the figure is
 * reported (asynchronous replication may or may not lose some under this load). Start-up with
 * sentinels that cannot be reached, or that know no such master, stops with one line naming
 * the setting and no password.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startRedisSentinels, type RedisSentinels } from "./support/redis-sentinel.js";
import { createDatabase, type TestDatabase } from "./support/postgres.js";
import { freePort, killAll, spawnFerry, startServer } from "./support/processes.js";
import { tempDir } from "./support/harness.js";
import { runFailover, sentinelEnv, type FailoverFigures } from "./support/redis-failover-run.js";
import { Redis } from "ioredis";
import { LIBRARY_NAME } from "../src/queue/redis-functions.js";

const TOKEN = "failover-admin-token-0123456789";
let sentinels: RedisSentinels;
let database: TestDatabase;

before(async () => {
  [sentinels, database] = await Promise.all([startRedisSentinels(), createDatabase("ferry_failover")]);
});
after(async () => {
  await killAll();
  await sentinels?.close();
  await database?.drop();
});

function report(t: { diagnostic(message: string): void }, f: FailoverFigures): void {
  t.diagnostic(
    `WAIT ${f.waitReplicas}: ${f.requests} requests, ${f.acknowledged} postbacks acknowledged, ${f.delivered} delivered, ` +
      `${f.acknowledgedLost} acknowledged-lost, ${f.duplicates} duplicates; 503 for ${f.unavailableMs.join("/")} ms ` +
      `(failover ${f.failoverMs.join("/")} ms); answers ${JSON.stringify(f.statuses)}`,
  );
}

test("WAIT 1: the primary killed under ingest load loses nothing acknowledged; ingest answers only 503 with Retry-After meanwhile", async (t) => {
  const f = await runFailover(sentinels, {
    waitReplicas: 1, kills: 1, senders: 8, perRequest: 5, steadyMs: 2500, prefix: "wait1", adminToken: TOKEN, databaseUrl: database.url,
    log: (line) => t.diagnostic(line),
  });
  report(t, f);
  assert.ok(f.acknowledged > 100, `load too small to mean anything: ${f.acknowledged} acknowledged`);
  assert.equal(f.acknowledgedLost, 0, "acknowledged postbacks were never delivered");
  assert.equal(f.badAnswers, 0, `a 5xx other than 503, or a 503 without Retry-After: ${JSON.stringify(f.statuses)}`);
  assert.equal(f.networkErrors, 0);
  assert.ok((f.statuses["503"] ?? 0) > 0, "the failover should have been seen as 503s: did the kill happen under load?");
  // The next failover promotes today's replica: it must have both function libraries already.
  const primary = await sentinels.primaryPort();
  const replica = sentinels.servers.find((s) => s.port !== primary)!;
  const client = new Redis({ host: "127.0.0.1", port: replica.port, password: sentinels.password, lazyConnect: true });
  try {
    await client.connect();
    const libraries = JSON.stringify(await client.call("FUNCTION", "LIST"));
    assert.match(libraries, new RegExp(LIBRARY_NAME));
    assert.match(libraries, /ferry_limits_v1/);
  } finally {
    client.disconnect();
  }
});

test("WAIT 0: the same failover, figures reported (not asserted: asynchronous replication may lose the last writes)", async (t) => {
  const f = await runFailover(sentinels, {
    waitReplicas: 0, kills: 1, senders: 8, perRequest: 5, steadyMs: 2500, prefix: "wait0", adminToken: TOKEN, databaseUrl: database.url,
    log: (line) => t.diagnostic(line),
  });
  report(t, f);
  assert.ok(f.acknowledged > 100);
  assert.equal(f.badAnswers, 0, `a 5xx other than 503, or a 503 without Retry-After: ${JSON.stringify(f.statuses)}`);
  // The worker kept going on the new primary: what the new primary has is delivered.
  assert.ok(f.delivered >= f.acknowledged - f.acknowledgedLost);
});

test("start-up: sentinels that cannot be reached, or know no such master, stop api and worker with one line naming the setting and no password", async () => {
  const base = {
    FERRY_DATABASE_URL: database.url,
    FERRY_MIGRATE_ON_START: "true",
    FERRY_ADMIN_TOKEN: TOKEN,
    FERRY_DATA_DIR: tempDir().path,
    FERRY_PORT: String(await freePort()),
    FERRY_HOST: "127.0.0.1",
  };
  const nobody = spawnFerry(["api"], { ...base, ...sentinelEnv(sentinels), FERRY_REDIS_SENTINELS: `127.0.0.1:${await freePort()}` });
  const unreachable = await nobody.exited;
  assert.notEqual(unreachable.code, 0);
  assert.match(nobody.stderr(), /FERRY_REDIS_SENTINELS: .*no sentinel could be reached/);
  assert.ok(!nobody.stderr().includes(sentinels.password) && !nobody.stdout().includes(sentinels.password), "the password was printed");

  // The worker opens the same connections (and the limit store's): the same line.
  const unknown = spawnFerry(["worker"], { ...base, ...sentinelEnv(sentinels), FERRY_REDIS_MASTER_NAME: "not-monitored" });
  assert.notEqual((await unknown.exited).code, 0);
  assert.match(unknown.stderr(), /FERRY_REDIS_SENTINELS: .*know no primary named "not-monitored".*FERRY_REDIS_MASTER_NAME/);
  assert.ok(!unknown.stderr().includes(sentinels.password), "the password was printed");
});

test("WAIT 1 with the replica down: ingest answers 503 'may have been queued'; the retry with its key answers 503 until the replica is back, then 202 with the same ids, queued once", async () => {
  const primaryPort = await sentinels.waitForSettled();
  const replica = sentinels.servers.find((s) => s.port !== primaryPort)!;
  const prefix = "replica-down";
  const api = await startServer("api", {
    ...sentinelEnv(sentinels),
    FERRY_REDIS_PREFIX: prefix,
    FERRY_REDIS_WAIT_REPLICAS: "1",
    FERRY_REDIS_WAIT_TIMEOUT_MS: "300",
    FERRY_DATABASE_URL: database.url,
    FERRY_MIGRATE_ON_START: "true",
    FERRY_ADMIN_TOKEN: TOKEN,
    FERRY_DATA_DIR: tempDir().path,
  });
  const send = async () => {
    const res = await fetch(`${api.url}/ingest`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}`, "idempotency-key": "replica-down-1" },
      body: JSON.stringify({ endpoint: { method: "GET", url: "http://127.0.0.1:9/x?n={n}" }, data: [{ n: 1 }, { n: 2 }] }),
    });
    return { status: res.status, retryAfter: res.headers.get("retry-after"), body: (await res.json()) as any };
  };
  const first = await send();
  assert.equal(first.status, 202, JSON.stringify(first.body));
  await replica.stop(true);
  try {
    const other = await fetch(`${api.url}/ingest`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}`, "idempotency-key": "replica-down-2" },
      body: JSON.stringify({ endpoint: { method: "GET", url: "http://127.0.0.1:9/x?n={n}" }, data: [{ n: 3 }] }),
    });
    const problem = (await other.json()) as any;
    assert.equal(other.status, 503);
    assert.equal(other.headers.get("retry-after"), "1");
    assert.equal(problem.code, "queue_unavailable");
    assert.match(problem.detail, /may have been queued/);
    assert.match(problem.detail, /same Idempotency-Key/);
    const again = await fetch(`${api.url}/ingest`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}`, "idempotency-key": "replica-down-2" },
      body: JSON.stringify({ endpoint: { method: "GET", url: "http://127.0.0.1:9/x?n={n}" }, data: [{ n: 3 }] }),
    });
    await again.arrayBuffer();
    assert.equal(again.status, 503, "the retry's withdraw answer is not on a replica either");
  } finally {
    await replica.start();
  }
  await sentinels.waitForSettled();
  const retried = await fetch(`${api.url}/ingest`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}`, "idempotency-key": "replica-down-2" },
    body: JSON.stringify({ endpoint: { method: "GET", url: "http://127.0.0.1:9/x?n={n}" }, data: [{ n: 3 }] }),
  });
  const answer = (await retried.json()) as any;
  assert.equal(retried.status, 202, JSON.stringify(answer));
  assert.equal(retried.headers.get("idempotent-replayed"), "true", "the postback queued before the 503 is the one answered, not queued again");
  const client = new Redis({ host: "127.0.0.1", port: await sentinels.primaryPort(), password: sentinels.password });
  try {
    assert.equal(await client.hlen(`${prefix}:i`), 3, "three postbacks queued in all: none twice");
  } finally {
    client.disconnect();
  }
  await api.stop();
});
