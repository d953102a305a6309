/**
 * `ferry doctor` against real parts: the compiled CLI (`ferry doctor --json`), redis-servers of
 * the test's own (one healthy, one that evicts keys and keeps nothing on disk), a fresh Postgres
 * database (migrated, then not), ports nothing listens on, and a "Redis" that accepts
 * connections and never answers. Checks the exit codes, each finding's status, that stdout is
 * one JSON document, and that no password is printed.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startRedis, type TestRedis } from "./support/redis.js";
import { createDatabase, type TestDatabase } from "./support/postgres.js";
import { freePort, killAll, spawnFerry } from "./support/processes.js";
import { tempDir } from "./support/harness.js";
import { migratePostgres } from "../src/store/postgres-migrations.js";
import { RedisQueue } from "../src/queue/redis.js";
import { RedisLimitStore } from "../src/limits/redis.js";
import { startRedisSentinels } from "./support/redis-sentinel.js";
import { openSqlite } from "../src/sqlite.js";
import { skewFinding } from "../src/doctor/clock.js";
import Database from "better-sqlite3";
import pg from "pg";
import { LIBRARY_NAME } from "../src/queue/redis-functions.js";

interface Finding {
  name: string;
  status: "ok" | "warn" | "fail" | "skip";
  message: string;
  fix?: string;
}

const TOKEN = "doctor-test-admin-token-0123456789abcdef";
let redis: TestRedis;
let db: TestDatabase;
const dir = tempDir("ferry-doctor-");

before(async () => {
  [redis, db] = await Promise.all([startRedis(), createDatabase("ferry_doctor")]);
});

after(async () => {
  await killAll();
  await redis?.close();
  await db?.drop();
  dir.cleanup();
});

async function doctor(env: Record<string, string>, args = ["--json"]): Promise<{ code: number | null; out: string; err: string; checks: Map<string, Finding>; ms: number }> {
  const t0 = Date.now();
  const p = spawnFerry(["doctor", ...args], { FERRY_DATA_DIR: join(dir.path, "data"), FERRY_ALLOW_PRIVATE_DESTINATIONS: "false", ...env });
  const { code } = await p.exited;
  const ms = Date.now() - t0;
  const checks = new Map<string, Finding>();
  if (args.includes("--json")) {
    // Nothing but the one JSON document on stdout.
    const doc = JSON.parse(p.stdout()) as { ok: boolean; checks: Finding[] };
    assert.equal(doc.ok, !doc.checks.some((c) => c.status === "fail"));
    for (const c of doc.checks) checks.set(c.name, c);
  }
  return { code, out: p.stdout(), err: p.stderr(), checks, ms };
}

function status(checks: Map<string, Finding>, name: string): string {
  const c = checks.get(name);
  assert.ok(c, `no finding named ${name} in ${JSON.stringify([...checks.keys()])}`);
  return `${c.status}: ${c.message}`;
}

test("a healthy scale-out config: exit 0, every check ok, no password printed", async () => {
  await migratePostgres(db.url);
  // Ferry's own code loads its function libraries, as a first start would.
  const queue = await RedisQueue.connect(redis.url);
  const limits = await RedisLimitStore.connect(redis.url);
  await queue.close();
  await limits.close();
  const r = await doctor({ FERRY_REDIS_URL: redis.url, FERRY_DATABASE_URL: db.url, FERRY_ADMIN_TOKEN: TOKEN });
  for (const name of ["config", "data_dir", "disk", "redis", "redis.version", "redis.persistence", "redis.maxmemory_policy", "redis.functions", "redis.replication", "clock.redis", "postgres", "postgres.schema", "postgres.privileges", "clock.postgres", "ssrf", "admin_token"]) {
    assert.match(status(r.checks, name), /^ok: /, name);
  }
  assert.match(status(r.checks, "sqlite"), /^skip: not used/);
  assert.equal(r.code, 0);
  assert.ok(!r.out.includes(redis.password) && !r.err.includes(redis.password), "the Redis password is printed");
  assert.ok(!r.out.includes(TOKEN), "the admin token is printed");
  // The human form says the same, one line per check.
  const human = await doctor({ FERRY_REDIS_URL: redis.url, FERRY_DATABASE_URL: db.url, FERRY_ADMIN_TOKEN: TOKEN }, []);
  assert.equal(human.code, 0);
  assert.match(human.out, /^ok {4}redis\.maxmemory_policy +maxmemory-policy noeviction/m);
  assert.match(human.out, /^0 failed, \d+ warnings?, \d+ ok, 1 skipped$/m);
});

test("an unmigrated database fails postgres.schema with `ferry migrate`; exit 1", async () => {
  const fresh = await createDatabase("ferry_doctor_new");
  try {
    const r = await doctor({ FERRY_REDIS_URL: redis.url, FERRY_DATABASE_URL: fresh.url, FERRY_ADMIN_TOKEN: TOKEN });
    assert.match(status(r.checks, "postgres"), /^ok: /);
    assert.match(status(r.checks, "postgres.schema"), /^fail: schema at version none of \d+/);
    assert.match(r.checks.get("postgres.schema")!.fix!, /ferry migrate/);
    assert.match(status(r.checks, "postgres.privileges"), /^ok: .* may create tables/);
    assert.equal(r.code, 1);
    // FERRY_MIGRATE_ON_START makes it a warning: start applies them.
    const onStart = await doctor({ FERRY_REDIS_URL: redis.url, FERRY_DATABASE_URL: fresh.url, FERRY_ADMIN_TOKEN: TOKEN, FERRY_MIGRATE_ON_START: "true" });
    assert.match(status(onStart.checks, "postgres.schema"), /^warn: /);
    assert.equal(onStart.code, 0);
  } finally {
    await fresh.drop();
  }
});

test("a wrong Redis password, an unknown Postgres role, ports nothing listens on: each named, nothing secret printed; exit 1", async () => {
  const wrong = `redis://:not-the-password-4242@127.0.0.1:${redis.port}/0`;
  const pgUser = new URL(db.url);
  pgUser.username = "no_such_ferry_role";
  pgUser.password = "pg-secret-4242";
  const r = await doctor({ FERRY_REDIS_URL: wrong, FERRY_DATABASE_URL: pgUser.toString() });
  assert.match(status(r.checks, "redis"), /^fail: FERRY_REDIS_URL: cannot use Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0: the user name or password is wrong \(WRONGPASS\)/);
  assert.match(status(r.checks, "redis.maxmemory_policy"), /^skip: /);
  assert.match(status(r.checks, "postgres"), /^fail: .*refuses this user .*no_such_ferry_role/);
  assert.match(status(r.checks, "postgres.schema"), /^skip: /);
  for (const secret of ["not-the-password-4242", "pg-secret-4242", redis.password]) {
    assert.ok(!r.out.includes(secret) && !r.err.includes(secret), `${secret} is printed`);
  }
  assert.equal(r.code, 1);

  const [redisPort, pgPort] = [await freePort(), await freePort()];
  const refused = await doctor({ FERRY_REDIS_URL: `redis://:x@127.0.0.1:${redisPort}/0`, FERRY_DATABASE_URL: `postgres://ferry:y@127.0.0.1:${pgPort}/ferry` });
  assert.match(status(refused.checks, "redis"), /^fail: .*connection refused/);
  assert.match(status(refused.checks, "postgres"), /^fail: .*nothing is listening there/);
  assert.equal(refused.code, 1);
});

test("a Redis that evicts keys and keeps nothing on disk, with fewer replicas than FERRY_REDIS_WAIT_REPLICAS", async () => {
  const lru = await startRedis({ args: ["--maxmemory-policy", "allkeys-lru", "--appendonly", "no"] });
  try {
    const r = await doctor({ FERRY_REDIS_URL: lru.url, FERRY_REDIS_WAIT_REPLICAS: "1", FERRY_ADMIN_TOKEN: TOKEN });
    assert.match(status(r.checks, "redis.maxmemory_policy"), /^fail: maxmemory-policy allkeys-lru/);
    assert.match(r.checks.get("redis.maxmemory_policy")!.fix!, /maxmemory-policy noeviction/);
    assert.match(status(r.checks, "redis.persistence"), /^warn: appendonly is off/);
    assert.match(status(r.checks, "redis.replication"), /^fail: primary with 0 connected replicas, but FERRY_REDIS_WAIT_REPLICAS=1/);
    assert.match(status(r.checks, "redis.functions"), new RegExp(`^warn: ${LIBRARY_NAME} and ferry_limits_v1 not loaded yet`));
    assert.equal(r.code, 1);
  } finally {
    await lru.close();
  }
});

test("a Redis that never answers cannot hang doctor: it times out the check and goes on", async () => {
  const sockets = new Set<Socket>();
  const silent: Server = createServer((s) => sockets.add(s.on("error", () => {})));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  const port = (silent.address() as { port: number }).port;
  try {
    const r = await doctor({ FERRY_REDIS_URL: `redis://:x@127.0.0.1:${port}/0`, FERRY_ADMIN_TOKEN: TOKEN });
    assert.match(status(r.checks, "redis"), /^fail: .*timed out/);
    assert.match(status(r.checks, "sqlite"), /^ok: /);
    assert.ok(r.ms < 10_000, `doctor took ${r.ms} ms`);
    assert.equal(r.code, 1);
  } finally {
    for (const s of sockets) s.destroy();
    silent.close();
  }
});

test("an invalid config: exit 2 (as ferry start), its message, the rest skipped; a data dir under a file fails", async () => {
  const r = await doctor({ FERRY_PORT: "not-a-port", FERRY_DATABASE_URL: "postgres://u:hidden-pw@127.0.0.1:1/x", FERRY_ADMIN_TOKEN: "short" });
  assert.match(status(r.checks, "config"), /^fail: .*FERRY_PORT: must be a whole number/);
  assert.match(status(r.checks, "postgres"), /^skip: not checked: the config is invalid/);
  assert.ok(!r.out.includes("hidden-pw") && !r.out.includes("short\""));
  assert.equal(r.code, 2);

  const file = join(dir.path, "a-file");
  writeFileSync(file, "not a directory\n");
  const under = await doctor({ FERRY_DATA_DIR: join(file, "data"), FERRY_ADMIN_TOKEN: "only-twenty-chars-xx" });
  assert.match(status(under.checks, "data_dir"), /^fail: FERRY_DATA_DIR: cannot write to .*a part of the path is a file, not a directory \(ENOTDIR\)/);
  assert.match(status(under.checks, "admin_token"), /^warn: set in FERRY_ADMIN_TOKEN, 20 characters: shorter than the 32 recommended/);
  assert.match(status(under.checks, "ssrf"), /^ok: private destinations refused/);
  assert.equal(under.code, 1);
});

test("through Redis Sentinel: the primary the sentinels name is checked (FERRY_REDIS_URL's host is not used); a sentinel down warns; an unknown master name fails", async () => {
  const topo = await startRedisSentinels({ masterName: "doctor" });
  try {
    const url = new URL(topo.url);
    url.port = String(await freePort()); // nothing there: only the sentinels' answer can lead to Redis
    const env = { FERRY_REDIS_URL: url.toString(), FERRY_REDIS_SENTINELS: topo.sentinels, FERRY_REDIS_MASTER_NAME: "doctor", FERRY_REDIS_WAIT_REPLICAS: "1", FERRY_ADMIN_TOKEN: TOKEN };
    const r = await doctor(env);
    assert.match(status(r.checks, "redis.sentinels"), new RegExp(`^ok: all 3 sentinels name 127\\.0\\.0\\.1:${await topo.primaryPort()} the primary of "doctor"`));
    assert.match(status(r.checks, "redis"), /^ok: reached Redis at the primary 127\.0\.0\.1:\d+ \(from the sentinels\)/);
    assert.match(status(r.checks, "redis.replication"), /^ok: primary with 1 connected replica; ingest waits for 1/);
    assert.ok(!r.out.includes(topo.password));
    await topo.sentinelNodes[2]!.stop();
    const oneDown = await doctor(env);
    assert.match(status(oneDown.checks, "redis.sentinels"), /^warn: 2 of 3 sentinels name .*connection refused/);
    const unknown = await doctor({ ...env, FERRY_REDIS_MASTER_NAME: "not-monitored" });
    assert.match(status(unknown.checks, "redis.sentinels"), /^fail: no sentinel names the primary "not-monitored"/);
    assert.match(status(unknown.checks, "redis.persistence"), /^skip: /);
    assert.equal(unknown.code, 1);
  } finally {
    await topo.close();
  }
});

test("the SQLite file: WAL as Ferry leaves it is ok; a file in rollback-journal mode warns", async () => {
  const data = join(dir.path, "sqlite-data");
  openSqlite(join(data, "ferry.db")).close();
  const wal = await doctor({ FERRY_DATA_DIR: data, FERRY_ADMIN_TOKEN: TOKEN, FERRY_SQLITE_SYNCHRONOUS: "full" });
  assert.match(status(wal.checks, "sqlite"), /^ok: .*ferry\.db: journal_mode WAL, synchronous FULL/);
  assert.match(status(wal.checks, "redis"), /^skip: not used/);
  assert.equal(wal.code, 0);
  const other = join(dir.path, "sqlite-delete");
  mkdirSync(other);
  const db = new Database(join(other, "ferry.db"));
  db.exec("CREATE TABLE t (x)");
  db.close();
  const rollback = await doctor({ FERRY_DATA_DIR: other, FERRY_ADMIN_TOKEN: TOKEN });
  assert.match(status(rollback.checks, "sqlite"), /^warn: .*journal_mode delete, not WAL/);
  assert.equal(rollback.code, 0);
});

test("a Postgres role that may connect but not write Ferry's tables fails postgres.privileges", async () => {
  await migratePostgres(db.url); // idempotent
  const role = `ferry_doctor_ro_${process.pid}`;
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  try {
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    await admin.query(`GRANT SELECT ON postbacks, attempts, ferry_migrations TO ${role}`);
    const url = new URL(db.url);
    url.username = role;
    const r = await doctor({ FERRY_DATABASE_URL: url.toString(), FERRY_ADMIN_TOKEN: TOKEN });
    assert.match(status(r.checks, "postgres.schema"), /^ok: /);
    assert.match(status(r.checks, "postgres.privileges"), new RegExp(`^fail: ${role} lacks SELECT, INSERT, UPDATE or DELETE on postbacks, attempts, endpoints`));
    assert.equal(r.code, 1);
  } finally {
    await admin.query(`DROP OWNED BY ${role}`).catch(() => {});
    await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
    await admin.end();
  }
});

test("clock skew: ok under 500 ms, warn above, fail at half of lease minus timeout; the round trip is subtracted", () => {
  const config = { lease_ms: 60_000, timeout_ms: 10_000 };
  // The server read its clock between 1000 and 1200: the midpoint, 1100, is no skew at all.
  assert.equal(skewFinding("clock.redis", "Redis", 1100, 1000, 1200, config).status, "ok");
  assert.match(skewFinding("clock.redis", "Redis", 1100, 1000, 1200, config).message, /0 ms ahead .*round trip 200 ms, so ±100 ms/);
  assert.equal(skewFinding("clock.redis", "Redis", 1100 + 499, 1000, 1200, config).status, "ok");
  assert.equal(skewFinding("clock.redis", "Redis", 1100 - 800, 1000, 1200, config).status, "warn");
  assert.equal(skewFinding("clock.redis", "Redis", 1100 + 24_999, 1000, 1200, config).status, "warn");
  assert.equal(skewFinding("clock.postgres", "Postgres", 1100 - 25_000, 1000, 1200, config).status, "fail");
});
