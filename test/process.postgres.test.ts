/**
 * `ferry migrate` and `ferry start` with the store in a real Postgres (the local server, or
 * FERRY_TEST_DATABASE_URL), each in a database of its own, dropped after: what an operator sees
 * at start-up, and what happens when Postgres goes away under load and comes back.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import pg from "pg";
import { tempDir } from "./support/harness.js";
import { createDatabase, type TestDatabase } from "./support/postgres.js";
import { ingest, killAll, spawnFerry, startServer, type ServerProcess, until } from "./support/processes.js";
import { startTcpProxy, type TcpProxy } from "./support/tcp-proxy.js";
import { startReceiver, type Receiver } from "../src/receiver.js";
import { STORE_MIGRATIONS } from "../src/store/postgres-migrations.js";

const TOKEN = "process-postgres-admin-token-0123456789";

const databases: TestDatabase[] = [];
after(async () => {
  await killAll();
  for (const db of databases) await db.drop();
});

async function freshDatabase(): Promise<TestDatabase> {
  const db = await createDatabase("ferry_proc");
  databases.push(db);
  return db;
}

test("ferry migrate applies the schema once, then says it is up to date; exit 0 both times", async () => {
  const db = await freshDatabase();
  const first = spawnFerry(["migrate"], { FERRY_DATABASE_URL: db.url });
  assert.equal((await first.exited).code, 0, first.stderr());
  const n = STORE_MIGRATIONS.length;
  assert.equal(first.stdout(), `ferry migrate: applied ${n} migration${n === 1 ? "" : "s"} to ${db.url}\n`);
  assert.equal(first.stderr(), "");

  const second = spawnFerry(["migrate"], { FERRY_DATABASE_URL: db.url });
  assert.equal((await second.exited).code, 0, second.stderr());
  assert.equal(second.stdout(), `ferry migrate: ${db.url} is already up to date\n`);

  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const { rows } = await client.query("SELECT component, version FROM ferry_migrations ORDER BY version");
    assert.deepEqual(rows, STORE_MIGRATIONS.map((_, i) => ({ component: "store", version: i + 1 })));
  } finally {
    await client.end();
  }
});

test("ferry migrate: nothing to do without FERRY_DATABASE_URL (exit 0), one line naming it when Postgres cannot be reached (exit 1), a malformed URL is a configuration error (exit 2)", async () => {
  const dir = tempDir();
  try {
    const sqlite = spawnFerry(["migrate"], { FERRY_DATA_DIR: dir.path });
    assert.equal((await sqlite.exited).code, 0, sqlite.stderr());
    assert.match(sqlite.stdout(), /^ferry migrate: FERRY_DATABASE_URL is not set, so the store is the SQLite file .*ferry\.db, which migrates itself on start; nothing to do\n$/);
  } finally {
    dir.cleanup();
  }

  const down = spawnFerry(["migrate"], { FERRY_DATABASE_URL: "postgres://ferry:Secret-Password-1@127.0.0.1:1/ferry" });
  assert.equal((await down.exited).code, 1);
  assert.match(down.stderr(), /^ferry: FERRY_DATABASE_URL: cannot connect to postgres:\/\/ferry:\*\*\*@127\.0\.0\.1:1\/ferry: [^\n]*ECONNREFUSED[^\n]*\n$/);
  assert.doesNotMatch(down.stderr() + down.stdout(), /Secret-Password-1/);

  const malformed = spawnFerry(["migrate"], { FERRY_DATABASE_URL: "mysql://ferry@127.0.0.1/ferry" });
  assert.equal((await malformed.exited).code, 2);
  assert.match(malformed.stderr(), /^ferry: configuration error:\nFERRY_DATABASE_URL: must be a postgres:\/\/ URL/);
});

test("ferry start refuses an unmigrated or unreachable database with one line naming the setting, exit 1", async () => {
  const db = await freshDatabase();
  const dir = tempDir();
  try {
    const env = { FERRY_DATA_DIR: dir.path, FERRY_ADMIN_TOKEN: TOKEN, FERRY_PORT: "0", FERRY_HOST: "127.0.0.1" };
    const unmigrated = spawnFerry(["start"], { ...env, FERRY_DATABASE_URL: db.url });
    assert.equal((await unmigrated.exited).code, 1);
    const line = unmigrated.stderr();
    assert.match(line, /^ferry: FERRY_DATABASE_URL: [^\n]*`ferry migrate`[^\n]*FERRY_MIGRATE_ON_START=true\n$/);

    const down = spawnFerry(["start"], { ...env, FERRY_DATABASE_URL: "postgres://ferry:Secret-Password-2@127.0.0.1:1/ferry" });
    assert.equal((await down.exited).code, 1);
    assert.match(down.stderr(), /^ferry: FERRY_DATABASE_URL: cannot connect to postgres:\/\/ferry:\*\*\*@127\.0\.0\.1:1\/ferry: [^\n]+\n$/);
    assert.doesNotMatch(down.stderr() + down.stdout(), /Secret-Password-2/);
  } finally {
    dir.cleanup();
  }
});

test("Postgres going away under load: /readyz fails, the process lives on, and once it is back every acknowledged postback is recorded delivered", async () => {
  const db = await freshDatabase();
  const target = new URL(db.url);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const viaProxy = new URL(db.url);
  viaProxy.port = String(proxy.port);
  const receiver = await startReceiver();
  const dir = tempDir();
  let server: ServerProcess | undefined;
  // Whatever fails, close the proxy and the receiver: a socket left listening keeps this test
  // file from ever ending.
  try {
    server = await startServer("start", {
      FERRY_DATA_DIR: dir.path,
      FERRY_ADMIN_TOKEN: TOKEN,
      FERRY_DATABASE_URL: viaProxy.toString(),
      FERRY_MIGRATE_ON_START: "true",
      FERRY_TIMEOUT_MS: "1000",
      FERRY_LEASE_MS: "2000",
      FERRY_POLL_INTERVAL_MS: "20",
    });
    await postgresGoesAway(server, receiver, proxy);
  } finally {
    await server?.stop();
    await receiver.close();
    await proxy.close();
    dir.cleanup();
  }
});

async function postgresGoesAway(server: ServerProcess, receiver: Receiver, proxy: TcpProxy): Promise<void> {
  const readyz = async () => {
    const res = await fetch(`${server.url}/readyz`, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const states = async (ids: string[]) =>
    Promise.all(
      ids.map(async (id) => {
        const res = await fetch(`${server.url}/v1/postbacks/${id}`, { headers: { authorization: `Bearer ${TOKEN}` } });
        return res.status === 200 ? String(((await res.json()) as { state: string }).state) : `HTTP ${res.status}`;
      }),
    );
  const send = async (n: number, from: number) => {
    const res = await ingest(server.url, TOKEN, {
      endpoint: { method: "GET", url: `${receiver.url}/hook?n={n}` },
      data: Array.from({ length: n }, (_, i) => ({ n: from + i })),
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.ids as string[];
  };

  assert.equal((await readyz()).status, 200);
  const before = await send(10, 0);
  await until(async () => (await states(before)).every((s) => s === "delivered"), 10_000, () => "the first postbacks to be recorded delivered");

  await proxy.cut();
  const t0 = Date.now();
  const down = await readyz();
  assert.equal(down.status, 503);
  assert.equal(down.body["code"], "not_ready");
  assert.match(String(down.body["detail"]), /store:/);
  assert.ok(Date.now() - t0 < 3000, `/readyz took ${Date.now() - t0} ms`);

  const lookup = await fetch(`${server.url}/v1/postbacks/${before[0]}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(lookup.status, 503);
  assert.equal(lookup.headers.get("retry-after"), "5");
  assert.equal(((await lookup.json()) as { code: string }).code, "store_unavailable");

  // The queue is still there: ingest goes on, and the worker delivers what it takes, then
  // holds the finished ones (it cannot record them) and takes no more.
  const during = await send(10, 100);
  await receiver.waitFor(20, 10_000);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(server.exit(), undefined, `ferry exited: ${server.stderr()}`);

  await proxy.restore();
  await until(async () => (await readyz()).status === 200, 10_000, () => "/readyz to answer 200 again");
  const all = [...before, ...during];
  let last: string[] = [];
  await until(
    async () => (last = await states(all)).every((s) => s === "delivered"),
    15_000,
    () => `every postback to be recorded delivered; got ${JSON.stringify(last)}`,
  );
  const received = new Set(receiver.requests.map((r) => String(r.headers["webhook-id"])));
  for (const id of all) assert.ok(received.has(id), `${id} reached the receiver`);

  const exit = await server.stop();
  assert.deepEqual(exit, { code: 0, signal: null }, server.stderr());
}
