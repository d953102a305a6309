/**
 * Ordering under load, as real processes (issue 14): `ferry api` and two `ferry worker`s on one
 * Redis and one Postgres database, thousands of postbacks, and a partner that answers 500 to
 * about one first attempt in ten. With ordering on, each line (a destination with ordering
 * "destination"; each `{user}` of one with ordering "key") is received in the order it was
 * pushed, one request at a time: a failing head is retried before the next is sent, never
 * overtaken. Push order is enqueue order: each account pushes one request after the other. The same load
 * reorders a destination without ordering (else the test would prove nothing), and neither it
 * nor another account's destination waits for the lines.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import { apiCall, scaleOut } from "./support/scale-out.js";
import { startServer, startWorker, until, type FerryProcess } from "./support/processes.js";
import { startReceiver, type ReceivedRequest } from "../src/receiver.js";

const TOKEN = "ordering-redis-admin-token-0123456789";
/** How long the receiver takes to answer the destination-ordered line. */
const LINE_ANSWER_MS = 5;

const layout = await scaleOut("order", TOKEN);

/** About one postback in ten fails its first attempt: which ones, fixed by its id. */
function failsFirst(id: string): boolean {
  return createHash("sha256").update(id).digest()[0]! < 26;
}

const api = (url: string, method: string, path: string, body?: unknown) => apiCall(url, TOKEN, method, path, body);

/** How far a received sequence goes backwards: the pairs (previous, next) with next < previous. */
function backwards(ns: number[]): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 1; i < ns.length; i++) if (ns[i]! < ns[i - 1]!) out.push([ns[i - 1]!, ns[i]!]);
  return out;
}

function webhookId(r: ReceivedRequest): string {
  return String(r.headers["webhook-id"]);
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

test("two workers under load keep every line in order through retries, and other destinations do not wait for them", async (t) => {
  const firstSeen = new Set<string>();
  const failed = new Set<ReceivedRequest>();
  const receiver = await startReceiver({
    respond: (r) => {
      const id = webhookId(r);
      const first = !firstSeen.has(id);
      firstSeen.add(id);
      // The ordered line's answers take a while, so two of its requests in flight would overlap.
      const delayMs = new URL(r.url).pathname === "/line" ? LINE_ANSWER_MS : 0;
      if (!first || !failsFirst(id)) return { delayMs };
      failed.add(r);
      return { status: 500, delayMs };
    },
  });
  const settings = layout.env({
    FERRY_CONCURRENCY: "32",
    FERRY_RETRY_BASE_MS: "20",
    FERRY_LEASE_MS: "10000",
    FERRY_TIMEOUT_MS: "2000",
  });
  const procs: FerryProcess[] = [];
  try {
    const server = await startServer("api", settings);
    procs.push(server);
    procs.push(...(await Promise.all([startWorker(settings), startWorker(settings)])));

    const a = await api(server.url, "POST", "/v1/accounts", { name: "Lines" });
    const b = await api(server.url, "POST", "/v1/accounts", { name: "Bystander" });
    const destination = (account: string, path: string, extra: Record<string, unknown> = {}) =>
      api(server.url, "POST", "/v1/destinations", { account_id: account, url: `${receiver.url}/${path}`, max_attempts: 20, failure_threshold: 0, ...extra });
    await destination(a.id, "line?n={n}", { ordering: "destination" });
    await destination(a.id, "key?user={user}&n={n}", { ordering: "key", ordering_key: "{user}" });
    await destination(a.id, "free?n={n}");
    await destination(b.id, "other?n={n}");

    // Account A pushes in order (one push after the other, 50 objects each); B alongside.
    const objects = 600;
    const users = 8;
    const pushedAt = new Map<string, number>();
    const push = async (account: string, from: number, count: number) => {
      const data = Array.from({ length: count }, (_, i) => ({ n: from + i, user: `u${(from + i) % users}` }));
      const at = Date.now();
      const answer = await api(server.url, "POST", `/v1/push?account_id=${account}`, data);
      for (const p of answer.postbacks as { id: string }[]) pushedAt.set(p.id, at);
      return answer.postbacks.length as number;
    };
    const t0 = Date.now();
    let total = 0;
    const pushAll = async (account: string) => {
      for (let n = 0; n < objects; n += 50) {
        const queued = await push(account, n, 50);
        total += queued;
      }
    };
    await Promise.all([pushAll(a.id), pushAll(b.id)]);
    assert.equal(total, objects * 4);

    const delivered = () => receiver.requests.filter((r) => !failed.has(r));
    const ids = () => new Set(delivered().map(webhookId));
    const errors = () => procs.flatMap((p) => p.logs().filter((l) => l["level"] >= 50).map((l) => JSON.stringify(l).slice(0, 400)).slice(0, 3));
    await until(() => ids().size === total, 120_000, () => `${ids().size} of ${total} postbacks delivered; errors: ${errors().join("\n")}`);
    const drained = Date.now() - t0;

    const path = (r: ReceivedRequest) => new URL(r.url).pathname;
    const n = (r: ReceivedRequest) => Number(new URL(r.url).searchParams.get("n"));
    const received = (p: string, user?: string) =>
      receiver.requests.filter((r) => path(r) === p && (user === undefined || new URL(r.url).searchParams.get("user") === user)).map(n);

    // Every line, attempts and all, in the order pushed: retries repeat a number, never go back.
    const line = received("/line");
    assert.deepEqual(backwards(line), [], "the destination-ordered line went backwards");
    // One at a time: each request of the line arrives after the one before was answered.
    const arrivals = receiver.requests.filter((r) => path(r) === "/line").map((r) => r.receivedAt);
    const gaps = arrivals.slice(1).map((at, i) => at - arrivals[i]!);
    assert.ok(Math.min(...gaps) >= LINE_ANSWER_MS - 1, `two requests of the line ${Math.min(...gaps)} ms apart: sent before the first was answered`);
    assert.deepEqual([...new Set(line)], Array.from({ length: objects }, (_, i) => i), "each number, in order");
    for (let u = 0; u < users; u++) assert.deepEqual(backwards(received("/key", `u${u}`)), [], `the line of user u${u} went backwards`);
    assert.ok(new Set(received("/key")).size === objects);
    const failures = failed.size;
    assert.ok(failures > objects * 4 * 0.05, `only ${failures} first attempts failed: the lines were hardly tested`);

    // The same load reorders what is not ordered, so the lines above were kept in order by the queue.
    assert.ok(backwards(received("/free")).length > 0, "the unordered destination arrived in order too: this test proves nothing");

    // Other destinations do not wait for the lines: both are done well before the one-at-a-time line.
    const doneAt = (p: string) => Math.max(...receiver.requests.filter((r) => path(r) === p).map((r) => r.receivedAt));
    const lag = (p: string) => delivered().filter((r) => path(r) === p).map((r) => r.receivedAt - pushedAt.get(webhookId(r))!);
    t.diagnostic(
      `${total} postbacks (${failures} first attempts answered 500) drained in ${drained} ms; ` +
        `done after t0: line ${doneAt("/line") - t0} ms, keys ${doneAt("/key") - t0} ms, free ${doneAt("/free") - t0} ms, other account ${doneAt("/other") - t0} ms; ` +
        `push→delivery p99: free ${percentile(lag("/free"), 99)} ms, other ${percentile(lag("/other"), 99)} ms, line ${percentile(lag("/line"), 99)} ms`,
    );
    const half = t0 + (doneAt("/line") - t0) / 2;
    assert.ok(doneAt("/free") < half, "the unordered destination waited for the ordered line");
    assert.ok(doneAt("/other") < half, "another account's destination waited for the ordered line");

    // Nothing is left in the queue: every lane and line emptied.
    const client = new Redis(layout.redis.url);
    try {
      await until(async () => (await client.hlen("order1:i")) === 0, 10_000, () => "entries left in the queue");
      assert.deepEqual((await client.keys("order1:o:*")).length, 0, "no line left");
    } finally {
      client.disconnect();
    }
    for (const p of procs) assert.deepEqual(await p.stop(), { code: 0, signal: null }, p.stderr());
  } finally {
    for (const p of procs) p.signal("SIGKILL");
    await receiver.close();
  }
});
