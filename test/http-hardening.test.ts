/**
 * The listening server against misbehaving clients, over raw sockets on 127.0.0.1: slow bodies,
 * slow headers and idle connections are timed out and closed; malformed requests, methods no route
 * takes and requests during shutdown are all answered application/problem+json with a code.
 * Short timeouts are configured so the suite stays fast.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type AddressInfo } from "node:net";
import { ConfigError, loadConfig } from "../src/config.js";
import { ADMIN_TOKEN, startPipeline, type Pipeline } from "./support/harness.js";
import { assertProblem, exchange, firstResponse as parse, type Exchange } from "./support/raw-http.js";


let pipeline: Pipeline;
let port: number;

before(async () => {
  pipeline = await startPipeline(
    { request_timeout_ms: 600, headers_timeout_ms: 300, keep_alive_timeout_ms: 300, max_connections: 2000 },
    { worker: false },
  );
  await pipeline.app.listen({ port: 0, host: "127.0.0.1" });
  port = (pipeline.app.server.address() as AddressInfo).port;
});
after(() => pipeline.stop());

const AUTH_LINE = `Authorization: Bearer ${ADMIN_TOKEN}\r\n`;

test("a body that never arrives whole is answered 408 request_timeout and the socket closed", async () => {
  const res = await exchange(
    port,
    `POST /ingest HTTP/1.1\r\nHost: x\r\n${AUTH_LINE}Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`,
    { waitMs: 5000 },
  );
  assert.ok(res.closed, "the server closed the socket");
  assert.ok(res.ms < 3000, `closed after ${res.ms} ms`);
  assertProblem(parse(res.text), 408, "request_timeout", "slow body");
});

test("headers that never end are answered 408 request_timeout and the socket closed", async () => {
  const res = await exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n", { waitMs: 5000 });
  assert.ok(res.closed, "the server closed the socket");
  assert.ok(res.ms < 3000, `closed after ${res.ms} ms`);
  assertProblem(parse(res.text), 408, "request_timeout", "slow headers");
});

test("an answer given before the body was read closes the connection", async () => {
  // No token: 401 at once; the rest of the body would otherwise hold the socket open.
  const res = await exchange(port, "POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{", { waitMs: 5000 });
  assert.ok(res.closed, "the server closed the socket");
  const parsed = parse(res.text);
  assertProblem(parsed, 401, "missing_token", "early 401");
  assert.equal(parsed.headers["connection"], "close");
  assert.ok(res.ms < 500, `closed after ${res.ms} ms, not at the request timeout`);
  // The same on a route that reads no body at all.
  const get = await exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{", { waitMs: 5000 });
  assert.ok(get.closed, "the server closed the /healthz socket");
  assert.equal(parse(get.text).status, 200);
  assert.ok(get.ms < 500, `closed after ${get.ms} ms`);
});

test("an idle keep-alive connection is closed after the keep-alive timeout", async () => {
  // A body read whole leaves the connection open for the next request, until it idles out.
  const res = await exchange(
    port,
    `POST /ingest HTTP/1.1\r\nHost: x\r\n${AUTH_LINE}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
    { waitMs: 5000 },
  );
  const parsed = parse(res.text);
  assert.equal(parsed.status, 422);
  assert.notEqual(parsed.headers["connection"], "close");
  assert.ok(res.closed, "the server closed the idle socket");
  assert.ok(res.ms >= 300 && res.ms < 3000, `closed after ${res.ms} ms`);
});

test("/healthz answers within 100 ms while 1,000 slow clients hold sockets, and they are all freed", async () => {
  // Timeouts long enough that the /healthz checks fall while every slow socket is still open.
  const busy = await startPipeline(
    { request_timeout_ms: 4000, headers_timeout_ms: 3000, keep_alive_timeout_ms: 300 },
    { worker: false },
  );
  try {
    await busy.app.listen({ port: 0, host: "127.0.0.1" });
    const busyPort = (busy.app.server.address() as AddressInfo).port;
    // A first request, so the timings below are not the client's own connection set-up.
    await (await fetch(`http://127.0.0.1:${busyPort}/healthz`)).text();
    const SLOW = 1000;
    const slow: Promise<Exchange>[] = [];
    const connections = () =>
      new Promise<number>((resolve, reject) => busy.app.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    // In batches, so the kernel's accept queue never overflows (a dropped SYN is retried a second later).
    for (let i = 0; i < SLOW; i++) {
      slow.push(
        exchange(
          busyPort,
          i % 2
            ? "GET /healthz HTTP/1.1\r\nHost: x\r\n"
            : `POST /ingest HTTP/1.1\r\nHost: x\r\n${AUTH_LINE}Content-Length: 100000\r\n\r\n{`,
          { waitMs: 12_000 },
        ),
      );
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 20));
    }
    for (let i = 0; i < 100 && (await connections()) < SLOW; i++) await new Promise((r) => setTimeout(r, 20));
    const open = await connections();
    assert.ok(open >= SLOW, `only ${open} slow sockets are open`);
    for (let i = 0; i < 5; i++) {
      const started = Date.now();
      const res = await fetch(`http://127.0.0.1:${busyPort}/healthz`);
      assert.equal(res.status, 200);
      await res.text();
      assert.ok(Date.now() - started < 100, `/healthz took ${Date.now() - started} ms`);
    }
    const results = await Promise.all(slow);
    const left = results.filter((r) => !r.closed).length;
    assert.equal(left, 0, `${left} of ${SLOW} slow sockets were never closed by the server`);
    for (const r of results) assert.equal(parse(r.text).status, 408);
  } finally {
    await busy.stop();
  }
});

test("connections over the cap are refused; those under it are served", async () => {
  const capped = await startPipeline({ max_connections: 3 }, { worker: false });
  try {
    await capped.app.listen({ port: 0, host: "127.0.0.1" });
    const cappedPort = (capped.app.server.address() as AddressInfo).port;
    const holders = Array.from({ length: 3 }, () => connect(cappedPort, "127.0.0.1"));
    await Promise.all(holders.map((s) => new Promise((r) => s.once("connect", r))));
    await new Promise((r) => setTimeout(r, 50));
    const res = await exchange(cappedPort, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", { waitMs: 2000 });
    assert.ok(res.closed && res.text === "", `the fourth connection was not refused: ${JSON.stringify(res.text)}`);
    for (const s of holders) s.destroy();
    await new Promise((r) => setTimeout(r, 50));
    const again = await exchange(cappedPort, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", { waitMs: 2000 });
    assert.equal(parse(again.text).status, 200);
  } finally {
    await capped.stop();
  }
});

test("the connection settings default to bounded values, and headers may not outlast the request", () => {
  const config = loadConfig({});
  assert.equal(config.request_timeout_ms, 60_000);
  assert.equal(config.headers_timeout_ms, 10_000);
  assert.equal(config.keep_alive_timeout_ms, 5_000);
  assert.equal(config.max_connections, 10_000);
  assert.throws(
    () => loadConfig({ FERRY_REQUEST_TIMEOUT_MS: "5000", FERRY_HEADERS_TIMEOUT_MS: "6000" }),
    (err: unknown) => err instanceof ConfigError && /FERRY_HEADERS_TIMEOUT_MS.*FERRY_REQUEST_TIMEOUT_MS/.test(err.message),
  );
  assert.throws(() => loadConfig({ FERRY_REQUEST_TIMEOUT_MS: "0" }), ConfigError, "0 (no timeout at all) is refused");
});
