/** The pure outcome of one attempt: record, settle, destination failure and counter. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { GONE_HELD, outcome, type Attempt } from "../src/delivery/outcome.js";
import type { Reservation } from "../src/queue/port.js";
import type { Destination } from "../src/core/types.js";
import type { SendResult } from "../src/delivery/sender.js";

const NOW = 1_700_000_000_000;
const POLICY = { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 60_000 };
const HEALTH = { failureThreshold: 5, failureWindowMs: 60_000 };
/** random() = 0: the backoff is exactly half its ceiling. */
const LOW = () => 0;

function reservation(attempt: number): Reservation {
  return {
    postbackId: "pb_1",
    endpoint: { id: "ep_1", method: "POST", url: "http://127.0.0.1:9/x", defaultValue: "", maxAttempts: 3 },
    data: '{"a":1}',
    attempt,
    createdAt: NOW - 5000,
    lease: "lease-1",
  };
}

function attempt(sent: SendResult, n = 1, destination?: Destination): Attempt {
  return { reservation: reservation(n), url: "http://127.0.0.1:9/x", sent, startedAt: NOW - 30, durationMs: 25.5, destination };
}

const ok: SendResult = { result: { kind: "response", status: 204 }, responseBody: "", errorMessage: null };
const failing: SendResult = { result: { kind: "response", status: 503 }, responseBody: "busy", errorMessage: null };

const destination = { id: "dst_1", failureThreshold: 2, failureWindowMs: null } as Destination;

test("a 2xx is delivered: settled done, no failure counted", () => {
  const o = outcome(attempt(ok), POLICY, HEALTH, NOW, LOW);
  assert.deepEqual(o.settle, { kind: "done" });
  assert.equal(o.counter, "delivered");
  assert.equal(o.failure, undefined);
  assert.equal(o.record.state, "delivered");
  assert.equal(o.record.statusCode, 204);
  assert.equal(o.record.error, null);
  assert.equal(o.record.reason, null);
  assert.equal(o.record.nextAttemptAt, null);
  assert.equal(o.record.startedAt, NOW - 30);
  assert.equal(o.record.durationMs, 25.5);
  assert.equal(o.record.attempt, 1);
});

test("a 503 with attempts left is retried after the backoff, and counts against its destination", () => {
  const o = outcome(attempt(failing, 2, destination), POLICY, HEALTH, NOW, LOW);
  // Attempt 2: base·2 = 2000 ms, times 0.5 with random() = 0.
  assert.deepEqual(o.settle, { kind: "retry", at: NOW + 1000 });
  assert.equal(o.counter, "retried");
  assert.equal(o.record.state, "failed");
  assert.equal(o.record.nextAttemptAt, NOW + 1000);
  assert.equal(o.record.reason, "http_503");
  assert.equal(o.record.responseBody, "busy");
  // The destination's own threshold, the default window where it sets none.
  assert.deepEqual(o.failure, { destinationId: "dst_1", at: NOW, threshold: 2, windowMs: 60_000 });
});

test("the last attempt failing is dead and leaves the queue", () => {
  const o = outcome(attempt(failing, 3, destination), POLICY, HEALTH, NOW, LOW);
  assert.deepEqual(o.settle, { kind: "done" });
  assert.equal(o.counter, "dead");
  assert.equal(o.record.state, "dead");
  assert.equal(o.record.reason, "http_503; 3 attempts made");
  assert.ok(o.failure);
});

test("an unrenderable URL is dead at once; without a destination no failure is counted", () => {
  const sent: SendResult = { result: { kind: "error", code: "invalid_url", message: "bad" }, responseBody: null, errorMessage: "bad" };
  const o = outcome(attempt(sent), POLICY, HEALTH, NOW, LOW);
  assert.equal(o.counter, "dead");
  assert.equal(o.record.error, "invalid_url");
  assert.equal(o.record.errorMessage, "bad");
  assert.equal(o.record.statusCode, null);
  assert.equal(o.failure, undefined);
});

test("410 from a destination: recorded, held (not dead, no failure counted), and the destination is to be disabled; on_disable drop: dead", () => {
  const gone: SendResult = { result: { kind: "response", status: 410 }, responseBody: "gone", errorMessage: null };
  const held = outcome(attempt(gone, 1, { ...destination, onDisable: "hold" }), POLICY, HEALTH, NOW, LOW);
  assert.deepEqual(held.settle, { kind: "hold" });
  assert.equal(held.gone, true);
  assert.equal(held.failure, undefined);
  assert.equal(held.record.state, "failed");
  assert.equal(held.record.statusCode, 410);
  assert.equal(held.record.nextAttemptAt, null);
  assert.equal(held.record.reason, `http_410; ${GONE_HELD}`);
  const dropped = outcome(attempt(gone, 1, { ...destination, onDisable: "drop" }), POLICY, HEALTH, NOW, LOW);
  assert.deepEqual(dropped.settle, { kind: "done" });
  assert.equal(dropped.record.state, "dead");
  // Without a destination (a bare /ingest URL): dead as before, nothing to disable.
  const inline = outcome(attempt(gone), POLICY, HEALTH, NOW, LOW);
  assert.equal(inline.record.state, "dead");
  assert.equal(inline.gone, undefined);
});

test("429/503 with Retry-After pause the destination (capped at maxDelayMs); unusable values are named, not used; no destination, no pause", () => {
  const answer = (status: number, retryAfter: string): SendResult => ({ result: { kind: "response", status, retryAfter }, responseBody: "", errorMessage: null });
  const o = outcome(attempt(answer(429, "30"), 1, destination), POLICY, HEALTH, NOW, LOW);
  assert.deepEqual(o.pause, { destinationId: "dst_1", until: NOW + 30_000, reason: "http_429 with Retry-After: 30" });
  assert.equal(o.retryAfterProblem, undefined);
  assert.deepEqual(o.settle, { kind: "retry", at: NOW + 30_000 });
  const capped = outcome(attempt(answer(503, "86400"), 1, destination), POLICY, HEALTH, NOW, LOW);
  assert.equal(capped.pause?.until, NOW + POLICY.maxDelayMs);
  assert.deepEqual(capped.retryAfterProblem, { value: "86400", problem: "capped" });
  const bad = outcome(attempt(answer(503, "-1"), 1, destination), POLICY, HEALTH, NOW, LOW);
  assert.equal(bad.pause, undefined);
  assert.deepEqual(bad.retryAfterProblem, { value: "-1", problem: "invalid" });
  assert.equal(outcome(attempt(answer(500, "30"), 1, destination), POLICY, HEALTH, NOW, LOW).pause, undefined, "only 429 and 503 pause");
  assert.equal(outcome(attempt(answer(429, "30")), POLICY, HEALTH, NOW, LOW).pause, undefined, "inline endpoints: per postback only");
});
