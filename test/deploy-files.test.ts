/**
 * deploy/'s files checked with the real tools this machine has: `systemd-analyze verify` on
 * each unit (a broken copy must fail, so the check can fail), `haproxy -c` on haproxy.cfg, and
 * the `yaml` parser on compose.yaml; the Dockerfile's structure read line by line. What cannot
 * run here (a docker daemon, image pulls, systemd as PID 1) is said in docs/operations.md#deploy.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { tempDir } from "./support/harness.js";
import { repoPath } from "./support/paths.js";
import { freePort } from "./support/processes.js";
import { SETTINGS } from "../src/config.js";
import { missingTool } from "./support/tools.js";

const defaults = { max_connections: Number(SETTINGS.max_connections.default), shutdown_grace_ms: Number(SETTINGS.shutdown_grace_ms.default) };

const missing = missingTool;

const UNITS = ["ferry.service", "ferry-api.service", "ferry-worker@.service", "ferry.target"];

/**
 * `systemd-analyze verify` on units copied into a temp dir (its directory joins the unit path).
 * It checks syntax, that ExecStart's binary exists and is executable (/usr/bin/node: the path
 * the units name exists here) and the dependencies; an unknown key only prints a warning and
 * exits 0, so any output at all counts as a problem.
 */
function verify(files: Record<string, string>, names: string[]): string[] {
  const dir = tempDir("ferry-units-");
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir.path, name), text);
    const r = spawnSync("systemd-analyze", ["verify", ...names.map((n) => join(dir.path, n))], { encoding: "utf8", env: { ...process.env, SYSTEMD_LOG_COLOR: "0" } });
    const problems = (r.stdout + r.stderr).split("\n").filter((l) => l.trim() !== "");
    if (r.status !== 0) problems.unshift(`exit ${r.status}`);
    return problems;
  } finally {
    dir.cleanup();
  }
}

const units = Object.fromEntries(UNITS.map((n) => [n, readFileSync(repoPath("deploy/systemd", n), "utf8")]));

/** key=value lines of a unit (a key may repeat). */
function directives(text: string): Array<[string, string]> {
  return text
    .split("\n")
    .filter((l) => /^[A-Za-z]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] as [string, string]);
}

test("systemd units: systemd-analyze verify passes on each (the worker as instance @1), and fails on a broken copy", { skip: missing("systemd-analyze") }, () => {
  assert.deepEqual(readdirSync(repoPath("deploy/systemd")).sort(), [...UNITS].sort());
  for (const name of UNITS) assert.deepEqual(verify(units, [name]), [], `systemd-analyze verify ${name}`);
  assert.deepEqual(verify(units, ["ferry-worker@1.service"]), [], "systemd-analyze verify ferry-worker@1.service");

  // The check can fail: a missing binary, and a misspelt key, each make it report.
  const missingBinary = verify({ ...units, "ferry.service": units["ferry.service"]!.replace(/^ExecStart=\/usr\/bin\/node/m, "ExecStart=/usr/bin/no-such-node") }, ["ferry.service"]);
  assert.ok(missingBinary.some((l) => /no-such-node is not executable/.test(l)), missingBinary.join("\n"));
  const typo = verify({ ...units, "ferry-api.service": units["ferry-api.service"]!.replace(/^Restart=always$/m, "Restrat=always") }, ["ferry-api.service"]);
  assert.ok(typo.some((l) => /Unknown key 'Restrat'/.test(l)), typo.join("\n"));
});

test("systemd units: systemd-analyze security --offline scores each service 2.0 or lower (\"OK\")", { skip: missing("systemd-analyze") }, (t) => {
  const dir = tempDir("ferry-units-security-");
  try {
    for (const [name, text] of Object.entries(units)) writeFileSync(join(dir.path, name), text);
    for (const name of UNITS.filter((n) => n.endsWith(".service"))) {
      const r = spawnSync("systemd-analyze", ["security", "--offline=true", join(dir.path, name)], { encoding: "utf8", env: { ...process.env, SYSTEMD_COLORS: "0" } });
      const score = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(r.stdout)?.[1]);
      t.diagnostic(`${name}: exposure ${score}`);
      assert.ok(score <= 2.0, `${name}: exposure ${score}\n${r.stdout.slice(-2000)}${r.stderr}`);
    }
  } finally {
    dir.cleanup();
  }
});

test("systemd units: restart, user, hardening, environment file, stop timeout above the grace, readiness probe", () => {
  for (const name of UNITS.filter((n) => n.endsWith(".service"))) {
    const d = new Map<string, string[]>();
    for (const [k, v] of directives(units[name]!)) d.set(k, [...(d.get(k) ?? []), v]);
    const one = (k: string) => d.get(k)?.at(-1);
    assert.equal(one("Restart"), "always", name);
    assert.equal(one("User"), "ferry", name);
    for (const [k, v] of Object.entries({
      NoNewPrivileges: "yes", ProtectSystem: "strict", ProtectHome: "yes", PrivateTmp: "yes", PrivateDevices: "yes", CapabilityBoundingSet: "", StateDirectory: "ferry",
      RestrictAddressFamilies: "AF_INET AF_INET6 AF_UNIX", SystemCallFilter: "@system-service", KillSignal: "SIGTERM",
    })) assert.equal(one(k), v, `${name}: ${k}`);
    // V8's JIT needs writable+executable memory: with this set node would not start.
    assert.equal(d.has("MemoryDenyWriteExecute"), false, name);
    assert.deepEqual(d.get("EnvironmentFile")?.[0], "/etc/ferry/ferry.env", name);
    assert.ok(Number(one("LimitNOFILE")) > defaults.max_connections, `${name}: LimitNOFILE above FERRY_MAX_CONNECTIONS`);
    // TimeoutStopSec must leave the grace time plus time to write the records.
    const stopMs = Number(/^(\d+)$/.exec(one("TimeoutStopSec") ?? "")?.[1]) * 1000;
    const envGrace = Number(/^FERRY_SHUTDOWN_GRACE_MS=(\d+)/m.exec(readFileSync(repoPath("deploy/ferry.env"), "utf8"))?.[1]);
    assert.ok(stopMs >= defaults.shutdown_grace_ms + 10_000 && stopMs >= envGrace + 10_000, `${name}: TimeoutStopSec ${stopMs} ms vs grace ${defaults.shutdown_grace_ms}/${envGrace} ms`);
    // What the units run exists in a built checkout (/opt/ferry is this repository, built).
    assert.match(one("ExecStart")!, /^\/usr\/bin\/node \/opt\/ferry\/dist\/src\/cli\/main\.js (start|api|worker)$/, name);
    assert.ok(existsSync(repoPath("dist/src/cli/main.js")));
    assert.match(one("ExecStartPost")!, /^\/usr\/bin\/node \/opt\/ferry\/deploy\/ferry-ready\.mjs /, name);
  }
  assert.ok(existsSync(repoPath("deploy/ferry-ready.mjs")));
  assert.match(units["ferry-worker@.service"]!, /ferry-ready\.mjs --worker/);
  assert.match(units["ferry.target"]!, /^Wants=ferry-api\.service ferry-worker@1\.service ferry-worker@2\.service$/m);
});

test("haproxy.cfg: haproxy -c accepts it without resolving a name; /readyz health checks, retries and redispatch", { skip: missing("haproxy") }, () => {
  const cfg = readFileSync(repoPath("deploy/haproxy.cfg"), "utf8");
  // init-addr none: haproxy -c (and start-up) look up no name; the servers are compose names.
  assert.match(cfg, /^\s*default-server .*init-addr none /m);
  assert.doesNotMatch(cfg, /init-addr [^ ]*libc/);
  const r = spawnSync("haproxy", ["-c", "-f", repoPath("deploy/haproxy.cfg")], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, /WARNING|ALERT/, "no warnings");
  // A broken copy fails the same check.
  const dir = tempDir("ferry-haproxy-");
  try {
    writeFileSync(join(dir.path, "bad.cfg"), cfg.replace("balance leastconn", "balance least-conn"));
    assert.notEqual(spawnSync("haproxy", ["-c", "-f", join(dir.path, "bad.cfg")], { encoding: "utf8" }).status, 0);
  } finally {
    dir.cleanup();
  }
  assert.match(cfg, /http-check send meth GET uri \/readyz/);
  assert.match(cfg, /^\s*retries \d+$/m);
  assert.match(cfg, /^\s*option redispatch/m);
  for (const t of ["connect", "client", "server", "http-request"]) assert.match(cfg, new RegExp(`^\\s*timeout ${t} \\d+s$`, "m"));
  assert.deepEqual([...cfg.matchAll(/^\s*server (\S+) (\S+) check$/gm)].map((m) => `${m[1]} ${m[2]}`), ["api1 api1:8080", "api2 api2:8080"]);
});

test("compose.yaml: lb in front of api1 and api2, two workers, redis and postgres from deploy/, healthchecks, restart policies, volumes, env_file", () => {
  const compose = parse(readFileSync(repoPath("deploy/compose.yaml"), "utf8"), { merge: true }) as any;
  const services = compose.services as Record<string, any>;
  assert.deepEqual(Object.keys(services).sort(), ["api1", "api2", "lb", "migrate", "postgres", "redis", "worker1", "worker2"]);

  // Everything long-running restarts and says whether it is healthy; migrate runs once.
  for (const [name, s] of Object.entries(services)) {
    if (name === "migrate") {
      assert.equal(s.restart, "no");
      continue;
    }
    assert.equal(s.restart, "unless-stopped", `${name}: restart`);
    assert.ok(Array.isArray(s.healthcheck?.test) && s.healthcheck.test.length > 1, `${name}: healthcheck`);
  }
  assert.deepEqual(services["lb"].ports, ["8080:8080", "127.0.0.1:8404:8404"]);
  assert.deepEqual(services["lb"].volumes, ["./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"]);
  assert.ok(existsSync(repoPath("deploy/haproxy.cfg")));
  // Only the balancer is published; nothing else listens on the host.
  for (const [name, s] of Object.entries(services)) if (name !== "lb") assert.equal(s.ports, undefined, `${name}: no published port`);

  for (const [name, command] of [["api1", "api"], ["api2", "api"], ["worker1", "worker"], ["worker2", "worker"]] as const) {
    const s = services[name];
    assert.deepEqual(s.command, [command], name);
    assert.deepEqual(s.build, { context: "..", dockerfile: "deploy/Dockerfile" }, name);
    assert.deepEqual(s.env_file, [{ path: "./.env.ferry", required: true }], name);
    assert.match(s.environment.FERRY_REDIS_URL, /^redis:\/\/ferry:\$\{FERRY_REDIS_PASSWORD:\?[^}]*\}@redis:6380\/0$/, name);
    assert.match(s.environment.FERRY_DATABASE_URL, /^postgres:\/\/ferry_app:.*@postgres:5432\/ferry$/, name);
    assert.equal(s.environment.FERRY_MIGRATE_ON_START, "false", name);
    assert.equal(s.stop_grace_period, "30s", name);
    assert.deepEqual(s.depends_on, { migrate: { condition: "service_completed_successfully" }, redis: { condition: "service_healthy" } }, name);
    assert.deepEqual(s.volumes, [`${name}-data:/var/lib/ferry`], name);
    const probe = s.healthcheck.test.join(" ");
    assert.match(probe, command === "api" ? /127\.0\.0\.1:8080\/healthz/ : /127\.0\.0\.1:9100\/metrics/, name);
    if (command === "worker") assert.equal(s.environment.FERRY_METRICS_PORT, "9100", name);
  }
  assert.match(services["migrate"].environment.FERRY_DATABASE_URL, /^postgres:\/\/ferry:.*@postgres:5432\/ferry$/);
  assert.deepEqual(services["migrate"].depends_on, { postgres: { condition: "service_healthy" } });

  const redis = services["redis"];
  assert.match(redis.command[0], /exec docker-entrypoint\.sh redis-server \/etc\/redis\/ferry-redis\.conf .*--aclfile \/data\/users\.acl/);
  assert.deepEqual(redis.volumes, ["./redis/ferry-redis.conf:/etc/redis/ferry-redis.conf:ro", "./redis/users.acl:/etc/redis/users.acl.template:ro", "redis-data:/data"]);
  assert.match(redis.healthcheck.test[1], /redis-cli -p 6380 --user ferry/);
  const postgres = services["postgres"];
  assert.deepEqual(postgres.volumes, ["./postgres/ferry.sql:/opt/ferry/ferry.sql:ro", "./postgres/init-compose.sh:/docker-entrypoint-initdb.d/10-ferry.sh:ro", "postgres-data:/var/lib/postgresql/data"]);
  assert.match(postgres.healthcheck.test[1], /pg_isready/);
  for (const file of ["redis/ferry-redis.conf", "redis/users.acl", "postgres/ferry.sql", "postgres/init-compose.sh"]) assert.ok(existsSync(repoPath("deploy", file)), file);

  assert.deepEqual(Object.keys(compose.volumes).sort(), ["api1-data", "api2-data", "postgres-data", "redis-data", "worker1-data", "worker2-data"]);
  // Every named volume a service mounts is declared, and every declared one is used.
  const used = new Set(Object.values(services).flatMap((s: any) => (s.volumes ?? []).map((v: string) => v.split(":")[0])).filter((v) => !v.startsWith(".")));
  assert.deepEqual([...used].sort(), Object.keys(compose.volumes).sort());
});

test("Dockerfile: build, deps and runtime stages on one libc, npm ci --omit=dev, non-root USER, HEALTHCHECK on /healthz with node, exec-form ENTRYPOINT", () => {
  const lines = readFileSync(repoPath("deploy/Dockerfile"), "utf8")
    .replace(/\\\n/g, " ")
    .split("\n")
    .filter((l) => l.trim() && !l.trimStart().startsWith("#"));
  const stages = lines.filter((l) => l.startsWith("FROM ")).map((l) => l.split(/\s+/));
  assert.deepEqual(stages.map((s) => s.at(-1)), ["build", "deps", "runtime"]);
  // Same base image in every stage: better-sqlite3 built in deps must load in runtime.
  assert.ok(stages.every((s) => s[1] === "${NODE_IMAGE}"));
  assert.match(lines.find((l) => l.startsWith("ARG NODE_IMAGE="))!, /^ARG NODE_IMAGE=node:20-bookworm-slim$/);
  const runtime = lines.slice(lines.findIndex((l) => /AS runtime$/.test(l)));
  const deps = lines.slice(lines.findIndex((l) => /AS deps$/.test(l)), lines.findIndex((l) => /AS runtime$/.test(l)));
  assert.ok(deps.some((l) => /^RUN npm ci --omit=dev\b/.test(l)), "deps: npm ci --omit=dev");
  assert.ok(runtime.some((l) => l === "COPY --from=deps /opt/ferry/node_modules node_modules"));
  assert.ok(runtime.some((l) => l === "COPY --from=build /src/dist/src dist/src"));
  const user = runtime.filter((l) => l.startsWith("USER ")).at(-1);
  assert.equal(user, "USER ferry:ferry");
  const health = runtime.find((l) => l.startsWith("HEALTHCHECK "))!;
  assert.match(health, /CMD \["node", "-e", ".*\/healthz.*"\]$/);
  // Exec form: node itself is PID 1 and receives SIGTERM, no shell in between.
  assert.equal(runtime.find((l) => l.startsWith("ENTRYPOINT ")), 'ENTRYPOINT ["node", "/opt/ferry/dist/src/cli/main.js"]');
  assert.equal(runtime.find((l) => l.startsWith("CMD ")), 'CMD ["start"]');
  assert.equal(runtime.find((l) => l.startsWith("STOPSIGNAL ")), "STOPSIGNAL SIGTERM");
  // The build context leaves out the host's node_modules (native addons for the host's libc) and dist.
  const ignore = readFileSync(repoPath(".dockerignore"), "utf8").split("\n");
  for (const entry of ["node_modules", "dist", ".git"]) assert.ok(ignore.includes(entry), `.dockerignore: ${entry}`);
  // Whatever the Dockerfile copies from the context exists.
  for (const l of lines.filter((l) => l.startsWith("COPY ") && !l.includes("--from"))) {
    for (const src of l.split(/\s+/).slice(1, -1)) assert.ok(existsSync(repoPath(src)), `COPY ${src}`);
  }
});

test("sentinel.conf: redis-sentinel starts with it and monitors `ferry` with a quorum of 2", async () => {
  const dir = tempDir("ferry-sentinel-");
  const [port, primary] = [await freePort(), await freePort()];
  // As shipped, but for a free port, a temp dir, and a primary on loopback (nobody there:
  // the sentinel only has to accept the file and report what it monitors).
  const conf = readFileSync(repoPath("deploy/redis/sentinel.conf"), "utf8")
    .replace(/^port 26379$/m, `port ${port}`)
    .replace(/^dir .*$/m, `dir ${dir.path}`)
    .replace(/^sentinel monitor ferry \S+ 6380 2$/m, `sentinel monitor ferry 127.0.0.1 ${primary} 2`);
  writeFileSync(join(dir.path, "sentinel.conf"), conf);
  const child = spawn("redis-server", [join(dir.path, "sentinel.conf"), "--sentinel"], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  try {
    let master = "";
    const deadline = Date.now() + 10_000;
    while (!/quorum\n2\n/.test(master)) {
      assert.equal(child.exitCode, null, `redis-sentinel exited: ${output}`);
      assert.ok(Date.now() < deadline, `redis-sentinel did not report master ferry: ${master} ${output}`);
      await new Promise((r) => setTimeout(r, 100));
      master = spawnSync("redis-cli", ["-p", String(port), "SENTINEL", "MASTER", "ferry"], { encoding: "utf8" }).stdout;
    }
    assert.match(master, /down-after-milliseconds\n5000\n/);
    assert.match(master, /parallel-syncs\n1\n/);
  } finally {
    child.kill("SIGKILL");
    await new Promise((r) => child.once("close", r));
    dir.cleanup();
  }
});
