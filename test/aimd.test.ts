/**
 * Adaptive pacing (issue 14): the AIMD rule of src/core/aimd.ts, and how the origin limiter and
 * the destination gate apply it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { adapt, aimd, congestionOf, withMax, type Aimd, type Signal } from "../src/core/aimd.js";
import { OriginLimiter } from "../src/delivery/origin-limiter.js";
import { DestinationPacing } from "../src/delivery/destination-pacing.js";

function feed(a: Aimd, signal: Signal, times: number): Aimd {
  for (let i = 0; i < times; i++) a = adapt(a, signal);
  return a;
}

test("a sign of overload halves the limit, down to 1", () => {
  let a = aimd(32);
  assert.deepEqual(a, { limit: 32, max: 32, successes: 0 });
  const limits: number[] = [];
  for (let i = 0; i < 7; i++) {
    a = adapt(a, i % 3 === 0 ? "timeout" : i % 3 === 1 ? "throttled" : "connection_error");
    limits.push(a.limit);
  }
  assert.deepEqual(limits, [16, 8, 4, 2, 1, 1, 1]);
});

test("successes grow it back by one per `limit` successes, up to max: a recovering partner is not stampeded", () => {
  let a = feed(aimd(8), "timeout", 3);
  assert.equal(a.limit, 1);
  a = adapt(a, "success");
  assert.equal(a.limit, 2, "one success at limit 1");
  a = feed(a, "success", 1);
  assert.equal(a.limit, 2, "two needed at limit 2");
  a = adapt(a, "success");
  assert.equal(a.limit, 3);
  // From 1 back to 8: 1 + 2 + ... + 7 = 28 successes.
  let b = feed(aimd(8), "timeout", 3);
  let n = 0;
  while (b.limit < 8) {
    b = adapt(b, "success");
    n++;
  }
  assert.equal(n, 28);
  assert.equal(adapt(b, "success"), b, "at max, nothing changes (the same object)");
  // A failure mid-way restarts the count towards the next increase.
  const c = adapt(adapt(adapt(feed(aimd(8), "timeout", 1), "success"), "success"), "throttled");
  assert.deepEqual(c, { limit: 2, max: 8, successes: 0 });
});

test("withMax follows a changed concurrency setting; max 1 never changes", () => {
  assert.deepEqual(withMax(aimd(8), 4), { limit: 4, max: 4, successes: 0 });
  assert.deepEqual(withMax(aimd(4), 8), { limit: 8, max: 8, successes: 0 }, "at full: takes the new max at once");
  assert.deepEqual(withMax(feed(aimd(8), "timeout", 2), 16), { limit: 2, max: 16, successes: 0 }, "reduced: stays reduced, grows back");
  const one = aimd(1);
  assert.equal(adapt(one, "success"), one);
  assert.deepEqual(adapt(one, "timeout"), one);
  assert.equal(aimd(0).limit, 1);
});

test("congestionOf: timeouts, refused or reset connections, 429 and 503 are overload; other answers are not", () => {
  assert.equal(congestionOf({ kind: "error", code: "timeout", message: "" }), "timeout");
  for (const code of ["connection_refused", "connection_reset", "network_error"] as const) {
    assert.equal(congestionOf({ kind: "error", code, message: "" }), "connection_error", code);
  }
  for (const code of ["dns_failure", "tls_failure", "destination_refused", "invalid_url"] as const) {
    assert.equal(congestionOf({ kind: "error", code, message: "" }), undefined, code);
  }
  assert.equal(congestionOf({ kind: "response", status: 429 }), "throttled");
  assert.equal(congestionOf({ kind: "response", status: 503 }), "throttled");
  for (const status of [200, 204, 301, 400, 404, 410, 500, 502]) assert.equal(congestionOf({ kind: "response", status }), undefined, String(status));
});

const T = 1_000_000;
const FAR = T + 60_000;
const TIMEOUT = 1000;

test("origin: a partner that is down holds one slot, not perOrigin, and is let back up one step at a time", () => {
  const changes: string[] = [];
  const l = new OriginLimiter({ perOrigin: 8, slots: 64, stallMs: 500, onPace: (o, from, to, s) => changes.push(`${o} ${from.limit}->${to.limit} ${s}`) });
  // Eight requests out; they all end with connection errors (a partner restarting).
  for (let i = 0; i < 8; i++) assert.equal(l.acquire("a", FAR, TIMEOUT, T), 0);
  for (let i = 0; i < 8; i++) l.release("a", "connection_error", T + 1, 1);
  assert.equal(l.limitOf("a", T + 1), 1);
  assert.deepEqual(changes, ["a 8->4 connection_error", "a 4->2 connection_error", "a 2->1 connection_error"]);
  assert.equal(l.belowFull(T + 1), 1, "remembered while idle");
  // One request at a time now; the next waits in line.
  assert.equal(l.acquire("a", FAR, TIMEOUT, T + 2), 0);
  assert.ok(l.acquire("a", FAR, TIMEOUT, T + 2) instanceof Promise);
  l.release("a", "answered", T + 3, 1); // the waiter takes the slot; the limit grows to 2
  assert.equal(l.limitOf("a", T + 3), 2);
  assert.equal(l.acquire("a", FAR, TIMEOUT, T + 3), 0, "a second slot now");
  l.rejectWaiting();
  // Successes bring it back to 8.
  for (let i = 0; i < 40; i++) {
    if (l.acquire("b", FAR, TIMEOUT, T) !== 0) break;
    l.release("b", "answered", T, 1);
  }
  assert.equal(l.limitOf("b"), 8, "an origin that only answers stays at full");
  assert.equal(changes.at(-1), "a 1->2 success");
});

test("origin: 429/503 answers lower the limit but keep the origin healthy; timeouts make it struggling as before", () => {
  const l = new OriginLimiter({ perOrigin: 4, slots: 64, stallMs: 500 });
  assert.equal(l.acquire("a", FAR, TIMEOUT, T), 0);
  l.release("a", "throttled", T + 5, 5);
  assert.equal(l.healthOf("a", T + 5), "healthy");
  assert.equal(l.limitOf("a", T + 5), 2);
  assert.equal(l.acquire("h", FAR, TIMEOUT, T), 0);
  l.release("h", "timeout", T + TIMEOUT);
  assert.equal(l.healthOf("h", T + TIMEOUT), "struggling");
  assert.equal(l.limitOf("h", T + TIMEOUT), 2);
  // Aborted (shutdown) says nothing about the partner.
  assert.equal(l.acquire("z", FAR, TIMEOUT, T), 0);
  l.release("z", "aborted", T);
  assert.equal(l.limitOf("z", T), 4);
});

test("origin: what one origin holds (in flight and waiting) stays within its fair share of the slots", () => {
  // 16 slots, 4 per origin; four busy origins: a share of 4 each, so no line beyond one round.
  const l = new OriginLimiter({ perOrigin: 4, slots: 16, stallMs: 60_000 });
  for (const o of ["a", "b", "c", "d"]) {
    assert.equal(l.acquire(o, FAR, TIMEOUT, T), 0);
    l.release(o, "answered", T, 1);
    for (let i = 0; i < 4; i++) assert.equal(l.acquire(o, FAR, TIMEOUT, T), 0);
  }
  let waiting = 0;
  for (let i = 0; i < 20; i++) if (l.acquire("a", FAR, TIMEOUT, T) instanceof Promise) waiting++;
  assert.equal(waiting, 4, "a line of one round (its own limit), then turned away");
  // Halved to 2 in flight: it holds at most two rounds of its new limit once its line drains.
  l.release("a", "throttled", T, 1);
  assert.equal(l.limitOf("a", T), 2);
  l.rejectWaiting();
});

test("destination gate: at full it never holds one back; below full it admits `limit` at once and a short line waits", async () => {
  const changes: string[] = [];
  const g = new DestinationPacing({ onPace: (id, from, to) => changes.push(`${id} ${from.limit}->${to.limit}`) });
  for (let i = 0; i < 100; i++) assert.equal(g.acquire("d", 4, FAR, T), true, "at full, the owner's limits decide");
  for (let i = 0; i < 100; i++) g.release("d", "answered", T);
  assert.equal(g.acquire("d", 4, FAR, T), true);
  g.release("d", "timeout", T);
  assert.equal(g.acquire("d", 4, FAR, T), true);
  g.release("d", "throttled", T);
  assert.equal(g.limitOf("d", 4, T), 1);
  assert.equal(g.belowFull(T), 1);
  assert.equal(g.acquire("d", 4, FAR, T), true);
  const second = g.acquire("d", 4, FAR, T);
  const third = g.acquire("d", 4, FAR, T);
  assert.ok(second instanceof Promise && third instanceof Promise, "one at a time now; two rounds wait");
  assert.equal(g.acquire("d", 4, FAR, T), false, "a longer line goes back to the queue");
  assert.equal(g.acquire("d", 4, T, T), false, "nor waits one whose deadline is now");
  g.release("d", "aborted", T);
  assert.equal(await second, true, "the next in line takes the freed slot");
  assert.equal(g.limitOf("d", 4, T), 1, "aborted: no signal");
  g.release("d", "answered", T);
  assert.equal(g.limitOf("d", 4, T), 2);
  assert.equal(await third, true);
  assert.deepEqual(changes, ["d 4->2", "d 2->1", "d 1->2"]);
  // A waiter leaves at its deadline.
  assert.equal(g.acquire("w", 2, Infinity), true);
  g.release("w", "timeout");
  assert.equal(g.acquire("w", 2, Infinity), true);
  const late = g.acquire("w", 2, Date.now() + 30);
  assert.ok(late instanceof Promise);
  assert.equal(await late, false);
  // A lower concurrency setting applies at once.
  assert.equal(g.limitOf("e", 3, T), 3);
  g.rejectWaiting();
});
