/**
 * A partner's Retry-After pauses its destination on every worker (issue 14): `ferry api` and
 * two `ferry worker`s on one Redis and one Postgres. The worker that got the 429 pauses at
 * once and stores the pause with its flush; the other reads it within its destination cache's
 * 1 s. So after that second nothing reaches the partner until the pause ends, and the
 * postbacks that waited are not counted as attempts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { apiCall, scaleOut } from "./support/scale-out.js";
import { killAll, startServer, startWorker, until } from "./support/processes.js";
import { startReceiver } from "../src/receiver.js";

const TOKEN = "pause-redis-admin-token-0123456789";
const layout = await scaleOut("pause", TOKEN);

const api = (base: string, method: string, path: string, token: string, body?: unknown) => apiCall(base, token, method, path, body);

test("two workers: a 429 with Retry-After: 3 stops both from sending to that destination until then", async (t) => {
  const PAUSE_S = 3;
  let first = true;
  const receiver = await startReceiver({
    respond: () => {
      if (!first) return { status: 200, delayMs: 100 };
      first = false;
      return { status: 429, headers: { "retry-after": String(PAUSE_S) } };
    },
  });
  const settings = layout.env({
    FERRY_ORIGIN_CONCURRENCY: "4",
    FERRY_RETRY_BASE_MS: "50",
    FERRY_LOG_LEVEL: "info",
  });
  try {
    const server = await startServer("api", settings);
    const workers = await Promise.all([startWorker(settings), startWorker(settings)]);
    const account = await api(server.url, "POST", "/v1/accounts", TOKEN, { name: "Acme", email: "ops@acme.test" });
    const { token } = await api(server.url, "POST", `/v1/accounts/${account.id}/tokens`, TOKEN, { name: "ci" });
    const d = await api(server.url, "POST", "/v1/destinations", token, { url: `${receiver.url}/hook`, method: "POST" });
    const N = 200;
    const pushed = await api(server.url, "POST", "/v1/push", token, Array.from({ length: N }, (_, i) => ({ i })));
    assert.equal(pushed.postbacks.length, N);

    await until(() => receiver.count() >= 1, 10_000, () => "the first request");
    const t0 = receiver.requests[0]!.receivedAt;
    let view: any;
    await until(async () => (view = await api(server.url, "GET", `/v1/destinations/${d.id}`, token)).paused_until !== null, 3_000, () => "paused_until shown");
    assert.equal(view.pause_reason, `http_429 with Retry-After: ${PAUSE_S}`);
    const pausedUntil = Date.parse(view.paused_until);
    assert.ok(pausedUntil - t0 >= PAUSE_S * 1000 - 100 && pausedUntil - t0 <= PAUSE_S * 1000 + 500, `paused for ${pausedUntil - t0} ms`);

    await until(() => receiver.count() >= N + 1, 30_000, () => `all delivered; got ${receiver.count()}`);
    // From a second after the 429 (the other worker's cache) to the pause's end: nothing.
    const during = receiver.requests.filter((r) => r.receivedAt >= t0 + 1_500 && r.receivedAt < pausedUntil - 20);
    assert.deepEqual(during.map((r) => r.receivedAt - t0), [], "requests while every worker should be paused (ms after the 429)");
    const before = receiver.requests.filter((r) => r.receivedAt > t0 && r.receivedAt < t0 + 1_500).length;
    const afterPause = receiver.requests.filter((r) => r.receivedAt >= pausedUntil - 20).length;
    assert.ok(afterPause > N / 2, `most were sent after the pause (${afterPause}; ${before} in the first 1.5 s)`);

    // Both workers delivered; the one that got the 429 logged the pause. No postback was
    // charged an attempt for waiting: N + 1 attempts in all.
    await until(() => workers.reduce((n, w) => n + w.logs().filter((l) => l.msg === "attempt").length, 0) >= N + 1, 5_000, () => "attempt log lines");
    const attempts = workers.map((w) => w.logs().filter((l) => l.msg === "attempt").length);
    assert.ok(attempts.every((n) => n > 0), `both workers sent: ${attempts}`);
    assert.equal(attempts[0]! + attempts[1]!, N + 1, `attempts: ${attempts}`);
    const pauseLines = workers.flatMap((w) => w.logs().filter((l) => /paused by its partner's Retry-After/.test(String(l.msg))));
    assert.equal(pauseLines.length, 1);
    const resumed = receiver.requests.find((r) => r.receivedAt >= t0 + 1_500)!.receivedAt - t0;
    const lastBefore = Math.max(...receiver.requests.filter((r) => r.receivedAt < t0 + 1_500).map((r) => r.receivedAt)) - t0;
    t.diagnostic(`two workers: last request ${lastBefore} ms after the 429, next ${resumed} ms after it (paused ${pausedUntil - t0} ms); attempts per worker ${attempts}`);
  } finally {
    await killAll();
    await receiver.close();
  }
});
