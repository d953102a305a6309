/**
 * The retry policy (src/core/retry.ts): what one attempt's result means for its postback.
 * Every case passes a fixed `random` and a fixed `now`, so every expected time is exact.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { backoffDelay, decide, parseRetryAfter, retryAfterDelay, type AttemptResult, type RetryPolicy } from "../src/core/retry.js";
import { ATTEMPT_ERRORS, type AttemptErrorCode } from "../src/core/errors.js";

const NOW = Date.UTC(2030, 0, 15, 12, 0, 0); // a whole second, so HTTP dates are exact
const POLICY: RetryPolicy = { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 60_000 };
const LOW = () => 0; // jitter factor 0.5
const MID = () => 0.5; // jitter factor 0.75
const HIGH = () => 0.999_999; // jitter factor just under 1

const response = (status: number, retryAfter?: string): AttemptResult => ({ kind: "response", status, retryAfter });
const failure = (code: AttemptErrorCode): AttemptResult => ({ kind: "error", code, message: `simulated ${code}` });

test("any 2xx is delivered, whatever the attempt", () => {
  for (const status of [200, 201, 202, 204, 299]) {
    assert.deepEqual(decide(response(status), 1, POLICY, NOW, LOW), { kind: "delivered" }, `status ${status}`);
    assert.deepEqual(decide(response(status), POLICY.maxAttempts, POLICY, NOW, LOW), { kind: "delivered" }, `status ${status} on the last attempt`);
  }
});

test("408, 429 and 5xx are retried after the backoff", () => {
  for (const status of [408, 429, 500, 502, 503, 504, 599]) {
    assert.deepEqual(decide(response(status), 1, POLICY, NOW, LOW), { kind: "retry", at: NOW + 500, reason: `http_${status}` }, `status ${status}`);
  }
});

test("a URL that cannot be, or may not be, delivered to is dead at once", () => {
  for (const code of ["invalid_url", "destination_refused"] as const) {
    assert.deepEqual(decide(failure(code), 1, POLICY, NOW, LOW), { kind: "dead", reason: code }, code);
  }
});

test("every other network error is retried after the backoff", () => {
  const codes = (Object.keys(ATTEMPT_ERRORS) as AttemptErrorCode[]).filter((c) => c !== "invalid_url" && c !== "destination_refused");
  assert.ok(codes.includes("timeout") && codes.includes("connection_refused"), "the registry lists the network errors");
  for (const code of codes) {
    assert.deepEqual(decide(failure(code), 2, POLICY, NOW, LOW), { kind: "retry", at: NOW + 1000, reason: code }, code);
  }
});

test("other 4xx and 1xx are dead at once, on the first attempt", () => {
  for (const status of [100, 400, 401, 403, 404, 405, 409, 410, 413, 422, 451, 499]) {
    assert.deepEqual(decide(response(status), 1, POLICY, NOW, LOW), { kind: "dead", reason: `http_${status}` }, `status ${status}`);
  }
});

test("a 3xx is dead at once, its reason naming the status and where it led, not followed (issue 14)", () => {
  for (const status of [301, 302, 303, 304, 307, 308]) {
    assert.deepEqual(decide(response(status), 1, POLICY, NOW, LOW), { kind: "dead", reason: `http_${status}; redirect without a Location, not followed` }, `status ${status}`);
  }
  const moved: AttemptResult = { kind: "response", status: 301, location: "http://10.0.0.1/admin" };
  assert.deepEqual(decide(moved, 1, POLICY, NOW, LOW), { kind: "dead", reason: "http_301; redirect to http://10.0.0.1/admin not followed" });
  // A partner's header is shown cut short and without control characters.
  const odd: AttemptResult = { kind: "response", status: 302, location: "http://x/\r\nSet-Cookie: a" + "y".repeat(500) };
  const reason = (decide(odd, 1, POLICY, NOW, LOW) as { reason: string }).reason;
  assert.ok(!/[\r\n]/.test(reason) && reason.length < 300, reason);
});

test("retryAfterDelay: seconds or an HTTP date, capped at the longest delay; negative, fractional or garbage values are invalid", () => {
  assert.deepEqual(retryAfterDelay("30", NOW, 60_000), { ms: 30_000, capped: false });
  assert.deepEqual(retryAfterDelay("0", NOW, 60_000), { ms: 0, capped: false });
  assert.deepEqual(retryAfterDelay(new Date(NOW + 45_000).toUTCString(), NOW, 60_000), { ms: 45_000, capped: false });
  assert.deepEqual(retryAfterDelay(new Date(NOW - 45_000).toUTCString(), NOW, 60_000), { ms: 0, capped: false }, "a date past: no wait");
  assert.deepEqual(retryAfterDelay("86400", NOW, 60_000), { ms: 60_000, capped: true });
  assert.deepEqual(retryAfterDelay("9".repeat(400), NOW, 60_000), { ms: 60_000, capped: true }, "a number too large for a double");
  for (const bad of ["-5", "1.5", "soon", "", "30s", "0x10", "Infinity", "NaN", "May 2031"]) {
    assert.equal(retryAfterDelay(bad, NOW, 60_000), "invalid", JSON.stringify(bad));
  }
});

test("a non-retryable status ignores its Retry-After", () => {
  assert.deepEqual(decide(response(404, "30"), 1, POLICY, NOW, LOW), { kind: "dead", reason: "http_404" });
});

test("invalid_url is dead at once: waiting cannot fix a URL", () => {
  assert.deepEqual(decide(failure("invalid_url"), 1, POLICY, NOW, LOW), { kind: "dead", reason: "invalid_url" });
});

test("the backoff doubles each attempt and is scaled by a jitter factor in [0.5, 1)", () => {
  const cases: [attempt: number, random: () => number, delay: number][] = [
    [1, LOW, 500],
    [2, LOW, 1000],
    [3, LOW, 2000],
    [4, LOW, 4000],
    [1, MID, 750],
    [3, MID, 3000],
    [1, HIGH, 1000], // round(1000 × 0.9999995)
    [4, HIGH, 8000],
  ];
  for (const [attempt, random, delay] of cases) {
    const policy = { ...POLICY, maxAttempts: 100 };
    assert.deepEqual(decide(response(503), attempt, policy, NOW, random), { kind: "retry", at: NOW + delay, reason: "http_503" }, `attempt ${attempt}`);
    assert.equal(backoffDelay(attempt, policy, random), delay, `backoffDelay(${attempt})`);
  }
});

test("the backoff stays within [0.5, 1) × base·2^(n-1) for any random value", () => {
  const policy = { maxAttempts: 100, baseDelayMs: 1000, maxDelayMs: 10 * 60_000 };
  for (let attempt = 1; attempt <= 9; attempt++) {
    const full = Math.min(policy.maxDelayMs, 1000 * 2 ** (attempt - 1));
    for (const r of [0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999_999]) {
      const d = backoffDelay(attempt, policy, () => r);
      // [0.5, 1) × full, rounded to whole milliseconds
      assert.ok(d >= full * 0.5 && d <= full, `attempt ${attempt}, random ${r}: ${d} not in [${full * 0.5}, ${full}]`);
      assert.equal(d, Math.round(full * (0.5 + r / 2)), `attempt ${attempt}, random ${r}`);
    }
  }
});

test("the backoff is capped at maxDelayMs before jitter, even for huge attempt numbers", () => {
  const policy = { maxAttempts: 10_000, baseDelayMs: 1000, maxDelayMs: 60_000 };
  assert.equal(backoffDelay(7, policy, LOW), 30_000); // 64 s capped to 60 s, × 0.5
  assert.equal(backoffDelay(7, policy, HIGH), 60_000);
  assert.equal(backoffDelay(50, policy, LOW), 30_000);
  assert.equal(backoffDelay(5000, policy, LOW), 30_000); // 2^4999 is Infinity: still capped
  assert.deepEqual(decide(response(500), 5000, policy, NOW, HIGH), { kind: "retry", at: NOW + 60_000, reason: "http_500" });
});

test("the last allowed attempt is dead with the attempt count in the reason", () => {
  const policy = { ...POLICY, maxAttempts: 3 };
  assert.equal(decide(response(500), 2, policy, NOW, LOW).kind, "retry");
  assert.deepEqual(decide(response(500), 3, policy, NOW, LOW), { kind: "dead", reason: "http_500; 3 attempts made" });
  assert.deepEqual(decide(failure("timeout"), 3, policy, NOW, LOW), { kind: "dead", reason: "timeout; 3 attempts made" });
  // A Retry-After does not buy an extra attempt.
  assert.deepEqual(decide(response(429, "5"), 3, policy, NOW, LOW), { kind: "dead", reason: "http_429; 3 attempts made" });
});

test("max_attempts 1 means one attempt, never a retry", () => {
  const policy = { ...POLICY, maxAttempts: 1 };
  assert.deepEqual(decide(response(503), 1, policy, NOW, LOW), { kind: "dead", reason: "http_503; 1 attempts made" });
  assert.deepEqual(decide(response(200), 1, policy, NOW, LOW), { kind: "delivered" });
});

test("Retry-After in seconds is honoured when longer than the backoff", () => {
  assert.deepEqual(decide(response(429, "30"), 1, POLICY, NOW, LOW), { kind: "retry", at: NOW + 30_000, reason: "http_429" });
  assert.deepEqual(decide(response(503, " 7 "), 1, POLICY, NOW, LOW), { kind: "retry", at: NOW + 7000, reason: "http_503" });
});

test("the backoff wins over a shorter Retry-After", () => {
  assert.deepEqual(decide(response(503, "0"), 1, POLICY, NOW, LOW), { kind: "retry", at: NOW + 500, reason: "http_503" });
  assert.deepEqual(decide(response(503, "1"), 4, POLICY, NOW, LOW), { kind: "retry", at: NOW + 4000, reason: "http_503" });
});

test("Retry-After is capped at maxDelayMs", () => {
  assert.deepEqual(decide(response(503, "3600"), 1, POLICY, NOW, LOW), { kind: "retry", at: NOW + 60_000, reason: "http_503" });
  assert.deepEqual(decide(response(503, "99999999999999999999"), 1, POLICY, NOW, LOW), { kind: "retry", at: NOW + 60_000, reason: "http_503" });
});

test("Retry-After as an HTTP date is honoured", () => {
  // IMF-fixdate, 90 s after NOW
  const at = new Date(NOW + 90_000).toUTCString();
  assert.equal(at, "Tue, 15 Jan 2030 12:01:30 GMT");
  const policy = { ...POLICY, maxDelayMs: 10 * 60_000 };
  assert.deepEqual(decide(response(503, at), 1, policy, NOW, LOW), { kind: "retry", at: NOW + 90_000, reason: "http_503" });
  // capped like seconds
  assert.deepEqual(decide(response(503, at), 1, { ...POLICY, maxDelayMs: 20_000 }, NOW, LOW), { kind: "retry", at: NOW + 20_000, reason: "http_503" });
});

test("Retry-After as an HTTP date in the past falls back to the backoff", () => {
  const past = new Date(NOW - 3_600_000).toUTCString();
  assert.deepEqual(decide(response(503, past), 2, POLICY, NOW, LOW), { kind: "retry", at: NOW + 1000, reason: "http_503" });
});

test("parseRetryAfter reads delta-seconds and the three HTTP-date forms, all in GMT", (t) => {
  // A worker's local zone must not shift a date: run this case away from UTC.
  const zone = process.env["TZ"];
  process.env["TZ"] = "America/New_York";
  t.after(() => (zone === undefined ? delete process.env["TZ"] : (process.env["TZ"] = zone)));
  assert.notEqual(new Date(NOW).getHours(), new Date(NOW).getUTCHours(), "the local zone is not UTC for this case");
  assert.equal(parseRetryAfter("120", NOW), 120_000);
  assert.equal(parseRetryAfter("0", NOW), 0);
  assert.equal(parseRetryAfter("Tue, 15 Jan 2030 12:00:45 GMT", NOW), 45_000); // IMF-fixdate
  assert.equal(parseRetryAfter("Tuesday, 15-Jan-30 12:00:45 GMT", NOW), 45_000); // obsolete RFC 850
  assert.equal(parseRetryAfter("Tue Jan 15 12:00:45 2030", NOW), 45_000); // obsolete asctime, which is GMT
  assert.equal(parseRetryAfter("Tue, 15 Jan 2030 11:00:00 GMT", NOW), 0); // past: no wait
});

test("an unreadable Retry-After is ignored and the backoff is used", () => {
  const junk = ["soon", "", "  ", "1.5", "-5", "120s", "5 minutes", "Infinity", "1e3", "0x10", "May 2031", "next week 2031", "Tuesday 2099", "2030-01-15T12:05:00Z junk"];
  for (const value of junk) {
    assert.equal(parseRetryAfter(value, NOW), undefined, `parseRetryAfter(${JSON.stringify(value)})`);
    assert.deepEqual(decide(response(503, value), 1, POLICY, NOW, LOW), { kind: "retry", at: NOW + 500, reason: "http_503" }, `Retry-After ${JSON.stringify(value)}`);
  }
});

test("decide never throws and never returns a retry in the past", () => {
  const results: AttemptResult[] = [
    response(500, "garbage"),
    response(429, "-1"),
    response(503, "Thu, 01 Jan 1970 00:00:00 GMT"),
    failure("network_error"),
  ];
  for (const result of results) {
    for (const attempt of [1, 2, 4]) {
      const d = decide(result, attempt, POLICY, NOW, LOW);
      assert.equal(d.kind, "retry");
      if (d.kind === "retry") assert.ok(d.at > NOW, `retry at ${d.at} is not after now`);
    }
  }
});
