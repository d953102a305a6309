/**
 * OriginLimiter: requests in flight per origin, the line and its lease deadline, probes of
 * unproven origins, and the cap on what struggling origins hold together.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { BUSY_ORIGIN_DELAY, OriginLimiter, UNPROVEN_DELAY } from "../src/delivery/origin-limiter.js";

const T = 1_000_000; // a fixed "now"
const TIMEOUT = 1000;
const FAR = T + 60_000; // a deadline far off

/** A limiter whose origin "a" has answered once, so it is healthy. */
function withHealthy(options = { perOrigin: 2, slots: 8, stallMs: 500 }, origin = "a"): OriginLimiter {
  const l = new OriginLimiter(options);
  assert.equal(l.acquire(origin, FAR, TIMEOUT, T), 0);
  l.release(origin, "answered", T);
  assert.equal(l.healthOf(origin, T), "healthy");
  return l;
}

test("a healthy origin gets perOrigin slots, then a line; a release passes the slot on", async () => {
  const l = withHealthy();
  assert.equal(l.acquire("a", FAR, TIMEOUT, T), 0);
  assert.equal(l.acquire("a", FAR, TIMEOUT, T), 0);
  const third = l.acquire("a", FAR, TIMEOUT, T);
  assert.ok(third instanceof Promise, "the third waits in line");
  l.release("a", "answered", T + 10);
  assert.equal(await third, 0);
});

test("a postback only joins a line it gets through before its deadline: all ahead counted at the timeout until the origin's answer time is known", () => {
  const l = withHealthy();
  l.acquire("a", FAR, TIMEOUT, T);
  l.acquire("a", FAR, TIMEOUT, T);
  // Two rounds of a full timeout ahead of the third: it must be able to start by T + 1000.
  assert.ok(l.acquire("a", T + 1000, TIMEOUT, T) instanceof Promise);
  assert.ok(l.acquire("a", T + 1000, TIMEOUT, T) instanceof Promise);
  // The fifth would start after two rounds (T + 2000): too late for a deadline at T + 1500.
  assert.equal(l.acquire("a", T + 1500, TIMEOUT, T), BUSY_ORIGIN_DELAY);
  // Past its deadline already: given back at once.
  assert.equal(l.acquire("a", T - 1, TIMEOUT, T), BUSY_ORIGIN_DELAY);
  l.rejectWaiting();
});

test("an origin that answers fast gets a line as long as its recent answer time allows", () => {
  const l = new OriginLimiter({ perOrigin: 2, slots: 64, stallMs: 500 });
  assert.equal(l.acquire("a", FAR, TIMEOUT, T), 0);
  l.release("a", "answered", T, 10); // answered in 10 ms
  l.acquire("a", FAR, TIMEOUT, T);
  l.acquire("a", FAR, TIMEOUT, T);
  // Rounds counted at 2 × 10 ms, not the 1000 ms timeout: ten waiters (five rounds, 100 ms) fit
  // before a deadline at T + 100, where counting the timeout would have let none join.
  for (let i = 0; i < 10; i++) assert.ok(l.acquire("a", T + 100, TIMEOUT, T) instanceof Promise, `waiter ${i} joins`);
  assert.equal(l.acquire("a", T + 100, TIMEOUT, T), BUSY_ORIGIN_DELAY, "a sixth round (120 ms) would not start in time");
  // A slow answer raises the estimate at once (a waiter takes the freed slot).
  l.release("a", "answered", T, 900);
  assert.equal(l.acquire("a", T + 1500, TIMEOUT, T), BUSY_ORIGIN_DELAY, "rounds now count 1000 ms (the timeout)");
  l.rejectWaiting();
});

test("a waiter leaves the line at its deadline, and a release skips waiters past theirs", async () => {
  const l = new OriginLimiter({ perOrigin: 1, slots: 8, stallMs: 60_000 });
  const now = Date.now();
  assert.equal(l.acquire("a", now + 60_000, TIMEOUT, now), 0);
  l.release("a", "answered", now);
  assert.equal(l.acquire("a", now + 60_000, TIMEOUT, now), 0);
  const soon = l.acquire("a", now + 1050, TIMEOUT, now);
  assert.equal(await soon, BUSY_ORIGIN_DELAY, "left the line at its deadline");
  const late = l.acquire("a", Date.now() + 5000, TIMEOUT);
  const next = l.acquire("a", Date.now() + 50_000, TIMEOUT);
  // Released once the first waiter's deadline has passed: it is turned away, the next gets the slot.
  l.release("a", "answered", Date.now() + 10_000);
  assert.equal(await late, BUSY_ORIGIN_DELAY);
  assert.equal(await next, 0);
});

test("unproven origins together take at most a quarter of the slots; proven ones are not held back", async () => {
  const l = withHealthy({ perOrigin: 2, slots: 8, stallMs: 500 }, "h");
  assert.equal(l.healthOf("new", T), "unproven");
  assert.equal(l.acquire("new", FAR, TIMEOUT, T), 0);
  assert.equal(l.acquire("other", FAR, TIMEOUT, T), 0);
  // The cap (2 of 8) is reached: another new origin comes back later.
  assert.equal(l.acquire("third", FAR, TIMEOUT, T), UNPROVEN_DELAY);
  assert.equal(l.acquire("new", FAR, TIMEOUT, T), UNPROVEN_DELAY);
  assert.equal(l.acquire("h", FAR, TIMEOUT, T), 0);
  assert.equal(l.acquire("h", FAR, TIMEOUT, T), 0);
  // Once it answers, it is healthy and no longer counted against the cap.
  l.release("new", "answered", T + 5);
  assert.equal(l.healthOf("new", T + 5), "healthy");
  assert.equal(l.acquire("third", FAR, TIMEOUT, T + 5), 0);
});

test("struggling origins together hold at most a quarter of the slots; healthy ones keep the rest", () => {
  const l = withHealthy({ perOrigin: 2, slots: 8, stallMs: 500 }, "h");
  // Three origins whose requests timed out; remembered once idle.
  for (const o of ["x", "y", "z"]) {
    assert.equal(l.acquire(o, FAR, TIMEOUT, T), 0);
    l.release(o, "timeout", T + TIMEOUT);
    assert.equal(l.healthOf(o, T + TIMEOUT), "struggling");
  }
  const now = T + 2000;
  assert.equal(l.acquire("x", FAR, TIMEOUT, now), 0);
  assert.equal(l.acquire("y", FAR, TIMEOUT, now), 0);
  // The cap (2 of 8) is reached: come back in about a timeout.
  assert.equal(l.acquire("z", FAR, TIMEOUT, now), TIMEOUT);
  assert.equal(l.acquire("x", FAR, TIMEOUT, now), TIMEOUT);
  assert.equal(l.acquire("h", FAR, TIMEOUT, now), 0);
  assert.equal(l.acquire("h", FAR, TIMEOUT, now), 0);
  // Answering again makes an origin healthy.
  l.release("x", "answered", now + 1);
  assert.equal(l.healthOf("x", now + 1), "healthy");
  assert.equal(l.acquire("z", FAR, TIMEOUT, now + 1), 0);
});

test("a healthy origin that stops answering is struggling after stallMs and keeps no line", async () => {
  const l = withHealthy({ perOrigin: 1, slots: 8, stallMs: 500 });
  assert.equal(l.acquire("a", FAR, TIMEOUT, T), 0);
  const waiting = l.acquire("a", FAR, TIMEOUT, T);
  assert.equal(l.healthOf("a", T + 400), "healthy");
  assert.equal(l.healthOf("a", T + 600), "struggling");
  // Its request times out: the line is turned away rather than sent to a hung origin.
  l.release("a", "timeout", T + TIMEOUT);
  assert.equal(await waiting, BUSY_ORIGIN_DELAY);
});

test("a waiter at an origin that stops answering leaves the line after stallMs", async () => {
  const l = new OriginLimiter({ perOrigin: 1, slots: 8, stallMs: 50 });
  const now = Date.now();
  assert.equal(l.acquire("a", now + 60_000, TIMEOUT, now), 0);
  l.release("a", "answered", now);
  assert.equal(l.acquire("a", now + 60_000, TIMEOUT, now), 0);
  const t0 = Date.now();
  assert.equal(await l.acquire("a", now + 60_000, TIMEOUT, now), BUSY_ORIGIN_DELAY);
  assert.ok(Date.now() - t0 < 5000, "left long before its deadline");
});
