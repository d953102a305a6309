/**
 * ferry.eventSender() against a real Ferry process: batching by size and time, a Ferry killed
 * with SIGKILL and restarted on the same data dir while events stream in (every event stored
 * exactly once, none lost), the memory bound (block or drop, counted), per-event rejections,
 * and the retry rules (Retry-After honoured; a 4xx other than 408/409/429 never retried).
 */
import { after, before, test } from "node:test";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import assert from "node:assert/strict";
import { Ferry, type Event, type EventInput, type Rejection } from "@ferry/client";
import { tempDir } from "./support/harness.js";
import { freePort, killAll, startServer, type ServerProcess } from "./support/processes.js";
import { startReceiver, type Reply } from "../src/receiver.js";

const TOKEN = "client-sender-admin-token-0123456789";
const dir = tempDir("ferry-client-sender-");
let ferry: ServerProcess;
let port: number;
let admin: Ferry;

function env(): Record<string, string> {
  return { FERRY_DATA_DIR: dir.path, FERRY_ADMIN_TOKEN: TOKEN, FERRY_PORT: String(port) };
}

before(async () => {
  port = await freePort();
  ferry = await startServer("api", env());
  admin = new Ferry({ url: ferry.url, token: TOKEN });
});

after(async () => {
  await killAll();
  dir.cleanup();
});

/** A client acting as a new account, and the fetch calls it made: [ms since start, method path, status or error]. */
async function account(name: string): Promise<{ client: Ferry; calls: Array<[number, string, number | string]> }> {
  const a = await admin.accounts.create({ name });
  const token = (await admin.tokens.create(a.id)).token;
  const calls: Array<[number, string, number | string]> = [];
  const t0 = Date.now();
  const client = new Ferry({
    url: ferry.url,
    token,
    timeoutMs: 5000,
    fetch: async (request) => {
      const what = `${request.method} ${new URL(request.url).pathname}`;
      try {
        const res = await fetch(request);
        calls.push([Date.now() - t0, what, res.status]);
        return res;
      } catch (err) {
        calls.push([Date.now() - t0, what, "network"]);
        throw err;
      }
    },
  });
  return { client, calls };
}

function event(session: string, i: number): EventInput {
  const ms = String(i % 1000).padStart(3, "0");
  return { session_id: session, category: "load", name: "Sender", data: { i }, timestamp: `2021-09-26T10:${String(Math.floor(i / 60000) % 60).padStart(2, "0")}:${String(Math.floor(i / 1000) % 60).padStart(2, "0")}.${ms}Z` };
}

async function stored(client: Ferry, session: string): Promise<Event[]> {
  const all: Event[] = [];
  for await (const e of client.events.queryAll({ session_id: session, limit: 1000 })) all.push(e);
  return all;
}

test("small sends go out in batches of maxBatch, and a lone event within maxDelayMs", async () => {
  const { client, calls } = await account("Batches");
  const sender = client.eventSender({ maxBatch: 10, maxDelayMs: 60_000 });
  for (let i = 0; i < 25; i++) await sender.send(event("batches", i));
  // Two full batches went out by size; the last 5 wait for their time or a flush.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(calls.length, 2);
  assert.equal(sender.stats().buffered, 5);
  const stats = await sender.flush();
  assert.equal(stats.acknowledged, 25);
  assert.equal(stats.requests, 3);
  assert.equal((await stored(client, "batches")).length, 25);

  const timed = client.eventSender({ maxBatch: 100, maxDelayMs: 100 });
  const t0 = Date.now();
  await timed.send(event("timed", 0));
  const deadline = Date.now() + 5000;
  while (timed.stats().acknowledged === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(timed.stats().acknowledged, 1, "sent without a flush");
  assert.ok(Date.now() - t0 >= 90, "after maxDelayMs, not at once");
  await timed.close();
  await sender.close();
  await assert.rejects(sender.send(event("batches", 99)), { name: "EventSenderClosedError" });
});

test("a Ferry SIGKILLed and restarted on the same data dir while the sender runs: each event stored exactly once", { timeout: 120_000 }, async (t) => {
  const { client, calls } = await account("Kill");
  const rejections: Rejection[] = [];
  const sender = client.eventSender({ maxBatch: 50, maxDelayMs: 5, maxBuffered: 500, backoffBaseMs: 50, backoffMaxMs: 500, maxAttempts: 1000, onRejected: (r) => rejections.push(r) });
  const total = 4000;
  const ids: string[] = [];
  const produce = (async () => {
    for (let i = 0; i < total; i++) {
      const e = { ...event("kill", i), id: `kill-${i}` };
      ids.push(e.id);
      assert.equal(await sender.send(e), true);
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
  })();
  // Kill while batches are in flight, twice; restart on the same port and data dir.
  for (const threshold of [800, 2200]) {
    while (sender.stats().acknowledged < threshold) await new Promise((r) => setTimeout(r, 2));
    ferry.signal("SIGKILL");
    await ferry.exited;
    await new Promise((r) => setTimeout(r, 300));
    ferry = await startServer("api", env());
  }
  await produce;
  const stats = await sender.close();
  assert.deepEqual(rejections, []);
  assert.equal(stats.failed, 0);
  assert.equal(stats.dropped, 0);
  assert.equal(stats.acknowledged, total, JSON.stringify(stats));
  assert.equal(stats.created + stats.duplicates, total);
  assert.ok(stats.retries > 0, "the kills made the sender retry: " + JSON.stringify(stats));
  assert.ok(calls.some((c) => c[2] === "network"), "the sender saw Ferry gone");
  t.diagnostic(`stats ${JSON.stringify(stats)}`);

  const events = await stored(client, "kill");
  const clientIds = events.map((e) => e.client_id);
  assert.equal(new Set(clientIds).size, clientIds.length, "nothing stored twice");
  assert.deepEqual([...clientIds].sort(), [...ids].sort(), "every event stored");
});

test("the buffer is bounded: drop mode refuses and counts, block mode waits for room", async () => {
  const { client } = await account("Bound");
  const dropper = client.eventSender({ maxBatch: 5, maxDelayMs: 0, maxBuffered: 10, onFull: "drop" });
  const results = await Promise.all(Array.from({ length: 100 }, (_, i) => dropper.send(event("drop", i))));
  const accepted = results.filter(Boolean).length;
  assert.equal(accepted, 10, "as many as the bound, then drops");
  const dropStats = await dropper.close();
  assert.equal(dropStats.dropped, 90);
  assert.equal(dropStats.acknowledged, 10);
  assert.equal((await stored(client, "drop")).length, 10);

  const blocker = client.eventSender({ maxBatch: 5, maxDelayMs: 0, maxBuffered: 10, onFull: "block" });
  let peak = 0;
  const sends = Array.from({ length: 60 }, async (_, i) => {
    await blocker.send(event("block", i));
    const s = blocker.stats();
    peak = Math.max(peak, s.buffered + s.inFlight);
  });
  await Promise.all(sends);
  const blockStats = await blocker.close();
  assert.ok(peak <= 10, `held at most 10 at once; peak ${peak}`);
  assert.equal(blockStats.dropped, 0);
  assert.equal(blockStats.acknowledged, 60);
  assert.equal((await stored(client, "block")).length, 60);
});

test("per-event rejections reach onRejected and stats; the valid events of the batch are stored", async () => {
  const { client } = await account("Rejections");
  const rejections: Rejection[] = [];
  const sender = client.eventSender({ maxBatch: 10, maxDelayMs: 0, onRejected: (r) => rejections.push(r) });
  await sender.send(event("rej", 1));
  await sender.send({ ...event("rej", 2), timestamp: "2021-09-31 10:00:00", id: "bad-day" });
  await sender.send({ ...event("rej", 3), name: "" });
  const stats = await sender.close();
  assert.equal(stats.acknowledged, 1);
  assert.equal(stats.rejected, 2);
  assert.deepEqual(
    rejections.map((r) => [r.event.data?.["i"], r.errors?.[0]?.code]).sort(),
    [
      [2, "invalid_timestamp"],
      [3, "invalid_field"],
    ],
  );
  assert.equal(rejections[0]!.event.id, "bad-day");
  assert.equal((await stored(client, "rej")).length, 1);
});

test("a 4xx other than 408/409/429 fails the batch at once, without a retry, and is reported", async () => {
  const owner = await admin.accounts.create({ name: "Revoked" });
  const revoked = await admin.tokens.create(owner.id);
  await admin.tokens.revoke(owner.id, revoked.id);
  const rejections: Rejection[] = [];
  const sender = new Ferry({ url: ferry.url, token: revoked.token }).eventSender({ maxDelayMs: 0, onRejected: (r) => rejections.push(r) });
  await sender.send(event("final", 1));
  const stats = await sender.close();
  assert.equal(stats.requests, 1);
  assert.equal(stats.retries, 0);
  assert.equal(stats.failed, 1);
  assert.equal(rejections[0]?.error?.code, "token_revoked");
  assert.equal(rejections[0]?.error?.status, 401);
});

test("Retry-After is honoured: Ferry's 503 shutting_down (Retry-After: 1) and a 429 with an HTTP date", async () => {
  // A server that answers as Ferry does while it shuts down, then as a Ferry that stores the
  // batch: the sender must wait the second it was told, not its own 50 ms backoff.
  const problem = (status: number, code: string) => JSON.stringify({ type: `urn:ferry:error:${code}`, title: code, status, code, detail: "Ferry is shutting down; send the request again shortly." });
  const stub = await startReceiver({
    respond: (request, n): Reply => {
      if (n === 0) return { status: 503, headers: { "content-type": "application/problem+json", "retry-after": "1", connection: "close" }, body: problem(503, "shutting_down") };
      if (n === 1) return { status: 429, headers: { "content-type": "application/problem+json", "retry-after": new Date(Date.now() + 2000).toUTCString() }, body: problem(429, "rate_limited") };
      const events = JSON.parse(request.body) as unknown[];
      return { status: 201, headers: { "content-type": "application/json" }, body: JSON.stringify({ events: events.map((_, index) => ({ index, id: `evt_${index}`, created: true })) }) };
    },
  });
  try {
    const sender = new Ferry({ url: stub.url, token: "t" }).eventSender({ maxDelayMs: 0, backoffBaseMs: 50, backoffMaxMs: 50 });
    await sender.send(event("retry-after", 1));
    const stats = await sender.close();
    assert.equal(stats.acknowledged, 1);
    assert.equal(stats.retries, 2);
    const [a, b, c] = stub.requests.map((r) => r.receivedAt);
    assert.ok(b! - a! >= 950, `waited ${b! - a!} ms after Retry-After: 1`);
    // HTTP dates have whole seconds: the wait is at least 1 s of the 2 asked.
    assert.ok(c! - b! >= 1000, `waited ${c! - b!} ms after a Retry-After date 2 s ahead`);
    // Each retry carried the same client ids: a resend is stored once.
    const sent = stub.requests.map((r) => (JSON.parse(r.body) as Array<{ id: string }>)[0]!.id);
    assert.equal(new Set(sent).size, 1);
  } finally {
    await stub.close();
  }
});

test("an answer lost after Ferry stored the batch: the resend is answered created false, and nothing is stored twice", async () => {
  const a = await admin.accounts.create({ name: "Lost answer" });
  const token = (await admin.tokens.create(a.id)).token;
  // In front of the real Ferry: forwards every request, but hangs up instead of passing on
  // Ferry's answer to the first POST /v1/events, as a crash right after the commit would.
  let hungUp = 0;
  const proxy = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const answer = await fetch(`${ferry.url}${req.url}`, { method: req.method, headers: req.headers as Record<string, string>, body: chunks.length ? Buffer.concat(chunks) : undefined });
    const body = Buffer.from(await answer.arrayBuffer());
    if (req.method === "POST" && req.url?.startsWith("/v1/events") && hungUp++ === 0) return req.socket.destroy();
    res.writeHead(answer.status, { "content-type": answer.headers.get("content-type") ?? "application/json" }).end(body);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  try {
    const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const sender = new Ferry({ url, token }).eventSender({ maxBatch: 20, maxDelayMs: 60_000, backoffBaseMs: 10 });
    for (let i = 0; i < 20; i++) await sender.send(event("lost", i));
    const stats = await sender.close();
    assert.deepEqual([stats.requests, stats.retries, stats.acknowledged], [2, 1, 20], "one batch, sent twice");
    assert.equal(stats.duplicates, 20, "the resend found every event stored: " + JSON.stringify(stats));
    const client = new Ferry({ url: ferry.url, token });
    const events = await stored(client, "lost");
    assert.equal(events.length, 20);
    assert.equal(new Set(events.map((e) => e.client_id)).size, 20);
  } finally {
    await new Promise((resolve) => proxy.close(resolve));
  }
});
