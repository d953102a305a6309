/**
 * Ferry scaled out, as real processes: `ferry api` and several `ferry worker`s against one
 * Redis (the test's own redis-server: its own port, a password) and one Postgres database.
 * What an operator relies on: a killed worker loses nothing acknowledged and its duplicates
 * are bounded by what it held; Redis going away stops acknowledging rather than losing; a
 * wrong password stops start-up with one line.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { tempDir } from "./support/harness.js";
import { startRedis } from "./support/redis.js";
import { createDatabase } from "./support/postgres.js";
import { ingest, killAll, spawnFerry, startServer, startWorker, type FerryProcess, until } from "./support/processes.js";
import { startReceiver, type ReceivedRequest } from "../src/receiver.js";

const TOKEN = "process-redis-admin-token-0123456789";

const redis = await startRedis();
const database = await createDatabase("ferry_scale");
after(async () => {
  await killAll();
  await redis.close();
  await database.drop();
});

let prefixes = 0;
function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    FERRY_REDIS_URL: redis.url,
    FERRY_DATABASE_URL: database.url,
    FERRY_MIGRATE_ON_START: "true",
    FERRY_ADMIN_TOKEN: TOKEN,
    // Nothing should touch the data dir but the admin token's absence: point it at a temp dir.
    FERRY_DATA_DIR: tempDir().path,
    ...extra,
  };
}

function webhookIds(requests: ReceivedRequest[]): string[] {
  return requests.map((r) => String(r.headers["webhook-id"]));
}

/** Entries left in the queue under `prefix`, read from Redis itself. */
async function queued(prefix: string): Promise<number> {
  const client = new Redis(redis.url);
  try {
    // P:i maps every queued postback, whichever lane or line it waits in (ferry_v5).
    return await client.hlen(`${prefix}:i`);
  } finally {
    client.disconnect();
  }
}

test("two workers and an API: one worker killed with SIGKILL mid-load loses nothing, duplicates bounded by its holding", async (t) => {
  const receiver = await startReceiver({ respond: () => ({ delayMs: 20 }) });
  const concurrency = 8;
  const prefix = `scale${++prefixes}`;
  const settings = env({
    FERRY_REDIS_PREFIX: prefix,
    FERRY_LEASE_MS: "2000",
    FERRY_TIMEOUT_MS: "1000",
    FERRY_CONCURRENCY: String(concurrency),
  });
  const procs: FerryProcess[] = [];
  try {
    const api = await startServer("api", settings);
    procs.push(api);
    const [victim, survivor] = await Promise.all([startWorker(settings), startWorker(settings)]);
    procs.push(victim!, survivor!);

    const requests = 60;
    const perRequest = 10;
    const total = requests * perRequest;
    const ingests = Promise.all(
      Array.from({ length: requests }, (_, i) =>
        ingest(api.url, TOKEN, {
          endpoint: { method: "GET", url: `${receiver.url}/hit?n={n}` },
          data: Array.from({ length: perRequest }, (_, j) => ({ n: i * perRequest + j })),
        }),
      ),
    );
    void ingests.catch(() => undefined); // awaited below
    // Kill the victim once it has delivered some: it holds up to `concurrency` postbacks then.
    const deliveredBy = (p: FerryProcess) => p.logs().filter((l) => l["msg"] === "attempt").length;
    await until(() => deliveredBy(victim!) >= 30, 20_000, () => `the victim worker delivered ${deliveredBy(victim!)}`);
    victim!.signal("SIGKILL");
    assert.equal((await victim!.exited).signal, "SIGKILL");
    const atKill = receiver.count();
    assert.ok(atKill < total, "everything was delivered before the kill; the test proves nothing");

    const answers = await ingests;
    const expected = new Map<string, number>();
    answers.forEach((a, i) => {
      assert.equal(a.status, 202, JSON.stringify(a.body));
      a.body.ids.forEach((id: string, j: number) => expected.set(id, i * perRequest + j));
    });
    const seen = () => new Set(webhookIds(receiver.requests));
    await until(
      () => [...expected.keys()].every((id) => seen().has(id)),
      30_000,
      () => `${[...expected.keys()].filter((id) => !seen().has(id)).length} of ${total} acknowledged postbacks never arrived`,
    );
    await until(async () => (await queued(prefix)) === 0, 15_000, () => "entries left in the Redis queue");

    for (const r of receiver.requests) {
      const id = String(r.headers["webhook-id"]);
      assert.ok(expected.has(id), `an id nobody acknowledged: ${id}`);
      assert.equal(r.url, `${receiver.url}/hit?n=${expected.get(id)}`);
    }
    const duplicates = receiver.requests.length - seen().size;
    t.diagnostic(`${total} postbacks over 2 workers, ${atKill} received before SIGKILL, ${duplicates} duplicates (FERRY_CONCURRENCY=${concurrency})`);
    assert.ok(duplicates <= concurrency, `${duplicates} duplicates: more than the ${concurrency} the killed worker held`);

    // The survivor's records are in Postgres: every postback reads back delivered through the API.
    for (const id of [...expected.keys()].slice(0, 20)) {
      const res = await fetch(`${api.url}/v1/postbacks/${id}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { state: string }).state, "delivered");
    }
    for (const p of [survivor!, api]) assert.deepEqual(await p.stop(), { code: 0, signal: null }, p.stderr());
  } finally {
    for (const p of procs) p.signal("SIGKILL");
    await receiver.close();
  }
});

test("Redis going away: /readyz fails, ingest answers 503 with Retry-After, and everything acknowledged is delivered once it is back", async () => {
  const own = await startRedis();
  const receiver = await startReceiver();
  let ferry: FerryProcess | undefined;
  try {
    const settings = { ...env(), FERRY_REDIS_URL: own.url };
    const server = await startServer("start", settings);
    ferry = server;
    const body = (n: number) => ({ endpoint: { url: `${receiver.url}/r?n={n}` }, data: [{ n }] });
    const first = await ingest(server.url, TOKEN, body(1));
    assert.equal(first.status, 202);
    await until(() => receiver.count() === 1, 10_000, () => "the first postback");

    await own.stop(true);
    await until(async () => (await fetch(`${server.url}/readyz`)).status === 503, 5000, () => "/readyz to fail");
    const refused = await fetch(`${server.url}/ingest`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(body(2)),
    });
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "1");
    assert.equal(((await refused.json()) as { code: string }).code, "queue_unavailable");

    await own.start();
    await until(async () => (await fetch(`${server.url}/readyz`)).status === 200, 15_000, () => "/readyz to recover");
    const again = await ingest(server.url, TOKEN, body(3));
    assert.equal(again.status, 202);
    await until(() => receiver.count() === 2, 15_000, () => `the worker to resume (received ${receiver.count()})`);
    assert.deepEqual(receiver.requests.map((r) => r.url), [`${receiver.url}/r?n=1`, `${receiver.url}/r?n=3`]);
    assert.equal(server.stderr(), "");
    assert.deepEqual(await server.stop(), { code: 0, signal: null });
  } finally {
    ferry?.signal("SIGKILL");
    await receiver.close();
    await own.close();
  }
});

test("a wrong Redis password stops start-up with one line naming FERRY_REDIS_URL, without the password", async () => {
  const wrong = `redis://:wrong-secret@127.0.0.1:${redis.port}/0`;
  const p = spawnFerry(["start"], { ...env(), FERRY_REDIS_URL: wrong });
  const exit = await p.exited;
  assert.equal(exit.code, 1);
  assert.match(p.stderr(), /^ferry: FERRY_REDIS_URL: cannot use Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0: the user name or password is wrong\n$/);
  assert.doesNotMatch(p.stdout() + p.stderr(), /wrong-secret/);
});
