/** What a repeated idempotency key gets (src/core/idempotency.ts), entry by entry. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { judgeClaim, type IdempotencyEntry } from "../src/core/idempotency.js";

const NOW = Date.UTC(2024, 0, 2);
const TTL = 24 * 3_600_000;
const STALE = 60_000;
const claimed = (at: number, fingerprint = "fp"): IdempotencyEntry => ({ fingerprint, claimedAt: at, answeredAt: null, status: null, body: null });
const answered = (at: number, fingerprint = "fp"): IdempotencyEntry => ({ fingerprint, claimedAt: at - 5, answeredAt: at, status: 202, body: '{"ok":true}' });
const judge = (entry: IdempotencyEntry | undefined, fingerprint = "fp") => judgeClaim(entry, fingerprint, NOW, TTL, STALE);

test("a new key is taken", () => {
  assert.equal(judge(undefined), "take");
});

test("an answered key gives its answer back within the ttl, counted from the answer", () => {
  assert.deepEqual(judge(answered(NOW - TTL)), { kind: "answered", status: 202, body: '{"ok":true}' });
  assert.equal(judge(answered(NOW - TTL - 1)), "take", "expired");
});

test("another fingerprint is a mismatch, claimed or answered, stale or not", () => {
  assert.deepEqual(judge(claimed(NOW), "other"), { kind: "mismatch" });
  assert.deepEqual(judge(claimed(NOW - STALE - 1), "other"), { kind: "mismatch" });
  assert.deepEqual(judge(answered(NOW), "other"), { kind: "mismatch" });
  assert.equal(judge(answered(NOW - TTL - 1), "other"), "take", "unless the key expired");
});

test("a claim not answered is in progress until it is stale, then it is taken over", () => {
  assert.deepEqual(judge(claimed(NOW - STALE)), { kind: "in_progress" });
  assert.equal(judge(claimed(NOW - STALE - 1)), "take");
});

test("an entry marked answered without a status is unresolved, holding its body, until it expires", () => {
  assert.deepEqual(judge({ ...answered(NOW), status: null, body: '{"first":"pb_1"}' }), { kind: "unresolved", pending: '{"first":"pb_1"}' });
  assert.deepEqual(judge({ ...answered(NOW), status: null, body: null }), { kind: "unresolved", pending: "" });
});
