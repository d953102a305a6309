/**
 * GET /metrics and the profiling routes through the real API (inject) over a real SQLite queue
 * and store, a real worker and a real receiver: who may read them, that the counters count what
 * was delivered, that labels stay bounded (route templates, the destination cap), and that the
 * profiles written are what Chrome DevTools and speedscope read. Nothing is mocked.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import type { LightMyRequestResponse } from "fastify";
import { ADMIN_TOKEN, drained, eventually, startPipeline, type Pipeline } from "./support/harness.js";
import { samples, total } from "./support/prometheus.js";
import { startReceiver } from "../src/receiver.js";

async function call(p: Pipeline, method: "GET" | "POST" | "PATCH", url: string, token: string | null = ADMIN_TOKEN, body?: unknown): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  return p.app.inject({ method, url, headers, ...(body === undefined ? {} : { payload: JSON.stringify(body) }) });
}

async function scrape(p: Pipeline): Promise<string> {
  const res = await call(p, "GET", "/metrics");
  assert.equal(res.statusCode, 200, res.body);
  return res.body;
}

/** An account, one of its tokens, and destinations at these URLs. */
async function tenant(p: Pipeline, urls: string[], settings: Record<string, unknown> = {}): Promise<{ id: string; token: string; destinations: string[] }> {
  const account = await call(p, "POST", "/v1/accounts", ADMIN_TOKEN, { name: "Acme" });
  assert.equal(account.statusCode, 201, account.body);
  const id = account.json().id as string;
  const token = await call(p, "POST", `/v1/accounts/${id}/tokens`, ADMIN_TOKEN);
  assert.equal(token.statusCode, 201, token.body);
  const destinations: string[] = [];
  for (const url of urls) {
    const d = await call(p, "POST", "/v1/destinations", ADMIN_TOKEN, { account_id: id, url, method: "POST", ...settings });
    assert.equal(d.statusCode, 201, d.body);
    destinations.push(d.json().id);
  }
  return { id, token: token.json().token, destinations };
}

function assertProblem(res: LightMyRequestResponse, status: number, code: string, field?: string): void {
  assert.equal(res.statusCode, status, res.body);
  assert.match(String(res.headers["content-type"]), /^application\/problem\+json/);
  assert.equal(res.json().code, code);
  if (field !== undefined) assert.equal(res.json().field, field);
}

test("/metrics needs the admin token: 401 without one, 403 with an account's, Prometheus text with the admin's", async () => {
  const p = await startPipeline({}, { worker: false });
  try {
    assertProblem(await call(p, "GET", "/metrics", null), 401, "missing_token");
    assertProblem(await call(p, "GET", "/metrics", "ferry_acct_not-a-real-token"), 401, "invalid_token");
    const { token } = await tenant(p, []);
    assertProblem(await call(p, "GET", "/metrics", token), 403, "admin_only");
    const res = await call(p, "GET", "/metrics");
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
    const names = new Set(res.body.split("\n").filter((l) => l.startsWith("# TYPE ")).map((l) => l.split(" ")[2]));
    assert.ok(names.size > 5, res.body);
    for (const name of names) assert.match(name!, /^ferry_/, "every metric is named ferry_…");
    for (const s of samples(res.body, "ferry_queue_depth")) assert.equal(s.labels["role"], "start");
  } finally {
    await p.stop();
  }
});

test("after N postbacks reach a real receiver, N are counted delivered and the latency histogram holds N", async () => {
  const receiver = await startReceiver();
  const p = await startPipeline();
  try {
    const n = 7;
    const data = Array.from({ length: n }, (_, i) => ({ n: i }));
    const res = await p.ingest({ endpoint: { method: "POST", url: `${receiver.url}/hook` }, data });
    assert.equal(res.status, 202);
    await receiver.waitFor(n);
    await drained(p);
    const text = await scrape(p);
    assert.equal(total(text, "ferry_attempts_total", { outcome: "delivered", destination: "none" }), n);
    assert.equal(total(text, "ferry_attempts_total", { outcome: "retry" }), 0);
    assert.equal(total(text, "ferry_attempt_duration_seconds_count", { destination: "none" }), n);
    assert.ok(total(text, "ferry_attempt_duration_seconds_sum") > 0);
    assert.equal(total(text, "ferry_postbacks_ingested_total", { route: "ingest" }), n);
    assert.equal(total(text, "ferry_postbacks_ingested_total", { route: "push" }), 0, "zero series are there from the start");
    assert.equal(total(text, "ferry_queue_depth", { state: "ready" }), 0);
    assert.equal(total(text, "ferry_queue_oldest_due_age_seconds"), 0);
    assert.equal(total(text, "ferry_postbacks_in_flight"), 0);
    assert.equal(total(text, "ferry_http_request_duration_seconds_count", { method: "POST", route: "/ingest", status: "2xx" }), 1);
  } finally {
    await p.stop();
    await receiver.close();
  }
});

test("route labels are route templates, never ids; unmatched paths share one label", async () => {
  const p = await startPipeline({}, { worker: false });
  try {
    const { body } = await p.ingest({ endpoint: { url: "http://127.0.0.1:9/x" }, data: [{ a: 1 }] });
    const id = body.ids[0] as string;
    assert.equal((await call(p, "GET", `/v1/postbacks/${id}`)).statusCode, 200);
    assert.equal((await call(p, "GET", "/v1/postbacks/pb_01ZZZZZZZZZZZZZZZZZZZZZZZZ")).statusCode, 404);
    assert.equal((await call(p, "GET", "/no/such/path/12345")).statusCode, 404);
    const text = await scrape(p);
    assert.ok(!text.includes(id), "no postback id in any label");
    assert.ok(!text.includes("12345"), "no raw URL in any label");
    assert.equal(total(text, "ferry_http_request_duration_seconds_count", { route: "/v1/postbacks/:id", status: "2xx" }), 1);
    assert.equal(total(text, "ferry_http_request_duration_seconds_count", { route: "/v1/postbacks/:id", status: "4xx" }), 1);
    assert.equal(total(text, "ferry_http_request_duration_seconds_count", { route: "unmatched", status: "4xx" }), 1);
  } finally {
    await p.stop();
  }
});

test("events received are counted stored or refused, and the postbacks they fan out to are counted as fanout", async () => {
  const receiver = await startReceiver();
  const p = await startPipeline();
  try {
    const { id } = await tenant(p, [`${receiver.url}/events`]);
    const event = { session_id: "s-1", category: "party", name: "AppName", data: { host: "www.party.com" }, timestamp: "2021-09-26T09:15:27Z" };
    const res = await call(p, "POST", `/v1/events?account_id=${id}`, ADMIN_TOKEN, [event, { session_id: "", category: "x" }]);
    assert.equal(res.statusCode, 202, res.body);
    const text: string = await eventually(async () => {
      const now = await scrape(p);
      return total(now, "ferry_postbacks_ingested_total", { route: "fanout" }) === 1 ? now : "";
    }, 10_000, "the event's postback counted as fanout");
    assert.equal(total(text, "ferry_events_received_total", { result: "stored" }), 1);
    assert.equal(total(text, "ferry_events_received_total", { result: "refused" }), 1);
    await receiver.waitFor(1);
  } finally {
    await p.stop();
    await receiver.close();
  }
});

test("queue gauges: a postback nobody delivers is ready, and the oldest due one ages", async () => {
  const p = await startPipeline({}, { worker: false });
  try {
    await p.ingest({ endpoint: { url: "http://127.0.0.1:9/x" }, data: [{ a: 1 }, { a: 2 }] });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const text = await scrape(p);
    assert.equal(total(text, "ferry_queue_depth", { state: "ready" }), 2);
    assert.equal(total(text, "ferry_queue_depth", { state: "waiting" }), 0);
    const age = total(text, "ferry_queue_oldest_due_age_seconds");
    assert.ok(age >= 0.04 && age < 30, `age ${age}`);
  } finally {
    await p.stop();
  }
});

test("per-destination labels stop at FERRY_METRICS_MAX_DESTINATIONS: with a cap of 2, the third destination is 'other'", async () => {
  const receiver = await startReceiver();
  const p = await startPipeline({ metrics_max_destinations: 2 });
  try {
    const { id, destinations } = await tenant(p, [`${receiver.url}/a`, `${receiver.url}/b`, `${receiver.url}/c`]);
    const pushed = await call(p, "POST", `/v1/push?account_id=${id}`, ADMIN_TOKEN, { order: 1 });
    assert.equal(pushed.statusCode, 202, pushed.body);
    await receiver.waitFor(3);
    await drained(p);
    const text = await scrape(p);
    const delivered = samples(text, "ferry_attempts_total", { outcome: "delivered" });
    const labels = delivered.map((s) => s.labels["destination"]!).sort();
    assert.equal(labels.length, 3, text);
    assert.ok(labels.includes("other"), `labels ${labels}`);
    assert.equal(labels.filter((l) => destinations.includes(l)).length, 2);
    assert.ok(delivered.every((s) => s.value === 1));
    assert.equal(samples(text, "ferry_attempt_duration_seconds_count").length, 3, "the histogram is capped the same way");
    assert.equal(total(text, "ferry_postbacks_ingested_total", { route: "push" }), 3);

    // Disabled destinations are read from the store.
    assert.equal(total(text, "ferry_destinations_disabled"), 0);
    const off = await call(p, "PATCH", `/v1/destinations/${destinations[0]}`, ADMIN_TOKEN, { enabled: false });
    assert.equal(off.statusCode, 200, off.body);
    assert.equal(total(await scrape(p), "ferry_destinations_disabled"), 1);
  } finally {
    await p.stop();
    await receiver.close();
  }
});

test("retried, dead and held postbacks are counted by outcome", async () => {
  const receiver = await startReceiver({ respond: () => ({ status: 500 }) });
  const p = await startPipeline({ failure_threshold: 0 });
  try {
    const res = await p.ingest({ endpoint: { method: "POST", url: `${receiver.url}/x`, max_attempts: 2 }, data: [{ a: 1 }] });
    assert.equal(res.status, 202);
    await receiver.waitFor(2);
    await drained(p);
    const text = await scrape(p);
    assert.equal(total(text, "ferry_attempts_total", { outcome: "retry" }), 1);
    assert.equal(total(text, "ferry_attempts_total", { outcome: "dead" }), 1);
    assert.equal(total(text, "ferry_attempt_duration_seconds_count"), 2);

    // A destination that endpoint health disables: its postback's retry is held, not attempted.
    const { id, destinations } = await tenant(p, [`${receiver.url}/held`], { failure_threshold: 1 });
    assert.equal((await call(p, "POST", `/v1/push?account_id=${id}`, ADMIN_TOKEN, { order: 1 })).statusCode, 202);
    const held: string = await eventually(async () => {
      const now = await scrape(p);
      return total(now, "ferry_attempts_total", { outcome: "held", destination: destinations[0]! }) === 1 ? now : "";
    }, 10_000, "a held postback counted");
    assert.equal(total(held, "ferry_attempts_total", { outcome: "retry", destination: destinations[0]! }), 1);
    assert.equal(total(held, "ferry_attempt_duration_seconds_count"), 3, "a held postback is no attempt");
    assert.equal(total(held, "ferry_destinations_auto_disabled_total"), 1);
    assert.equal(total(held, "ferry_destinations_disabled"), 1);
  } finally {
    await p.stop();
    await receiver.close();
  }
});

test("a CPU profile is written to the data dir as JSON with nodes; one at a time; a heap snapshot is written too", async () => {
  const p = await startPipeline({}, { worker: false });
  try {
    const profiling = call(p, "POST", "/v1/admin/profile?seconds=1");
    // Asked while the profile runs: refused, not queued behind it.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const busy = await call(p, "POST", "/v1/admin/heap-snapshot");
    assertProblem(busy, 409, "profile_running");
    const res = await profiling;
    assert.equal(res.statusCode, 200, res.body);
    const { path, seconds } = res.json();
    assert.equal(seconds, 1);
    assert.ok(path.startsWith(`${p.config.data_dir}/profiles/cpu-`) && path.endsWith(".cpuprofile"), path);
    const profile = JSON.parse(readFileSync(path, "utf8"));
    assert.ok(Array.isArray(profile.nodes) && profile.nodes.length > 0, "a .cpuprofile has nodes");
    assert.ok(profile.endTime > profile.startTime);

    const heap = await call(p, "POST", "/v1/admin/heap-snapshot");
    assert.equal(heap.statusCode, 200, heap.body);
    const heapPath = heap.json().path as string;
    assert.ok(heapPath.startsWith(`${p.config.data_dir}/profiles/heap-`) && heapPath.endsWith(".heapsnapshot"), heapPath);
    assert.ok(statSync(heapPath).size > 1000, "the snapshot is not empty");
  } finally {
    await p.stop();
  }
});

test("closing the API ends a CPU profile in progress early: it is written and answered at once", async () => {
  const p = await startPipeline({}, { worker: false });
  try {
    const profiling = call(p, "POST", "/v1/admin/profile?seconds=120");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const t0 = Date.now();
    await p.app.close();
    const res = await profiling;
    assert.ok(Date.now() - t0 < 5_000, "not kept waiting for the profile's seconds");
    assert.equal(res.statusCode, 200, res.body);
    assert.ok(Array.isArray(JSON.parse(readFileSync(res.json().path, "utf8")).nodes));
  } finally {
    await p.stop();
  }
});

test("profiling is admin-only, and seconds must be a whole number from 1 to 120 (422 invalid_query)", async () => {
  const p = await startPipeline({}, { worker: false });
  try {
    for (const bad of ["0", "121", "abc", "1.5", "-1", "", "10&seconds=20"]) {
      assertProblem(await call(p, "POST", `/v1/admin/profile?seconds=${bad}`), 422, "invalid_query", "seconds");
    }
    const { token } = await tenant(p, []);
    assertProblem(await call(p, "POST", "/v1/admin/profile?seconds=1", token), 403, "admin_only");
    assertProblem(await call(p, "POST", "/v1/admin/heap-snapshot", token), 403, "admin_only");
    assertProblem(await call(p, "POST", "/v1/admin/profile?seconds=1", null), 401, "missing_token");
  } finally {
    await p.stop();
  }
});
