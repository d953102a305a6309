/**
 * docs/operations.md's Runbook, run as written. Each `### ` scenario there starts with a block of
 * read-only commands whose output must answer the scenario's question; this file puts a real
 * Ferry and a real receiver in that scenario's state (a partner failing since a time, a
 * destination disabled by endpoint health, a queue with held postbacks, Redis gone and back), runs
 * the Runbook's setup block and that first block in bash, as an on-call engineer would paste them,
 * and checks that what they print says what the Runbook says it says. A command the docs get
 * wrong (a route, a flag, a jq path, a SQL column) fails here.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { repoPath } from "./support/paths.js";
import { LIBRARY_NAME } from "../src/queue/redis-functions.js";
import { ADMIN_TOKEN, tempDir } from "./support/harness.js";
import { startServer, startWorker, until } from "./support/processes.js";
import { runBash, startReceiver, withoutProxies } from "./support/walkthrough.js";
import { apiCall, scaleOut } from "./support/scale-out.js";

interface Runbook {
  /** The sh block before the first scenario: FERRY_URL, the token, `H`. */
  setup: string;
  /** Scenario heading → its sh blocks, in order; the first is the read-only one. */
  scenarios: Map<string, string[]>;
}

function readRunbook(): Runbook {
  const lines = readFileSync(repoPath("docs", "operations.md"), "utf8").split("\n");
  const start = lines.indexOf("## Runbook");
  assert.ok(start >= 0, "docs/operations.md has no ## Runbook");
  let end = lines.findIndex((l, i) => i > start && l.startsWith("## "));
  if (end < 0) end = lines.length;
  let setup = "";
  const scenarios = new Map<string, string[]>();
  let heading: string | undefined;
  let fence: string[] | undefined;
  let kind = "";
  for (const raw of lines.slice(start + 1, end)) {
    const line = raw.replace(/^ {2}(?= *```| )/, ""); // fences indented in a list item
    if (!fence && raw.startsWith("### ")) {
      heading = raw.slice(4);
      scenarios.set(heading, []);
    } else if (!fence && /^\s*```/.test(raw)) {
      kind = raw.trim().slice(3);
      fence = [];
    } else if (fence && /^\s*```/.test(raw)) {
      if (kind === "sh") {
        const body = fence.join("\n");
        if (heading === undefined) setup ||= body;
        else scenarios.get(heading)!.push(body);
      }
      fence = undefined;
    } else if (fence) {
      fence.push(line);
    }
  }
  assert.ok(setup.includes("FERRY_ADMIN_TOKEN"), "the Runbook's setup block sets the token");
  return { setup, scenarios };
}

const runbook = readRunbook();

function blocks(heading: string): string[] {
  const found = runbook.scenarios.get(heading);
  assert.ok(found && found.length > 0, `the Runbook has no sh block under "### ${heading}"`);
  return found;
}

/** Runs the setup and `block` in bash with `vars`; the block must exit 0 and print nothing on stderr. */
async function run(block: string, vars: Record<string, string>): Promise<string> {
  const env = { ...withoutProxies(process.env), ...vars, FERRY_ADMIN_TOKEN: ADMIN_TOKEN };
  const { code, stdout, stderr, timedOut } = await runBash(`set -u\n${runbook.setup}\n${block}`, env, 20_000);
  assert.ok(!timedOut && code === 0 && stderr === "", `block failed (exit ${code}${timedOut ? ", timed out" : ""}):\n${block}\n--- stdout:\n${stdout}\n--- stderr:\n${stderr}`);
  return stdout;
}

test("embedded: a partner failing since a time, a destination disabled, the queue's holders, the disk; then the fix", async (t) => {
  const receiver = await startReceiver(); // 500 under /fail, 200 elsewhere
  const dir = tempDir("ferry-runbook-");
  const ferry = await startServer("start", { FERRY_DATA_DIR: dir.path, FERRY_ADMIN_TOKEN: ADMIN_TOKEN, FERRY_RETRY_BASE_MS: "100" });
  t.after(async () => {
    await ferry.stop();
    await receiver.close();
    dir.cleanup();
  });
  const call = (method: string, path: string, body?: unknown) => apiCall(ferry.url, ADMIN_TOKEN, method, path, body);
  const since = new Date(Date.now() - 1000).toISOString().replace(/\.\d+Z$/, "Z");
  const account = await call("POST", "/v1/accounts", { name: "partner" });
  // One partner failing whose destination endpoint health never disables (the admin's 0), one it disables.
  const failing = await call("POST", "/v1/destinations", { account_id: account.id, url: `${receiver.url}/fail/a`, method: "POST", failure_threshold: 0 });
  const disabled = await call("POST", "/v1/destinations", { account_id: account.id, url: `${receiver.url}/fail/b`, method: "POST" });
  await call("POST", `/v1/push?account_id=${account.id}`, [1, 2, 3, 4, 5].map((n) => ({ n })));
  await until(async () => (await call("GET", `/v1/destinations/${disabled.id}`)).enabled === false, 15_000, () => "the failing destination was not disabled");
  await until(async () => (await call("GET", `/v1/postbacks?destination_id=${failing.id}&state=failed`)).data.length === 5, 15_000, () => "5 failed postbacks");
  await until(async () => (await call("GET", `/v1/postbacks?destination_id=${disabled.id}&state=held`)).data.length === 5, 15_000, () => "5 held postbacks");
  const vars = { FERRY_URL: ferry.url, FERRY_DATA_DIR: dir.path, ACCT: account.id, SINCE: since };

  // A partner says they got nothing since SINCE: the failing one is enabled and answers 500.
  const [partner] = blocks("A partner says they got nothing since 10:00");
  let out = await run(partner!, { ...vars, DST: failing.id });
  assert.match(out, new RegExp(`"id":"${disabled.id}".*"enabled":false,"disabled_reason":"3 failed attempts within 1h"`), "its destinations, one disabled");
  assert.match(out, /"enabled": true/);
  assert.match(out, /"last_error": \{[^}]*"status_code": 500/);
  assert.match(out, /"retry": [1-9]/, "the hours since then show retries");
  assert.equal((out.match(/"state":"failed","attempts":\d+,"at":"[^"]+","status":500/g) ?? []).length, 5, "each postback with its last attempt's 500");
  // ... and for the disabled one, the held postbacks.
  out = await run(partner!, { ...vars, DST: disabled.id });
  assert.match(out, /"enabled": false,\s+"disabled_reason": "3 failed attempts within 1h"/);
  assert.match(out, /"held": 5/);

  // A destination was disabled: why, what it is owed, the failures behind it.
  const [why, enable] = [blocks("A destination was disabled")[0]!, blocks("A destination was disabled").find((b) => b.includes('"enabled": true'))];
  assert.ok(enable, "the Runbook says how to enable a destination");
  out = await run(why, { ...vars, DST: disabled.id });
  assert.match(out, /"disabled_reason": "3 failed attempts within 1h"/);
  assert.match(out, /"queue_depth": 5/);
  assert.match(out, /"held": 5/);
  assert.match(out, /"status":500/);

  // The queue keeps growing: the metrics and the SQLite query name the disabled destination's backlog.
  const [queueNow, sqlite] = blocks("The queue keeps growing");
  out = await run(queueNow!, vars);
  assert.match(out, /^ferry_destinations_disabled\{role="start"\} 1$/m);
  assert.match(out, /^ferry_queue_depth\{state="waiting",role="start"\} \d+$/m);
  assert.match(out, /^\{"queue":\{"ready":\d+,"waiting":\d+\}\}$/m);
  out = await run(sqlite!, vars);
  assert.match(out, new RegExp(`^${disabled.id}\\|5\\|5\\|`, "m"), "5 queued, 5 held for the disabled destination");

  // Disk is filling up: what takes the data dir's space.
  out = await run(blocks("Disk is filling up")[0]!, vars);
  assert.match(out, /ferry\.db\n/);
  assert.match(out, /ferry_queue_depth/);

  // The fix: the partner is repaired (its URL answers 200 now), the Runbook's command enables it,
  // and the held postbacks reach the partner.
  await call("PATCH", `/v1/destinations/${disabled.id}`, { url: `${receiver.url}/ok/b` });
  out = await run(enable!, { ...vars, DST: disabled.id });
  assert.match(out, /"enabled": true/);
  await until(() => receiver.received.filter((r) => r.url === "/ok/b").length === 5, 15_000, () => "the held postbacks were not delivered");
  out = await run(why, { ...vars, DST: disabled.id });
  assert.match(out, /"held": 0/);
  assert.match(out, /"queue_depth": 0/);
});

test("scale-out: everything answers 503 while Redis is away; Redis restarted; the stats count each postback once", async (t) => {
  const so = await scaleOut("runbook", ADMIN_TOKEN);
  // A partner answering in 1.5 s, so that Redis can go while the worker waits for it.
  let requests = 0;
  const slow = createServer((req, res) => {
    requests++;
    req.resume();
    setTimeout(() => res.writeHead(200).end("ok"), 1500).unref();
  });
  await new Promise<void>((resolve) => slow.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => (slow.closeAllConnections(), slow.close(() => resolve()))));
  const env = so.env({ FERRY_REDIS_PREFIX: "ferry" }); // the Runbook's commands name the default prefix
  const api = await startServer("api", env);
  const worker = await startWorker(env);
  const call = (method: string, path: string, body?: unknown) => apiCall(api.url, ADMIN_TOKEN, method, path, body);
  const account = await call("POST", "/v1/accounts", { name: "partner" });
  const { port } = slow.address() as AddressInfo;
  const destination = await call("POST", "/v1/destinations", { account_id: account.id, url: `http://127.0.0.1:${port}/hook`, method: "POST" });
  await call("POST", `/v1/push?account_id=${account.id}`, Array.from({ length: 10 }, (_, n) => ({ n })));
  await until(() => requests === 10, 15_000, () => `the partner got ${requests} of 10`);

  await so.redis.stop(); // SIGTERM: with appendfsync always it keeps everything
  const vars = { FERRY_URL: api.url, FERRY_REDIS_URL: so.redis.url, FERRY_DATABASE_URL: so.database.url };
  let out = await run(blocks("Everything answers 503")[0]!, vars);
  assert.match(out, /^HTTP\/1\.1 503/m);
  assert.match(out, /"code":"not_ready".*"detail":"queue: /);
  assert.match(out, /healthz 200/);
  // The partner answers; the worker records the attempts in Postgres, but cannot settle them in
  // Redis, and tries again: twice at least, the case that counted them again in the stats.
  await until(() => (worker.stdout().match(/could not record attempts; backing off/g) ?? []).length >= 2, 15_000, () => "the worker did not back off twice");
  await so.redis.start();
  await until(async () => (await call("GET", `/v1/postbacks?destination_id=${destination.id}&state=delivered`)).data.length === 10, 20_000, () => "10 delivered");
  await until(() => /recording attempts again; resuming/.test(worker.stdout()), 10_000, () => "the worker did not resume");

  out = await run(blocks("Redis restarted")[0]!, vars);
  assert.match(out, /^\{"status":"ready"\}/);
  assert.match(out, /^aof_enabled:1\r?$/m);
  assert.match(out, /^loading:0\r?$/m);
  assert.match(out, /^0$/m, "nothing left queued");
  assert.match(out, new RegExp(LIBRARY_NAME));
  const stats = await call("GET", `/v1/destinations/${destination.id}/stats`);
  const delivered = stats.buckets.reduce((n: number, b: { delivered: number }) => n + b.delivered, 0);
  assert.equal(delivered, 10, "each postback counted once in the stats, however often its flush was retried");
});

test("embedded: a worker killed holding postbacks; the Runbook's query finds them, delivered again", async (t) => {
  // A partner answering in 1 s; a lease of 3 s so the killed process's postbacks come back soon.
  const slow = createServer((req, res) => {
    req.resume();
    setTimeout(() => res.writeHead(200).end("ok"), 1000).unref();
  });
  await new Promise<void>((resolve) => slow.listen(0, "127.0.0.1", resolve));
  const dir = tempDir("ferry-runbook-");
  const env = { FERRY_DATA_DIR: dir.path, FERRY_ADMIN_TOKEN: ADMIN_TOKEN, FERRY_TIMEOUT_MS: "1500", FERRY_LEASE_MS: "3000" };
  let ferry = await startServer("start", env);
  t.after(async () => {
    await ferry.stop();
    await new Promise<void>((resolve) => (slow.closeAllConnections(), slow.close(() => resolve())));
    dir.cleanup();
  });
  const { port } = slow.address() as AddressInfo;
  const pushed = await apiCall(ferry.url, ADMIN_TOKEN, "POST", "/ingest", {
    endpoint: { url: `http://127.0.0.1:${port}/hook`, method: "POST" },
    data: [1, 2, 3, 4].map((n) => ({ n })),
  });
  const ids: string[] = pushed.ids;
  assert.equal(ids.length, 4, `ingest answered ${JSON.stringify(pushed)}`);
  await until(async () => /ferry_postbacks_in_flight\{role="start"\} 4/.test(await (await fetch(`${ferry.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text()), 10_000, () => "4 in flight");
  ferry.signal("SIGKILL");
  await ferry.exited;
  ferry = await startServer("start", env); // what systemd's Restart=always does
  const vars = { FERRY_URL: ferry.url, FERRY_DATA_DIR: dir.path };
  const out = await run(blocks("A worker was killed")[0]!, vars);
  assert.match(out, /healthz 200/);
  assert.match(out, /^ferry_queue_depth\{state="waiting",role="start"\} 4$/m, "the killed process's postbacks wait for their lease");
  await until(async () => (await apiCall(ferry.url, ADMIN_TOKEN, "GET", `/v1/postbacks?state=delivered`)).data.length === 4, 15_000, () => "4 delivered after the lease");
  const query = blocks("A worker was killed").find((b) => b.includes("sqlite3"));
  assert.ok(query, "the Runbook has the SQLite query for a killed worker's postbacks");
  const found = await run(query, vars);
  for (const id of ids) assert.match(found, new RegExp(`^${id}\\|delivered\\|2\\|1$`, "m"), `${id} listed, delivered at its second attempt`);
});
