/**
 * Start-up refuses bad input whole ("nothing is half-started"): a wrong Redis URL, a wrong
 * password, an unreachable Postgres, a data dir it cannot write, a Redis that evicts keys. Each
 * real `ferry` process must exit non-zero with one line naming the setting and what to fix,
 * before it listens on any port, and without printing a password.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startRedis, type TestRedis } from "./support/redis.js";
import { CLI, ferryEnv, freePort, killAll, spawnFerry, type Exit } from "./support/processes.js";
import { tempDir } from "./support/harness.js";
import { createDatabase } from "./support/postgres.js";

let redis: TestRedis;
const dir = tempDir("ferry-startup-");

before(async () => {
  redis = await startRedis();
});

after(async () => {
  await killAll();
  await redis?.close();
  dir.cleanup();
});

/** Runs `ferry <role>` to its exit; it must not get as far as listening or running. */
async function refused(role: "start" | "api" | "worker", env: Record<string, string>): Promise<{ exit: Exit; out: string; err: string }> {
  const port = await freePort();
  const p = spawnFerry([role], { FERRY_HOST: "127.0.0.1", FERRY_PORT: String(port), FERRY_DATA_DIR: join(dir.path, "data"), FERRY_LOG_LEVEL: "info", ...env });
  const timer = setTimeout(() => p.signal("SIGKILL"), 20_000);
  const exit = await p.exited;
  clearTimeout(timer);
  assert.notEqual(exit.signal, "SIGKILL", `ferry ${role} did not exit by itself: ${p.stdout()} ${p.stderr()}`);
  assert.doesNotMatch(p.stdout(), /listening on|"msg":"ferry \w+ running"/, `ferry ${role} got as far as serving`);
  return { exit, out: p.stdout(), err: p.stderr() };
}

test("a Redis URL nothing listens at: api exits 1 naming FERRY_REDIS_URL", async () => {
  const r = await refused("api", { FERRY_REDIS_URL: `redis://:pw-123456@127.0.0.1:${await freePort()}/0`, FERRY_ADMIN_TOKEN: "t".repeat(32) });
  assert.equal(r.exit.code, 1);
  assert.match(r.err, /^ferry: FERRY_REDIS_URL: cannot use Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0: nothing is listening there \(connection refused\)$/m);
  assert.ok(!r.err.includes("pw-123456") && !r.out.includes("pw-123456"));
});

test("a wrong Redis password: worker exits 1 saying so, without either password", async () => {
  const r = await refused("worker", { FERRY_REDIS_URL: `redis://:wrong-pw-777@127.0.0.1:${redis.port}/0` });
  assert.equal(r.exit.code, 1);
  assert.match(r.err, /FERRY_REDIS_URL: cannot use Redis at .*: the user name or password is wrong/);
  for (const secret of ["wrong-pw-777", redis.password]) assert.ok(!r.err.includes(secret) && !r.out.includes(secret), `${secret} printed`);
});

test("an unreachable Postgres: api exits 1 naming FERRY_DATABASE_URL, without its password", async () => {
  const r = await refused("api", { FERRY_REDIS_URL: redis.url, FERRY_DATABASE_URL: `postgres://ferry:pg-pw-999@127.0.0.1:${await freePort()}/ferry`, FERRY_ADMIN_TOKEN: "t".repeat(32) });
  assert.equal(r.exit.code, 1);
  assert.match(r.err, /^ferry: FERRY_DATABASE_URL: cannot connect to postgres:\/\/ferry:\*\*\*@127\.0\.0\.1:\d+\/ferry: .*ECONNREFUSED/m);
  assert.ok(!r.err.includes("pg-pw-999") && !r.out.includes("pg-pw-999"));
});

test("a Redis that evicts keys: start and worker refuse it, naming maxmemory-policy noeviction", async () => {
  const lru = await startRedis({ args: ["--maxmemory-policy", "allkeys-lru"] });
  try {
    for (const role of ["start", "worker"] as const) {
      const r = await refused(role, { FERRY_REDIS_URL: lru.url, FERRY_ADMIN_TOKEN: "t".repeat(32) });
      assert.equal(r.exit.code, 1, role);
      assert.match(r.err, /^ferry: FERRY_REDIS_URL: Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0 evicts keys when its memory is full \(maxmemory-policy allkeys-lru\).*set maxmemory-policy noeviction/m, role);
      assert.ok(!r.err.includes(lru.password));
    }
  } finally {
    await lru.close();
  }
});

test("a data dir under a regular file: start exits 1 naming FERRY_DATA_DIR, before opening anything", async () => {
  const file = join(dir.path, "plain-file");
  writeFileSync(file, "x\n");
  const r = await refused("start", { FERRY_DATA_DIR: join(file, "data") });
  assert.equal(r.exit.code, 1);
  assert.match(r.err, /^ferry: FERRY_DATA_DIR: cannot write to .*plain-file\/data: a part of the path is a file, not a directory \(ENOTDIR\); make it a directory the user Ferry runs as can write/m);
});

// Root writes anywhere, so the permission case runs the process as root without the
// capabilities that let root ignore permissions (setpriv drops CAP_DAC_OVERRIDE and
// CAP_DAC_READ_SEARCH), on a directory nobody owns with mode 0700: the kernel, not Ferry, says
// no. (Switching to the user nobody instead would need the checkout readable by everyone, which
// a clone under a 0700 temp dir is not.)
const asRoot = process.getuid?.() === 0;
test("a data dir the user cannot write (ferry start without root's override of permissions): exit 1, EACCES named", { skip: asRoot ? false : "needs root to set up a directory it cannot write" }, async () => {
  const data = join(dir.path, "nobody-owned");
  mkdirSync(data);
  chownSync(data, 65534, 65534);
  chmodSync(data, 0o700);
  const port = await freePort();
  const drop = "-dac_override,-dac_read_search";
  const child = spawn("setpriv", [`--bounding-set=${drop}`, `--inh-caps=${drop}`, process.execPath, CLI, "start"], {
    env: ferryEnv({ FERRY_DATA_DIR: data, FERRY_HOST: "127.0.0.1", FERRY_PORT: String(port) }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  clearTimeout(timer);
  assert.equal(code, 1, `stdout: ${out}\nstderr: ${err}`);
  assert.match(err, /^ferry: FERRY_DATA_DIR: cannot write to .*nobody-owned: permission denied for the user Ferry runs as \(EACCES\)/m);
  assert.doesNotMatch(out, /listening on/);
});

test("an unmigrated Postgres: api exits 1 saying run ferry migrate", async () => {
  const fresh = await createDatabase("ferry_startup");
  try {
    const r = await refused("api", { FERRY_REDIS_URL: redis.url, FERRY_DATABASE_URL: fresh.url, FERRY_ADMIN_TOKEN: "t".repeat(32) });
    assert.equal(r.exit.code, 1);
    assert.match(r.err, /^ferry: FERRY_DATABASE_URL: the database .* lacks Ferry's schema .*run `ferry migrate`/m);
  } finally {
    await fresh.drop();
  }
});

test("an ACL user without CONFIG (as in production): start-up reads persistence from INFO and warns that appendonly is off", async () => {
  // Ferry connects as a user with every command but CONFIG (the default user stays for the harness).
  const acl = await startRedis({ args: ["--appendonly", "no", "--user", "ferry", "on", ">ferry-acl-pw", "~*", "&*", "+@all", "-config"] });
  try {
    const url = `redis://ferry:ferry-acl-pw@127.0.0.1:${acl.port}/0`;
    const p = spawnFerry(["worker"], { FERRY_REDIS_URL: url, FERRY_DATA_DIR: join(dir.path, "data") });
    await p.waitForOutput(/"msg":"ferry worker running"/);
    const warning = p.logs().find((l) => /appendonly off/.test(String(l["msg"])));
    assert.ok(warning, `no appendonly warning in ${p.stdout()}`);
    assert.equal(warning["level"], 40);
    await p.stop();
  } finally {
    await acl.close();
  }
});
