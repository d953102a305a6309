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
import { missingTool } from "./support/tools.js";
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

/**
 * haproxy with deploy/haproxy.cfg, changed only where this machine differs: listening on free
 * loopback ports, the servers at the test's apis, no compose DNS resolvers, a lower maxconn.
 */
async function startHaproxy(apiPorts: number[]): Promise<{ url: string; stats: string }> {
  const [port, stats] = [await freePort(), await freePort()];
  let cfg = readFileSync(repoPath("deploy/haproxy.cfg"), "utf8")
    .replace(/^\s*#.*\n/gm, "")
    // Two file descriptors per connection: 20,000 would need more than this shell's ulimit -n.
    .replace(/^(\s*)maxconn \d+$/m, "$1maxconn 2000")
    .replace(/^(\s*)bind :8080$/m, `$1bind 127.0.0.1:${port}`)
    .replace(/^(\s*)bind :8404$/m, `$1bind 127.0.0.1:${stats}`)
    .replace(/ resolvers docker/, "")
    .replace(/^resolvers docker\n(?:[ \t]+.*\n)+/m, "");
  apiPorts.forEach((p, i) => (cfg = cfg.replace(new RegExp(`server api${i + 1} api${i + 1}:8080`), `server api${i + 1} 127.0.0.1:${p}`)));
  assert.doesNotMatch(cfg, /api\d:8080|127\.0\.0\.11/, "every name replaced");
  const dir = tempDir("ferry-deploy-haproxy-");
  after(() => dir.cleanup());
  writeFileSync(join(dir.path, "haproxy.cfg"), cfg);
  const child = spawn("haproxy", ["-db", "-f", join(dir.path, "haproxy.cfg")], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  after(() => {
    child.kill("SIGKILL");
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`haproxy exited ${child.exitCode}: ${output}`);
    const ok = await fetch(`${url}/readyz`).then((r) => r.status === 200, () => false);
    const monitor = await fetch(`http://127.0.0.1:${stats}/healthz`).then((r) => r.status === 200, () => false);
    if (ok && monitor) return { url, stats: `http://127.0.0.1:${stats}/stats;csv` };
    if (Date.now() > deadline) throw new Error(`haproxy did not pass /readyz on ${url}: ${output}`);
    await new Promise((r) => setTimeout(r, 100));
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

/** psql runs ferry.sql as an operator would; haproxy is the balancer. Without either, skip and say so. */
const skip = missingTool("psql", "haproxy");

test("deploy/redis and deploy/postgres: Ferry scaled out as the ferry ACL user and the runtime role delivers everything; the user cannot FLUSHALL, CONFIG SET or KEYS", { skip }, async (t) => {
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
  const [api, api2] = await Promise.all([startServer("api", settings), startServer("api", settings)]);
  const workerMetrics = await freePort();
  await Promise.all([startWorker({ ...settings, FERRY_METRICS_PORT: String(workerMetrics), FERRY_HOST: "127.0.0.1" }), startWorker(settings)]);
  const { url: lb, stats } = await startHaproxy([api.port, api2.port]);

  // Through the production haproxy.cfg: ad hoc endpoints by /ingest, and a destination with a
  // concurrency limit (the limits library, shared by both workers) by /v1/push.
  for (let i = 0; i < 5; i++) {
    const r = await ingest(lb, TOKEN, { endpoint: { method: "GET", url: `${receiver.url}/ingest?n={n}` }, data: Array.from({ length: 20 }, (_, j) => ({ n: i * 20 + j })) });
    assert.equal(r.status, 202, JSON.stringify(r.body));
  }
  const account = await limitedAccount(lb, TOKEN, receiver.url, { concurrency: 2 });
  await pushMany(lb, TOKEN, account, 50);

  // One api stopped: haproxy retries the refused connections on the other (redispatch), so
  // senders still get 202, before and after its health check notices.
  await api2.stop();
  for (let i = 0; i < 10; i++) {
    const r = await ingest(lb, TOKEN, { endpoint: { method: "GET", url: `${receiver.url}/after?n={n}` }, data: [{ n: i }] });
    assert.equal(r.status, 202, `through haproxy with api2 stopped: ${JSON.stringify(r.body)}`);
  }
  // haproxy's own count of connections retried and redispatched to the other api.
  const csv = (await (await fetch(stats)).text()).split("\n");
  const columns = csv[0]!.replace(/^# /, "").split(",");
  const backend = csv.find((l) => l.startsWith("ferry_api,BACKEND,"))!.split(",");
  t.diagnostic(`haproxy after api2 stopped: retries ${backend[columns.indexOf("wretr")]}, redispatches ${backend[columns.indexOf("wredis")]}`);
  await receiver.waitFor(160, 30_000);
  const paths = receiver.requests.map((r) => new URL(r.url, "http://x").pathname);
  assert.equal(paths.filter((p) => p === "/ingest").length, 100);
  assert.equal(paths.filter((p) => p === "/hook").length, 50);
  assert.equal(paths.filter((p) => p === "/after").length, 10);

  // The ready probe the systemd units run: an api, a worker's metrics port, a worker without
  // one (nothing to ask), and nothing listening.
  const probe = (env: Record<string, string>, ...args: string[]) =>
    spawnSync(process.execPath, [repoPath("deploy/ferry-ready.mjs"), ...args], { encoding: "utf8", env: { PATH: process.env["PATH"], FERRY_HOST: "127.0.0.1", ...env } });
  assert.equal(probe({ FERRY_PORT: String(api.port) }, "--timeout", "5").status, 0, "ferry-ready.mjs: /readyz of a running api");
  assert.equal(probe({ FERRY_METRICS_PORT: String(workerMetrics) }, "--worker", "--timeout", "5").status, 0, "ferry-ready.mjs --worker: /metrics");
  assert.equal(probe({}, "--worker", "--timeout", "5").status, 0, "ferry-ready.mjs --worker without a metrics port");
  const dead = probe({ FERRY_PORT: String(await freePort()) }, "--timeout", "1");
  assert.equal(dead.status, 1);
  assert.match(dead.stderr, /\/readyz not ready after 1 s: ECONNREFUSED/);

  // The image's HEALTHCHECK command, as the Dockerfile has it, against this api and nothing.
  const healthcheck = JSON.parse(/^HEALTHCHECK .* CMD (\[.*\])$/m.exec(readFileSync(repoPath("deploy/Dockerfile"), "utf8").replace(/\\\n\s*/g, ""))![1]!) as string[];
  assert.equal(healthcheck[0], "node");
  const check = (port: number) => spawnSync(process.execPath, healthcheck.slice(1), { env: { PATH: process.env["PATH"], FERRY_PORT: String(port) } }).status;
  assert.equal(check(api.port), 0, "HEALTHCHECK on a running api");
  assert.equal(check(api2.port), 1, "HEALTHCHECK on a stopped one");

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
