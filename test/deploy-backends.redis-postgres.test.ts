/**
 * deploy/'s Redis and Postgres files, used for real: a redis-server started from
 * deploy/redis/ferry-redis.conf with deploy/redis/users.acl (only port, dir and the ACL file's
 * path overridden, placeholders replaced by passwords), a database and two roles made by
 * deploy/postgres/ferry.sql (unique names), `ferry migrate` as the owner, then `ferry api` and
 * two `ferry worker`s as the runtime role and the `ferry` ACL user deliver to a real receiver.
 * Whatever Ferry needs and the ACL lacks shows in ACL LOG, and the test fails naming it.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import pg from "pg";
import { tempDir } from "./support/harness.js";
import { repoPath } from "./support/paths.js";
import { serverUrl } from "./support/postgres.js";
import { limitedAccount, pushMany } from "./support/limits.js";
import { freePort, ingest, killAll, spawnFerry, startServer, startWorker } from "./support/processes.js";
import { startReceiver } from "../src/receiver.js";

const TOKEN = "deploy-backends-admin-token-0123456789";
const FERRY_PASSWORD = randomBytes(16).toString("hex");
const ADMIN_PASSWORD = randomBytes(16).toString("hex");

/** redis-server from deploy/redis/ferry-redis.conf on a free port; resolves once ferry-admin gets PONG. */
async function startDeployRedis(): Promise<{ port: number; child: ChildProcess; output: () => string; dir: string }> {
  const dir = tempDir("ferry-deploy-redis-");
  after(() => dir.cleanup());
  const acl = readFileSync(repoPath("deploy/redis/users.acl"), "utf8")
    .replace("@FERRY_REDIS_PASSWORD@", FERRY_PASSWORD)
    .replace("@FERRY_REDIS_ADMIN_PASSWORD@", ADMIN_PASSWORD)
    .replace(/@FERRY_REDIS_[A-Z_]+@/g, () => randomBytes(16).toString("hex"));
  writeFileSync(join(dir.path, "users.acl"), acl, { mode: 0o600 });
  const port = await freePort();
  // The file as shipped; only what must differ on a shared test machine is overridden.
  const child = spawn("redis-server", [repoPath("deploy/redis/ferry-redis.conf"), "--port", String(port), "--dir", dir.path, "--aclfile", join(dir.path, "users.acl")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  after(() => {
    child.kill("SIGKILL");
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server with deploy/redis/ferry-redis.conf exited ${child.exitCode}: ${output}`);
    const admin = new Redis({ port, host: "127.0.0.1", username: "ferry-admin", password: ADMIN_PASSWORD, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    admin.on("error", () => {});
    const ok = await admin.connect().then(() => admin.ping(), () => null).catch(() => null);
    admin.disconnect();
    if (ok === "PONG") return { port, child, output: () => output, dir: dir.path };
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${port}: ${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs deploy/postgres/ferry.sql with psql as the test server's superuser; its names are unique. */
function createRoles(): { owner: string; app: string; db: string; ownerUrl: string; appUrl: string; drop(): Promise<void> } {
  const suffix = `${process.pid}_${randomBytes(3).toString("hex")}`;
  const names = { owner: `ferry_own_${suffix}`, app: `ferry_app_${suffix}`, db: `ferry_deploy_${suffix}` };
  const admin = new URL(serverUrl());
  const psql = spawnSync(
    "psql",
    [
      "-X", "-q", "-h", admin.hostname, "-p", admin.port || "5432", "-U", decodeURIComponent(admin.username || "postgres"), "-d", admin.pathname.slice(1) || "postgres",
      "-v", `owner=${names.owner}`, "-v", `app=${names.app}`, "-v", `db=${names.db}`,
      "-v", "owner_password=owner-pass", "-v", "app_password=app-pass",
      "-f", repoPath("deploy/postgres/ferry.sql"),
    ],
    { encoding: "utf8", env: { ...process.env, PGPASSWORD: decodeURIComponent(admin.password) } },
  );
  assert.equal(psql.status, 0, `psql -f deploy/postgres/ferry.sql: ${psql.stderr}`);
  const urlFor = (role: string, password: string) => {
    const u = new URL(serverUrl());
    u.username = role;
    u.password = password;
    u.pathname = `/${names.db}`;
    return u.toString();
  };
  return {
    ...names,
    ownerUrl: urlFor(names.owner, "owner-pass"),
    appUrl: urlFor(names.app, "app-pass"),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl() });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${names.db}" WITH (FORCE)`);
        await c.query(`DROP ROLE IF EXISTS "${names.app}"`);
        await c.query(`DROP ROLE IF EXISTS "${names.owner}"`);
      } finally {
        await c.end();
      }
    },
  };
}

test("deploy/redis and deploy/postgres: Ferry scaled out as the ferry ACL user and the runtime role delivers everything; the user cannot FLUSHALL, CONFIG SET or KEYS", async (t) => {
  const redis = await startDeployRedis();
  const roles = createRoles();
  after(async () => {
    await killAll();
    await roles.drop();
  });

  // Migrations as the owner; the runtime role then finds the schema migrated and may not change it.
  const migrate = spawnFerry(["migrate"], { FERRY_DATABASE_URL: roles.ownerUrl, FERRY_DATA_DIR: tempDir().path });
  const migrated = await migrate.exited;
  assert.equal(migrated.code, 0, `ferry migrate as ${roles.owner}: ${migrate.stderr()} ${migrate.stdout()}`);
  const app = new pg.Client({ connectionString: roles.appUrl });
  await app.connect();
  try {
    await assert.rejects(app.query("CREATE TABLE intruder (id int)"), /permission denied/, "the runtime role may not create tables");
    await assert.rejects(app.query("DROP TABLE postbacks"), /must be owner/, "nor drop Ferry's");
  } finally {
    await app.end();
  }

  const receiver = await startReceiver();
  after(() => receiver.close());
  const settings = {
    FERRY_REDIS_URL: `redis://ferry:${FERRY_PASSWORD}@127.0.0.1:${redis.port}/0`,
    FERRY_REDIS_PREFIX: "ferry",
    FERRY_DATABASE_URL: roles.appUrl,
    FERRY_MIGRATE_ON_START: "false",
    FERRY_ADMIN_TOKEN: TOKEN,
    FERRY_DATA_DIR: tempDir().path,
  };
  const api = await startServer("api", settings);
  await Promise.all([startWorker(settings), startWorker(settings)]);

  // Ad hoc endpoints through /ingest, and a destination with a concurrency limit (the limits
  // library, shared by both workers) through /v1/push.
  for (let i = 0; i < 5; i++) {
    const r = await ingest(api.url, TOKEN, { endpoint: { method: "GET", url: `${receiver.url}/ingest?n={n}` }, data: Array.from({ length: 20 }, (_, j) => ({ n: i * 20 + j })) });
    assert.equal(r.status, 202, JSON.stringify(r.body));
  }
  const account = await limitedAccount(api.url, TOKEN, receiver.url, { concurrency: 2 });
  await pushMany(api.url, TOKEN, account, 50);
  await receiver.waitFor(150, 30_000);
  const paths = receiver.requests.map((r) => new URL(r.url, "http://x").pathname);
  assert.equal(paths.filter((p) => p === "/ingest").length, 100);
  assert.equal(paths.filter((p) => p === "/hook").length, 50);

  // The ready probe the systemd units run, against this api and against nothing.
  const probe = (...args: string[]) => spawnSync(process.execPath, [repoPath("deploy/ferry-ready.mjs"), ...args], { encoding: "utf8", env: { ...process.env, FERRY_PORT: String(api.port), FERRY_HOST: "127.0.0.1" } });
  assert.equal(probe("--timeout", "5").status, 0, "ferry-ready.mjs: /readyz of a running api");
  const dead = probe("--url", `http://127.0.0.1:${await freePort()}/readyz`, "--timeout", "1");
  assert.equal(dead.status, 1);
  assert.match(dead.stderr, /not ready after 1 s: ECONNREFUSED/);

  const admin = new Redis({ port: redis.port, host: "127.0.0.1", username: "ferry-admin", password: ADMIN_PASSWORD });
  const ferry = new Redis({ port: redis.port, host: "127.0.0.1", username: "ferry", password: FERRY_PASSWORD });
  try {
    // Everything Ferry sent was allowed, but the persistence check's CONFIG GET (caught and
    // left to `ferry doctor`) and, on Redis 7.2+, ioredis's CLIENT SETINFO (ignored by ioredis).
    const log = (await admin.call("ACL", "LOG")) as unknown[][];
    const denied = log
      .map((entry) => Object.fromEntries(Array.from({ length: entry.length / 2 }, (_, i) => [String(entry[2 * i]), entry[2 * i + 1]])))
      .filter((e) => e["username"] === "ferry" && !/^config\|get$|^client\|setinfo$/.test(String(e["object"])));
    assert.deepEqual(denied.map((e) => `${e["reason"]} ${e["object"]}`), [], "ACL LOG: what the ferry user was refused (add it to deploy/redis/users.acl)");
    t.diagnostic(`ACL LOG entries for ferry, all expected: ${log.length}`);

    // The ferry user can do what Ferry does, and not what an intruder with its password would.
    await assert.rejects(ferry.flushall(), /NOPERM/);
    await assert.rejects(ferry.config("SET", "appendonly", "no"), /NOPERM/);
    await assert.rejects(ferry.keys("*"), /NOPERM/);
    await assert.rejects(ferry.call("FUNCTION", "FLUSH"), /NOPERM/);
    await assert.rejects(ferry.call("EVAL", "return 1", "0"), /NOPERM/);
    // Its functions run under its ACL: a key outside ferry:* is refused even inside one.
    await assert.rejects(ferry.call("HGET", "other:b", "x"), /NOPERM/);
    const unauthenticated = spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(redis.port), "PING"], { encoding: "utf8" });
    assert.match(unauthenticated.stdout + unauthenticated.stderr, /NOAUTH/, "the default user is off");

    // The file's durability settings are those the server runs with.
    const config = Object.fromEntries(
      (await admin.config("GET", "*")).reduce<[string, string][]>((pairs, v, i, all) => (i % 2 === 0 ? [...pairs, [v, all[i + 1]!]] : pairs), []),
    );
    assert.equal(config["appendonly"], "yes");
    assert.equal(config["appendfsync"], "everysec");
    assert.equal(config["maxmemory-policy"], "noeviction");
    assert.equal(config["protected-mode"], "yes");
    assert.notEqual(readFileSync(repoPath("deploy/redis/ferry-redis.conf"), "utf8").match(/^port (\d+)/m)?.[1], "6379", "a non-default port");
  } finally {
    admin.disconnect();
    ferry.disconnect();
  }
});
