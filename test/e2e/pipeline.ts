/**
 * The whole delivery path, end to end: the real API (inject), a real worker, real queue and
 * store (SQLite files, or a real Redis and Postgres), and a real HTTP receiver. Nothing is
 * mocked. Each backend's test file calls `pipelineSuite` once. Assertions are about order and counts;
 * the few that involve time use generous bounds.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { drained, eventually, startPipeline as startWith, type Pipeline } from "../support/harness.js";
import { startReceiver, type Receiver, type ReceiverOptions } from "../../src/receiver.js";
import type { Config } from "../../src/config.js";

const SEED_BODY = {
  endpoint: {
    method: "GET",
    url: "http://sample_domain_endpoint.com/data?title={mascot}&image={location}&foo={bar}",
  },
  data: [{ mascot: "Gopher", location: "https://blog.golang.org/gopher/gopher.png" }],
};
const SEED_POSTBACK =
  "http://sample_domain_endpoint.com/data?title=Gopher&image=https%3A%2F%2Fblog.golang.org%2Fgopher%2Fgopher.png&foo=";

/** Settings that choose the backend under test, made anew for each pipeline. */
let backend: () => Partial<Config> | Promise<Partial<Config>> = () => ({});

async function startPipeline(overrides: Partial<Config> = {}): Promise<Pipeline> {
  return startWith({ ...(await backend()), ...overrides });
}

// ---------------------------------------------------------------------------------------------
// Helpers

interface AttemptView {
  attempt: number;
  started_at: string;
  duration_ms: number;
  url: string;
  status_code: number | null;
  error: string | null;
  error_message: string | null;
  response_body: string | null;
}

interface PostbackView {
  id: string;
  state: "pending" | "failed" | "delivered" | "dead";
  reason: string | null;
  next_attempt_at: string | null;
  attempts: AttemptView[];
}

/** GET /v1/postbacks/:id through the real API. */
async function show(p: Pipeline, id: string): Promise<PostbackView> {
  const res = await p.app.inject({
    method: "GET",
    url: `/v1/postbacks/${id}`,
    headers: { authorization: `Bearer ${p.config.admin_token}` },
  });
  assert.equal(res.statusCode, 200, `GET /v1/postbacks/${id}: ${res.body}`);
  return res.json() as PostbackView;
}

/** Polls the API until the postback is in a final state (delivered or dead), and returns it. */
async function settled(p: Pipeline, id: string, timeoutMs = 10_000): Promise<PostbackView> {
  const view = await eventually(
    async () => {
      const v = await show(p, id);
      return v.state === "delivered" || v.state === "dead" ? v : undefined;
    },
    timeoutMs,
    `postback ${id} to be delivered or dead`,
  );
  return view!; // eventually only returns a truthy value
}

/** Ingests and returns the ids, asserting the 202. */
async function ingest(p: Pipeline, body: unknown): Promise<string[]> {
  const res = await p.ingest(body);
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.ids as string[];
}

/** Runs `fn` with a receiver and a pipeline, stopping both however it ends. */
async function withPipeline(
  receiverOptions: ReceiverOptions,
  overrides: Partial<Config>,
  fn: (p: Pipeline, r: Receiver) => Promise<void>,
): Promise<void> {
  const receiver = await startReceiver(receiverOptions);
  let p: Pipeline | undefined;
  try {
    p = await startPipeline(overrides);
    await fn(p, receiver);
  } finally {
    await p?.stop();
    await receiver.close();
  }
}

/**
 * The positive signal a negative check waits for. Queues a marker postback to `r` (one attempt,
 * whatever the receiver answers), waits until it has arrived and is settled, then until the
 * queue is drained. The marker was queued after everything the test is asserting about, and the
 * queue hands out the oldest due entries first, so by then the worker has certainly dealt with
 * those: a check that nothing more arrived cannot pass merely because the worker was slow.
 * Returns the marker's path, for the caller to leave it out of its counts.
 */
async function marker(p: Pipeline, r: Receiver): Promise<string> {
  const path = "/marker";
  const [id] = await ingest(p, { endpoint: { url: `${r.url}${path}`, max_attempts: 1 }, data: [{}] });
  await eventually(() => r.requests.some((q) => q.headers["webhook-id"] === id), 10_000, "the marker postback to arrive");
  await settled(p, id!);
  await drained(p);
  return path;
}

/** Requests `r` got, the marker left out. */
function besides(r: Receiver, markerPath: string) {
  return r.requests.filter((q) => new URL(q.url).pathname !== markerPath);
}

/** Registers every end-to-end test against the backend `settings` selects. */
export function pipelineSuite(name: string, settings: typeof backend): void {
  backend = settings;
  describe(`pipeline on ${name}`, () => {
    test("the seed's sample request produces exactly the seed's sample postback", async () => {
      // The receiver acts as Ferry's HTTP proxy, so it sees the full URL as Ferry rendered it.
      const receiver = await startReceiver();
      const p = await startPipeline({ proxy_url: receiver.url });
      try {
        const res = await p.app.inject({
          method: "POST",
          url: "/ingest.php",
          headers: { authorization: `Bearer ${p.config.admin_token}` },
          payload: JSON.stringify(SEED_BODY),
        });
        assert.equal(res.statusCode, 202);
        assert.equal(res.json().ids.length, 1);
        await receiver.waitFor(1);
        const got = receiver.requests[0]!;
        assert.equal(got.method, "GET");
        assert.equal(got.url, SEED_POSTBACK);
        assert.equal(got.headers["webhook-id"], res.json().ids[0]);
      } finally {
        await p.stop();
        await receiver.close();
      }
    });

    // ---------------------------------------------------------------------------------------------
    // What is sent

    test("POST, PUT and PATCH send the data object as a JSON body; GET and DELETE send no body", async () => {
      await withPipeline({}, {}, async (p, r) => {
        const methods = ["POST", "PUT", "PATCH", "GET", "DELETE"] as const;
        const sent = new Map<string, { method: string; data: Record<string, unknown> }>();
        for (const method of methods) {
          const data = { k: `v-${method}`, n: 7, nested: { ok: true, list: [1, "two"] }, text: "é ☃ \"q\"" };
          const [id] = await ingest(p, { endpoint: { method, url: `${r.url}/m/{k}` }, data: [data] });
          sent.set(id!, { method, data });
        }
        await r.waitFor(methods.length);
        for (const id of sent.keys()) await settled(p, id);
        assert.equal(r.count(), methods.length);
        for (const req of r.requests) {
          const id = req.headers["webhook-id"] as string;
          const expected = sent.get(id);
          assert.ok(expected, `webhook-id ${id} is one of the ingested ids`);
          assert.equal(req.method, expected.method);
          assert.equal(req.url, `${r.url}/m/v-${expected.method}`);
          if (["POST", "PUT", "PATCH"].includes(expected.method)) {
            assert.equal(req.headers["content-type"], "application/json", `${expected.method} content-type`);
            assert.deepEqual(JSON.parse(req.body), expected.data, `${expected.method} body`);
          } else {
            assert.equal(req.body, "", `${expected.method} has no body`);
            assert.equal(req.headers["content-type"], undefined, `${expected.method} has no content-type`);
            assert.ok(
              req.headers["content-length"] === undefined || req.headers["content-length"] === "0",
              `${expected.method} content-length is ${req.headers["content-length"]}`,
            );
            assert.equal(req.headers["transfer-encoding"], undefined, `${expected.method} is not chunked`);
          }
        }
      });
    });

    test("each data object of a request is delivered exactly once when the receiver answers 200", async () => {
      await withPipeline({}, {}, async (p, r) => {
        const data = Array.from({ length: 200 }, (_, i) => ({ i }));
        const ids = await ingest(p, { endpoint: { method: "GET", url: `${r.url}/each?i={i}` }, data });
        assert.equal(ids.length, 200);
        assert.equal(new Set(ids).size, 200, "ids are distinct");
        await r.waitFor(200);
        for (const id of ids) {
          const v = await settled(p, id);
          assert.equal(v.state, "delivered");
          assert.equal(v.attempts.length, 1);
        }
        // Nothing more arrives once everything is delivered: checked once a later postback has
        // arrived and the queue is empty, not after a fixed pause.
        const markerPath = await marker(p, r);
        assert.equal(r.count(), 201, "the 200 postbacks and the marker, nothing else");
        const perId = new Map<string, string[]>();
        for (const req of besides(r, markerPath)) {
          const id = req.headers["webhook-id"] as string;
          perId.set(id, [...(perId.get(id) ?? []), req.url]);
        }
        assert.equal(perId.size, 200);
        ids.forEach((id, i) => assert.deepEqual(perId.get(id), [`${r.url}/each?i=${i}`], `postback ${i} (${id})`));
      });
    });

    test("missing and null keys become the config's default_value, or the request's endpoint.default", async () => {
      await withPipeline({}, { default_value: "cfg-default" }, async (p, r) => {
        const url = `${r.url}/d?a={a}&b={b}`;
        const data = [{ a: "x", b: "y" }, { a: null }, {}];
        const fromConfig = await ingest(p, { endpoint: { url }, data });
        const fromRequest = await ingest(p, { endpoint: { url, default: "req default/&" }, data });
        await r.waitFor(6);
        for (const id of [...fromConfig, ...fromRequest]) assert.equal((await settled(p, id)).state, "delivered");
        const urlOf = (id: string) => r.requests.find((q) => q.headers["webhook-id"] === id)?.url;
        assert.deepEqual(fromConfig.map(urlOf), [
          `${r.url}/d?a=x&b=y`,
          `${r.url}/d?a=cfg-default&b=cfg-default`,
          `${r.url}/d?a=cfg-default&b=cfg-default`,
        ]);
        assert.deepEqual(fromRequest.map(urlOf), [
          `${r.url}/d?a=x&b=y`,
          `${r.url}/d?a=req%20default%2F%26&b=req%20default%2F%26`,
          `${r.url}/d?a=req%20default%2F%26&b=req%20default%2F%26`,
        ]);
      });
    });

    // ---------------------------------------------------------------------------------------------
    // Retries

    test("503 twice then 200: delivered on the third attempt, every attempt recorded with the same webhook-id", async () => {
      const replies = [
        { status: 503, body: "down for a moment" },
        { status: 503, body: "still down" },
        { status: 200, body: "thanks" },
      ];
      await withPipeline({ respond: (_req, n) => replies[n] ?? { status: 500 } }, {}, async (p, r) => {
        const [id] = await ingest(p, { endpoint: { method: "POST", url: `${r.url}/retry`, max_attempts: 5 }, data: [{ x: 1 }] });
        const v = await settled(p, id!);
        assert.equal(v.state, "delivered");
        assert.equal(v.reason, null);
        assert.deepEqual(v.attempts.map((a) => a.attempt), [1, 2, 3]);
        assert.deepEqual(v.attempts.map((a) => a.status_code), [503, 503, 200]);
        assert.deepEqual(v.attempts.map((a) => a.response_body), ["down for a moment", "still down", "thanks"]);
        assert.deepEqual(v.attempts.map((a) => a.error), [null, null, null]);
        assert.equal(r.count(), 3);
        assert.deepEqual(r.requests.map((q) => q.headers["webhook-id"]), [id, id, id]);
        assert.deepEqual(r.requests.map((q) => q.body), ['{"x":1}', '{"x":1}', '{"x":1}']);
        for (let i = 1; i < v.attempts.length; i++) {
          assert.ok(Date.parse(v.attempts[i]!.started_at) >= Date.parse(v.attempts[i - 1]!.started_at), "attempts in order");
        }
      });
    });

    test("when every attempt fails the postback is dead after max_attempts, each attempt recorded", async () => {
      await withPipeline({ respond: (_req, n) => ({ status: 503, body: `no ${n}` }) }, {}, async (p, r) => {
        const [id] = await ingest(p, { endpoint: { url: `${r.url}/down`, max_attempts: 3 }, data: [{}] });
        const v = await settled(p, id!);
        assert.equal(v.state, "dead");
        assert.match(v.reason ?? "", /503/);
        assert.deepEqual(v.attempts.map((a) => a.attempt), [1, 2, 3]);
        assert.deepEqual(v.attempts.map((a) => a.status_code), [503, 503, 503]);
        assert.deepEqual(v.attempts.map((a) => a.response_body), ["no 0", "no 1", "no 2"]);
        assert.equal(v.next_attempt_at, null, "a dead postback is no longer queued");
        const markerPath = await marker(p, r);
        assert.equal(besides(r, markerPath).length, 3, "no attempt after the last");
        assert.equal(r.count(), 4, "the three attempts and the marker");
      });
    });

    test("a 4xx other than 408 and 429 is final after one attempt", async () => {
      for (const status of [400, 404, 410, 422]) {
        await withPipeline({ respond: () => ({ status, body: `said ${status}` }) }, {}, async (p, r) => {
          const [id] = await ingest(p, { endpoint: { url: `${r.url}/final`, max_attempts: 5 }, data: [{}] });
          const v = await settled(p, id!);
          assert.equal(v.state, "dead", `status ${status}`);
          assert.match(v.reason ?? "", new RegExp(String(status)));
          assert.deepEqual(v.attempts.map((a) => a.status_code), [status]);
          assert.deepEqual(v.attempts.map((a) => a.response_body), [`said ${status}`]);
          const markerPath = await marker(p, r);
          assert.equal(besides(r, markerPath).length, 1, `status ${status}: one request only`);
          assert.equal(r.count(), 2, `status ${status}: the one request and the marker`);
        });
      }
    });

    test("429 and 408 are retried", async () => {
      for (const status of [429, 408]) {
        await withPipeline({ respond: (_req, n) => (n === 0 ? { status } : { status: 200 }) }, {}, async (p, r) => {
          const [id] = await ingest(p, { endpoint: { url: `${r.url}/again`, max_attempts: 5 }, data: [{}] });
          const v = await settled(p, id!);
          assert.equal(v.state, "delivered", `status ${status}`);
          assert.deepEqual(v.attempts.map((a) => a.status_code), [status, 200]);
          assert.equal(r.count(), 2);
        });
      }
    });

    // ---------------------------------------------------------------------------------------------
    // Network failures

    test("a response slower than timeout_ms is a timeout attempt, then retried", async () => {
      await withPipeline(
        { respond: (_req, n) => (n === 0 ? { status: 200, delayMs: 1500 } : { status: 200, body: "quick" }) },
        { timeout_ms: 200, lease_ms: 1000 },
        async (p, r) => {
          const [id] = await ingest(p, { endpoint: { url: `${r.url}/slow`, max_attempts: 3 }, data: [{}] });
          const v = await settled(p, id!);
          assert.equal(v.state, "delivered");
          assert.deepEqual(v.attempts.map((a) => a.error), ["timeout", null]);
          assert.deepEqual(v.attempts.map((a) => a.status_code), [null, 200]);
          assert.equal(v.attempts[0]!.response_body, null);
          assert.ok(v.attempts[0]!.error_message, "the timeout has a message");
          assert.ok(v.attempts[0]!.duration_ms < 1500, `the first attempt was cut short (${v.attempts[0]!.duration_ms} ms)`);
          assert.equal(v.attempts[1]!.response_body, "quick");
          assert.equal(r.count(), 2);
        },
      );
    });

    test("a refused connection is recorded as connection_refused and retried", async () => {
      const closed = await startReceiver();
      const url = `${closed.url}/nobody`;
      await closed.close();
      const p = await startPipeline();
      try {
        const [id] = await ingest(p, { endpoint: { url, max_attempts: 3 }, data: [{}] });
        const v = await settled(p, id!);
        assert.equal(v.state, "dead");
        assert.deepEqual(v.attempts.map((a) => a.error), ["connection_refused", "connection_refused", "connection_refused"]);
        assert.deepEqual(v.attempts.map((a) => a.status_code), [null, null, null]);
        assert.match(v.reason ?? "", /connection_refused/);
      } finally {
        await p.stop();
      }
    });

    test("a connection dropped without an answer is a connection_reset, then retried", async () => {
      await withPipeline({ respond: (_req, n) => (n === 0 ? { hangUp: true } : { status: 200 }) }, {}, async (p, r) => {
        const [id] = await ingest(p, { endpoint: { method: "POST", url: `${r.url}/hangup`, max_attempts: 3 }, data: [{ a: 1 }] });
        const v = await settled(p, id!);
        assert.equal(v.state, "delivered");
        assert.equal(v.attempts.length, 2);
        assert.equal(v.attempts[0]!.status_code, null);
        assert.ok(
          ["connection_reset", "network_error"].includes(v.attempts[0]!.error ?? ""),
          `a network error code, got ${v.attempts[0]!.error}`,
        );
        assert.equal(v.attempts[1]!.status_code, 200);
        assert.equal(r.count(), 2);
      });
    });

    test("Retry-After is honoured even when the backoff is shorter", async () => {
      await withPipeline(
        { respond: (_req, n) => (n === 0 ? { status: 429, headers: { "retry-after": "1" } } : { status: 200 }) },
        { retry_base_ms: 10, retry_max_delay_ms: 5000 },
        async (p, r) => {
          const [id] = await ingest(p, { endpoint: { url: `${r.url}/later`, max_attempts: 3 }, data: [{}] });
          const v = await settled(p, id!);
          assert.equal(v.state, "delivered");
          assert.deepEqual(v.attempts.map((a) => a.status_code), [429, 200]);
          assert.equal(r.count(), 2);
          const gap = r.requests[1]!.receivedAt - r.requests[0]!.receivedAt;
          assert.ok(gap >= 900, `second attempt came ${gap} ms after the first; Retry-After asked for 1 s`);
          const recordedGap = Date.parse(v.attempts[1]!.started_at) - Date.parse(v.attempts[0]!.started_at);
          assert.ok(recordedGap >= 900, `recorded attempts ${recordedGap} ms apart`);
        },
      );
    });

    test("only the first response_body_bytes of a response body are recorded", async () => {
      const body = "0123456789abcdefGHIJKLMNOPQRSTUVWXYZ".repeat(100);
      await withPipeline({ respond: () => ({ status: 200, body }) }, { response_body_bytes: 16 }, async (p, r) => {
        const [id] = await ingest(p, { endpoint: { url: `${r.url}/big` }, data: [{}] });
        const v = await settled(p, id!);
        assert.equal(v.state, "delivered");
        assert.equal(v.attempts[0]!.response_body, "0123456789abcdef");
      });
    });

    test("a response body cut inside a multi-byte character keeps only whole characters", async () => {
      // "a" then two-byte "é"s: 16 bytes end halfway through the eighth "é".
      const body = "a" + "é".repeat(20);
      await withPipeline(
        { respond: () => ({ status: 200, body, headers: { "content-type": "text/plain; charset=utf-8" } }) },
        { response_body_bytes: 16 },
        async (p, r) => {
          const [id] = await ingest(p, { endpoint: { url: `${r.url}/utf8` }, data: [{}] });
          const v = await settled(p, id!);
          const kept = v.attempts[0]!.response_body!;
          assert.equal(kept, "a" + "é".repeat(7));
          assert.ok(Buffer.byteLength(kept) <= 16, `${Buffer.byteLength(kept)} bytes kept`);
        },
      );
    });

    // ---------------------------------------------------------------------------------------------
    // Concurrency

    test("no more than origin_concurrency requests are in flight to one origin, and all are delivered", async () => {
      let inFlight = 0;
      let most = 0;
      const DELAY = 100;
      const respond = () => {
        inFlight++;
        most = Math.max(most, inFlight);
        // Scheduled before the receiver's own timer of the same length, so it runs just before the answer.
        setTimeout(() => inFlight--, DELAY);
        return { status: 200, delayMs: DELAY };
      };
      await withPipeline({ respond }, { origin_concurrency: 4 }, async (p, r) => {
        const data = Array.from({ length: 40 }, (_, i) => ({ i }));
        const ids = await ingest(p, { endpoint: { url: `${r.url}/bounded?i={i}` }, data });
        for (const id of ids) assert.equal((await settled(p, id, 30_000)).state, "delivered");
        assert.equal(r.count(), 40);
        assert.equal(new Set(r.requests.map((q) => q.headers["webhook-id"])).size, 40);
        assert.ok(most <= 4, `the receiver saw ${most} requests in flight at once`);
        assert.ok(most >= 2, `requests to one origin still run in parallel (most at once: ${most})`);
      });
    });

    test("a slow origin does not hold up deliveries to another origin", async () => {
      const SLOW = 6;
      let slowAnswered = 0;
      const slow = await startReceiver({
        respond: () => {
          setTimeout(() => slowAnswered++, 2000);
          return { status: 200, delayMs: 2000 };
        },
      });
      const fast = await startReceiver();
      const p = await startPipeline({ origin_concurrency: 2 });
      try {
        const slowIds = await ingest(p, { endpoint: { url: `${slow.url}/slow?i={i}` }, data: Array.from({ length: SLOW }, (_, i) => ({ i })) });
        await slow.waitFor(1);
        const fastIds = await ingest(p, { endpoint: { url: `${fast.url}/fast?i={i}` }, data: Array.from({ length: 10 }, (_, i) => ({ i })) });
        for (const id of fastIds) assert.equal((await settled(p, id)).state, "delivered");
        // Two at a time, 2 s each: the slow origin needs about 6 s for its postbacks.
        assert.ok(slowAnswered < SLOW, `fast postbacks delivered before the slow ones finish (slow answered: ${slowAnswered})`);
        const slowDelivered = (await Promise.all(slowIds.map((id) => show(p, id)))).filter((v) => v.state === "delivered").length;
        assert.ok(slowDelivered < SLOW, `${slowDelivered} slow postbacks already delivered`);
        for (const id of slowIds) assert.equal((await settled(p, id, 30_000)).state, "delivered");
        assert.equal(fast.count(), 10);
        assert.equal(slow.count(), SLOW);
      } finally {
        await p.stop();
        await slow.close();
        await fast.close();
      }
    });

    // ---------------------------------------------------------------------------------------------
    // Safe stop

    test("stop with a grace period lets deliveries in flight finish and records them", async () => {
      await withPipeline({ respond: () => ({ status: 200, delayMs: 300, body: "late ok" }) }, {}, async (p, r) => {
        const ids = await ingest(p, { endpoint: { url: `${r.url}/grace?i={i}` }, data: Array.from({ length: 20 }, (_, i) => ({ i })) });
        await r.waitFor(20);
        await p.worker!.stop(5000);
        // Everything in flight was answered, recorded and settled before stop resolved.
        for (const id of ids) {
          const v = await show(p, id);
          assert.equal(v.state, "delivered", `postback ${id}`);
          assert.deepEqual(v.attempts.map((a) => [a.attempt, a.status_code, a.response_body]), [[1, 200, "late ok"]]);
          assert.equal(v.next_attempt_at, null, "no longer queued");
        }
        assert.equal(r.count(), 20);
      });
    });

    test("stop without a grace period puts deliveries in flight back in the queue, and a new worker delivers them", async () => {
      await withPipeline({ respond: () => ({ status: 200, delayMs: 300 }) }, {}, async (p, r) => {
        const ids = await ingest(p, { endpoint: { url: `${r.url}/nograce?i={i}` }, data: Array.from({ length: 20 }, (_, i) => ({ i })) });
        await r.waitFor(20);
        await p.worker!.stop(0);
        for (const id of ids) {
          const v = await show(p, id);
          assert.equal(v.state, "pending", `postback ${id} is still owed`);
          assert.deepEqual(v.attempts, [], "an attempt cut short by shutdown is not recorded");
          assert.notEqual(v.next_attempt_at, null, "still queued");
        }
        p.startWorker();
        for (const id of ids) {
          const v = await settled(p, id);
          assert.equal(v.state, "delivered");
          // The cut-short attempt was given back, not counted.
          assert.deepEqual(v.attempts.map((a) => [a.attempt, a.status_code]), [[1, 200]]);
        }
        await r.waitFor(40);
        const perId = new Map<string, number>();
        for (const q of r.requests) perId.set(q.headers["webhook-id"] as string, (perId.get(q.headers["webhook-id"] as string) ?? 0) + 1);
        for (const id of ids) assert.equal(perId.get(id), 2, `postback ${id}: once cut short, once delivered`);
      });
    });
  });
}
