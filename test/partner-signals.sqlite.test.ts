/**
 * What a partner's answers ask of Ferry (issue 14), end to end on the embedded default (the
 * API and a real Worker on a real SQLite queue and store) with real HTTP receivers:
 * adaptive pacing when it is overloaded, a Retry-After that pauses its whole destination,
 * 410 Gone that disables it, a redirect that is never followed, and answers that try to make
 * a worker hang or grow (huge headers, an endless body).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { AUTH, drained, eventually, startPipeline, type Pipeline } from "./support/harness.js";
import { account, call, ok } from "./support/api.js";
import { total } from "./support/prometheus.js";
import { startReceiver, type Reply } from "../src/receiver.js";
import { GONE_HELD } from "../src/delivery/outcome.js";

/** A receiver that tracks how many requests it is answering at once. */
async function pacedReceiver(answer: () => Reply) {
  let active = 0;
  const peaks: Array<{ at: number; active: number }> = [];
  const receiver = await startReceiver({
    record: true,
    respond: () => {
      const reply = answer();
      active++;
      peaks.push({ at: Date.now(), active });
      setTimeout(() => active--, reply.delayMs ?? 0);
      return reply;
    },
  });
  /** The most requests answered at once among those that arrived in [from, to). */
  const peak = (from: number, to = Infinity) => Math.max(0, ...peaks.filter((p) => p.at >= from && p.at < to).map((p) => p.active));
  return { receiver, peak };
}

async function destination(p: Pipeline, auth: Record<string, string>, fields: Record<string, unknown>): Promise<{ id: string }> {
  // Endpoint health off: these partners fail on purpose, and must not be disabled for it.
  return ok(await call(p, "POST", "/v1/destinations", { method: "POST", failure_threshold: 1_000_000, ...fields }, auth), 201, "create destination");
}

async function push(p: Pipeline, auth: Record<string, string>, n: number): Promise<string[]> {
  const body = ok(await call(p, "POST", "/v1/push", Array.from({ length: n }, (_, i) => ({ i })), auth), 202, "push");
  return body.postbacks.map((x: { id: string }) => x.id);
}

async function metricsText(p: Pipeline): Promise<string> {
  return (await p.app.inject({ method: "GET", url: "/metrics", headers: AUTH })).body;
}

test("adaptive pacing: a partner answering 503 soon holds one request at a time, not 8; once it recovers it is given more step by step", async (t) => {
  let down = true;
  const { receiver, peak } = await pacedReceiver(() => (down ? { status: 503, delayMs: 50 } : { status: 200, delayMs: 50 }));
  const p = await startPipeline({ concurrency: 64, origin_concurrency: 8, max_attempts: 1000, retry_base_ms: 20, retry_max_delay_ms: 100 });
  try {
    const { auth } = await account(p);
    await destination(p, auth, { url: `${receiver.url}/hook` });
    const t0 = Date.now();
    await push(p, auth, 60);
    await eventually(() => receiver.count() >= 40, 10_000, "40 attempts while it is down");
    const downFor = Date.now() - t0;
    // The first round goes out at the full 8 (nothing is known against the partner yet).
    assert.ok(peak(t0) >= 4, `first round: ${peak(t0)} at once`);
    assert.ok(peak(t0 + 500) <= 2, `after the first 503s at most 2 at once; got ${peak(t0 + 500)}`);
    const text = await metricsText(p);
    assert.ok(total(text, "ferry_pacing_decreases_total", { scope: "origin", signal: "throttled" }) >= 3, "origin 8 -> 4 -> 2 -> 1");
    assert.ok(total(text, "ferry_pacing_decreases_total", { scope: "destination", signal: "throttled" }) >= 3, "destination 8 -> 4 -> 2 -> 1");
    assert.equal(total(text, "ferry_pacing_below_full", { scope: "origin" }), 1);
    assert.equal(total(text, "ferry_pacing_below_full", { scope: "destination" }), 1);

    const up = Date.now();
    down = false;
    await drained(p);
    const recovered = peak(up);
    assert.ok(recovered >= 3, `recovering: grew to ${recovered} at once`);
    // Not stampeded: the first requests after it recovered went out one or two at a time.
    const firstAfter = receiver.requests.filter((r) => r.receivedAt >= up).slice(0, 2);
    assert.ok(peak(up, (firstAfter[1]?.receivedAt ?? up) + 1) <= 2, "the first requests after recovery go one or two at a time");
    t.diagnostic(`peak requests at once: first round ${peak(t0)}, while down (after 500 ms) ${peak(t0 + 500, up)}, after recovery ${recovered}; ${downFor} ms down`);
  } finally {
    await p.stop();
    await receiver.close();
  }
});

test("Retry-After pauses the whole destination: nothing is sent until then, the waiting postbacks are not counted as attempts, and the pause shows in its view", async (t) => {
  let first = true;
  const receiver = await startReceiver({
    respond: () => {
      if (!first) return { status: 200 };
      first = false;
      return { status: 429, headers: { "retry-after": "2" } };
    },
  });
  const p = await startPipeline({ max_attempts: 10, retry_base_ms: 20, retry_max_delay_ms: 10_000 });
  try {
    const { auth } = await account(p);
    // One at a time: the others wait in the destination's line when the 429 comes.
    const d = await destination(p, auth, { url: `${receiver.url}/hook`, concurrency: 1 });
    const ids = await push(p, auth, 10);
    await receiver.waitFor(1, 5000);
    const pausedAt = receiver.requests[0]!.receivedAt;
    const view = await eventually(async () => {
      const v = ok(await call(p, "GET", `/v1/destinations/${d.id}`, undefined, auth), 200, "view");
      return v.paused_until ? v : undefined;
    }, 2000, "paused_until in the destination's view");
    assert.equal(view.pause_reason, "http_429 with Retry-After: 2");
    const until = Date.parse(view.paused_until);
    assert.ok(until >= pausedAt + 1900 && until <= pausedAt + 2500, `paused until ${until - pausedAt} ms after the 429`);
    await receiver.waitFor(11, 10_000);
    await drained(p);
    const later = receiver.requests.slice(1);
    assert.ok(later.every((r) => r.receivedAt >= until - 5), `nothing sent before the pause ended: first at ${later[0]!.receivedAt - pausedAt} ms`);
    let twice = 0;
    for (const id of ids) {
      const rec = await p.backends.stores.postbacks.getPostback(id);
      assert.equal(rec?.state, "delivered", id);
      if (rec!.attempts.length === 2) twice++;
      else assert.equal(rec!.attempts.length, 1, "a postback that waited out the pause made one attempt");
    }
    assert.equal(twice, 1, "only the postback that got the 429 has two attempts");
    t.diagnostic(`Retry-After: 2 → next request ${later[0]!.receivedAt - pausedAt} ms after the 429; ${ids.length + 1} attempts for ${ids.length} postbacks`);
    assert.ok(total(await metricsText(p), "ferry_destination_pauses_total") >= 1);
  } finally {
    await p.stop();
    await receiver.close();
  }
});

test("a Retry-After that is garbage, negative or a date past pauses nothing; a huge one is capped at retry_max_delay_ms", async () => {
  const values = ["soon", "-5", "Wed, 21 Oct 2015 07:28:00 GMT", "999999999999999999999"];
  let n = 0;
  const receiver = await startReceiver({ respond: () => (n < values.length ? { status: 503, headers: { "retry-after": values[n++]! } } : { status: 200 }) });
  const p = await startPipeline({ max_attempts: 10, retry_base_ms: 20, retry_max_delay_ms: 1_500 });
  try {
    const { auth } = await account(p);
    const d = await destination(p, auth, { url: `${receiver.url}/hook`, concurrency: 1 });
    const [id] = await push(p, auth, 1);
    await eventually(async () => (await p.backends.stores.postbacks.getPostback(id!))?.state === "delivered", 10_000, "delivered");
    const at = receiver.requests.map((r) => r.receivedAt);
    // Three unusable values: retried after the short backoff, no pause between.
    assert.ok(at[3]! - at[0]! < 1_000, `three unusable Retry-After values: ${at.map((t) => t - at[0]!)}`);
    // The huge one paused the destination 1.5 s (capped), then it went on.
    assert.ok(at[4]! - at[3]! >= 1_400 && at[4]! - at[3]! < 3_000, `capped pause: ${at[4]! - at[3]!} ms`);
    const stored = await p.backends.stores.accounts.getDestination(d.id);
    assert.ok(stored!.pausedUntil! - at[3]! <= 1_600, "the stored pause is capped too");
  } finally {
    await p.stop();
    await receiver.close();
  }
});

test("410 Gone disables the destination at once (reason gone), holds what it is owed, the 410'd postback too; enabled again, they are delivered", async () => {
  let gone = true;
  const receiver = await startReceiver({ respond: () => (gone ? { status: 410, body: "no such hook" } : { status: 200 }) });
  const p = await startPipeline({ max_attempts: 10 });
  try {
    const { auth } = await account(p);
    const d = await destination(p, auth, { url: `${receiver.url}/hook`, concurrency: 1 });
    const ids = await push(p, auth, 5);
    await eventually(async () => (await p.backends.stores.accounts.getDestination(d.id))?.enabled === false, 5000, "disabled");
    await drained(p);
    const view = ok(await call(p, "GET", `/v1/destinations/${d.id}`, undefined, auth), 200, "view");
    assert.equal(view.enabled, false);
    assert.equal(view.disabled_reason, "gone");
    assert.equal(receiver.count(), 1, "nothing more was sent after the 410 (concurrency 1: the others waited for the slot)");
    const held = await p.backends.queue.listQueued({ held: true, destinationIds: [d.id], limit: 10 });
    assert.equal(held.length, 5, "all five held, the 410'd one too");
    const answered = (await Promise.all(ids.map((id) => p.backends.stores.postbacks.getPostback(id)))).filter((r) => r !== undefined && r.attempts.length > 0);
    assert.ok(answered.length >= 1);
    for (const rec of answered) {
      assert.equal(rec!.state, "failed", "owed, not dead");
      assert.equal(rec!.attempts[0]!.statusCode, 410);
      assert.equal(rec!.reason, `http_410; ${GONE_HELD}`);
    }
    gone = false;
    ok(await call(p, "PATCH", `/v1/destinations/${d.id}`, { enabled: true }, auth), 200, "enable");
    await eventually(async () => (await Promise.all(ids.map((id) => p.backends.stores.postbacks.getPostback(id)))).every((r) => r?.state === "delivered"), 10_000, "all delivered");
  } finally {
    await p.stop();
    await receiver.close();
  }
});

test("410 from several postbacks in flight at once disables the destination once, counted once", async () => {
  // All three are sent before the first answer, and answered 200 ms apart: three flushes,
  // each with a 410 for the destination.
  let n = 0;
  const receiver = await startReceiver({ respond: () => ({ status: 410, delayMs: 50 + 200 * n++ }) });
  const p = await startPipeline({ max_attempts: 10 });
  try {
    const { auth } = await account(p);
    const d = await destination(p, auth, { url: `${receiver.url}/hook`, concurrency: 3 });
    await push(p, auth, 3);
    await eventually(async () => (await p.backends.stores.accounts.getDestination(d.id))?.enabled === false, 5000, "disabled");
    await drained(p);
    assert.equal(receiver.count(), 3, "all three were sent before the first 410 came back");
    assert.equal(p.worker!.counts.gone, 1, "one destination disabled, counted once");
    assert.equal((await p.backends.stores.accounts.getDestination(d.id))?.disabledReason, "gone");
  } finally {
    await p.stop();
    await receiver.close();
  }
});

test("a 3xx is not followed (not even to a public-looking or private address): the attempt names the status and the Location", async () => {
  const target = await startReceiver();
  const receiver = await startReceiver({ respond: () => ({ status: 302, headers: { location: `${target.url}/inside` } }) });
  const p = await startPipeline({ max_attempts: 3 });
  try {
    const { auth } = await account(p);
    await destination(p, auth, { url: `${receiver.url}/hook` });
    const [id] = await push(p, auth, 1);
    const rec = (await eventually(async () => {
      const r = await p.backends.stores.postbacks.getPostback(id!);
      return r?.state === "dead" ? r : undefined;
    }, 5000, "dead"))!;
    assert.equal(rec.reason, `http_302; redirect to ${target.url}/inside not followed`);
    assert.equal(rec.attempts[0]!.statusCode, 302);
    assert.equal(rec.attempts[0]!.errorMessage, `redirect to ${target.url}/inside not followed`);
    assert.equal(target.count(), 0, "the Location was never requested");
    // And a bare /ingest endpoint's 3xx the same.
    const res = await p.ingest({ endpoint: { method: "POST", url: `${receiver.url}/inline` }, data: [{ a: 1 }] });
    const inline = (await eventually(async () => {
      const r = await p.backends.stores.postbacks.getPostback(res.body.ids[0]);
      return r?.state === "dead" ? r : undefined;
    }, 5000, "inline dead"))!;
    assert.match(inline.reason!, /^http_302; redirect to .* not followed$/);
    assert.equal(target.count(), 0);
  } finally {
    await p.stop();
    await receiver.close();
    await target.close();
  }
});

/** A raw TCP partner that answers every request with `reply` (written once per connection). */
async function rawPartner(onConnection: (socket: Socket) => void): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    socket.once("data", () => onConnection(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

test("nothing a partner sends makes a worker hang or grow: huge headers, an endless body, an endless trickle; a healthy partner is served meanwhile", async () => {
  const timers = new Set<NodeJS.Timeout>();
  const hugeHeaders = await rawPartner((s) => {
    s.write("HTTP/1.1 200 OK\r\n");
    for (let i = 0; i < 2000; i++) s.write(`x-filler-${i}: ${"a".repeat(100)}\r\n`);
    s.write("content-length: 0\r\n\r\n");
  });
  const endless = await rawPartner((s) => {
    s.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
    const chunk = Buffer.alloc(64 * 1024, "z");
    const pump = () => {
      while (!s.destroyed && s.write(`${chunk.length.toString(16)}\r\n${chunk.toString()}\r\n`));
      if (!s.destroyed) s.once("drain", pump);
    };
    pump();
  });
  const trickle = await rawPartner((s) => {
    s.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
    const t = setInterval(() => (s.destroyed ? clearInterval(t) : s.write("1\r\nz\r\n")), 50);
    timers.add(t);
  });
  const healthy = await startReceiver({ record: false });
  const p = await startPipeline({ timeout_ms: 1_000, lease_ms: 10_000, max_attempts: 1 });
  try {
    const ids: Record<string, string> = {};
    for (const [name, partner] of Object.entries({ hugeHeaders, endless, trickle })) {
      const res = await p.ingest({ endpoint: { method: "POST", url: `${partner.url}/x` }, data: [{ name }] });
      ids[name] = res.body.ids[0];
    }
    const heapBefore = process.memoryUsage().heapUsed;
    const res = await p.ingest({ endpoint: { method: "POST", url: `${healthy.url}/ok` }, data: Array.from({ length: 20 }, (_, i) => ({ i })) });
    assert.equal(res.status, 202);
    await healthy.waitFor(20, 5_000);
    const records = await eventually(async () => {
      const all = await Promise.all(Object.values(ids).map((id) => p.backends.stores.postbacks.getPostback(id)));
      return all.every((r) => r?.state === "dead" || r?.state === "delivered") ? all : undefined;
    }, 10_000, "the hostile partners' postbacks settled");
    const [huge, flood, slow] = records!;
    assert.equal(huge!.attempts[0]!.statusCode, null, "headers over the limit: no response accepted");
    assert.equal(huge!.attempts[0]!.error, "network_error");
    assert.match(huge!.attempts[0]!.errorMessage!, /header/i);
    // The endless body: its first bytes kept, the rest dropped after 1 MiB (not read forever).
    assert.equal(flood!.attempts[0]!.statusCode, 200);
    assert.ok(flood!.attempts[0]!.responseBody!.length <= 64 * 1024);
    assert.equal(slow!.attempts[0]!.error, "timeout", "a body that never ends is cut at the timeout");
    assert.ok(process.memoryUsage().heapUsed - heapBefore < 64 * 1024 * 1024, "the heap did not grow with the endless body");
  } finally {
    for (const t of timers) clearInterval(t);
    await p.stop();
    await Promise.all([hugeHeaders.close(), endless.close(), trickle.close(), healthy.close()]);
  }
});
