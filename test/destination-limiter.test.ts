/** DestinationLimiter: a destination's own concurrency and rate limit, and the lease deadline. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { DestinationLimiter } from "../src/delivery/destination-limiter.js";

test("no limits: always sent at once", async () => {
  const l = new DestinationLimiter();
  assert.equal(await l.acquire("d", { concurrency: null, rateLimit: null }), 0);
});

test("concurrency 1: the second waits for the first's release", async () => {
  const l = new DestinationLimiter();
  const limits = { concurrency: 1, rateLimit: null };
  assert.equal(await l.acquire("d", limits), 0);
  let second: number | undefined;
  const waiting = l.acquire("d", limits).then((w) => (second = w));
  await new Promise((r) => setImmediate(r));
  assert.equal(second, undefined, "waits while the first is in flight");
  l.release("d");
  assert.equal(await waiting, 0);
});

test("a waiter goes back to the queue at its deadline, before its lease could end", async () => {
  const l = new DestinationLimiter();
  const limits = { concurrency: 1, rateLimit: null };
  assert.equal(await l.acquire("d", limits), 0);
  const t0 = Date.now();
  const wait = await l.acquire("d", limits, t0 + 50);
  assert.ok(wait > 0, "given back, not sent");
  assert.ok(Date.now() - t0 >= 45, "waited until its deadline");
  // Past its deadline already: given back at once.
  assert.ok((await l.acquire("d", limits, Date.now() - 1)) > 0);
});

test("rate limit: one second's worth at once, then spaced out", async () => {
  const l = new DestinationLimiter();
  const limits = { concurrency: null, rateLimit: 20 };
  for (let i = 0; i < 20; i++) assert.equal(await l.acquire("d", limits), 0);
  const t0 = Date.now();
  assert.equal(await l.acquire("d", limits), 0);
  assert.ok(Date.now() - t0 >= 40, "the 21st waited for a token (50 ms at 20/s)");
});
