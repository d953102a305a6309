/** Endpoint health (src/core/endpoint-health.ts): how failures count towards disabling a destination. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { countFailure, duration, failureReason, type DestinationFailure, type HealthState } from "../src/core/endpoint-health.js";

const T0 = Date.UTC(2024, 0, 1);
const HOUR = 3_600_000;
const failure = (at: number, overrides: Partial<DestinationFailure> = {}): DestinationFailure => ({ destinationId: "dst_1", at, threshold: 3, windowMs: HOUR, ...overrides });

/** Counts the failures one after another from an enabled destination with none counted. */
function countAll(failures: DestinationFailure[]): { state: HealthState; reasons: (string | undefined)[] } {
  let state: HealthState = { enabled: true, failures: [] };
  const reasons: (string | undefined)[] = [];
  for (const f of failures) {
    const counted = countFailure(state, f);
    state = counted.state;
    reasons.push(counted.disabledReason);
  }
  return { state, reasons };
}

test("the threshold-th failure within the window disables, with the reason, and clears the count", () => {
  const { state, reasons } = countAll([failure(T0), failure(T0 + 1000), failure(T0 + 2000)]);
  assert.deepEqual(reasons, [undefined, undefined, "3 failed attempts within 1h"]);
  assert.deepEqual(state, { enabled: false, failures: [] });
});

test("failures older than the window before the newest stop counting; exactly the window still counts", () => {
  assert.deepEqual(countAll([failure(T0), failure(T0 + HOUR + 1), failure(T0 + HOUR + 2)]).state, { enabled: true, failures: [T0 + HOUR + 1, T0 + HOUR + 2] });
  assert.equal(countAll([failure(T0), failure(T0 + 1), failure(T0 + HOUR)]).state.enabled, false);
});

test("failures arriving out of order count by their time", () => {
  const { state } = countAll([failure(T0 + HOUR + 5), failure(T0)]);
  assert.deepEqual(state.failures, [T0 + HOUR + 5], "the earlier one is outside the window of the newest");
});

test("a window of 0 counts forever; at most `threshold` failures are kept", () => {
  const forever = [0, 1, 2].map((n) => failure(T0 + n * 1000 * HOUR, { windowMs: 0, threshold: 4 }));
  assert.deepEqual(countAll(forever).state.failures, forever.map((f) => f.at));
  assert.deepEqual(countAll([1, 2, 3, 4, 5].map((n) => failure(T0 + n, { threshold: 10 }))).state.failures.length, 5);
  assert.deepEqual(countAll([failure(T0, { windowMs: 0, threshold: 1 })]).reasons, ["1 failed attempt"]);
});

test("a threshold of 0, or a disabled destination, counts nothing and returns the same state", () => {
  const enabled: HealthState = { enabled: true, failures: [T0] };
  assert.equal(countFailure(enabled, failure(T0 + 1, { threshold: 0 })).state, enabled);
  const disabled: HealthState = { enabled: false, failures: [] };
  const counted = countFailure(disabled, failure(T0));
  assert.equal(counted.state, disabled);
  assert.equal(counted.disabledReason, undefined);
});

test("durations in reasons use the largest unit that divides them", () => {
  assert.deepEqual([86_400_000, HOUR, 5_400_000, 60_000, 1_000, 1_500].map(duration), ["1d", "1h", "90m", "1m", "1s", "1500ms"]);
  assert.equal(failureReason(5, 2 * 86_400_000), "5 failed attempts within 2d");
  assert.equal(failureReason(2, 0), "2 failed attempts");
});
