/**
 * Every answer Ferry gives is application/problem+json with a code, also where Node or fastify
 * answer before any route runs: malformed requests, oversized headers, bad paths, methods no
 * route takes, and requests that arrive while Ferry shuts down. Each case over a raw socket
 * against a listening server on 127.0.0.1.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { ADMIN_TOKEN, startPipeline, type Pipeline } from "./support/harness.js";
import { assertProblem, exchange, parseResponses } from "./support/raw-http.js";

let pipeline: Pipeline;
let port: number;

before(async () => {
  pipeline = await startPipeline({}, { worker: false });
  await pipeline.app.listen({ port: 0, host: "127.0.0.1" });
  port = (pipeline.app.server.address() as AddressInfo).port;
});
after(() => pipeline.stop());

const AUTH_LINE = `Authorization: Bearer ${ADMIN_TOKEN}\r\n`;

const CASES: { what: string; request: string; status: number; code: string }[] = [
  { what: "a bad request line", request: "GARBAGE\r\n\r\n", status: 400, code: "bad_request" },
  { what: "an unknown method", request: "FOO /healthz HTTP/1.1\r\nHost: x\r\n\r\n", status: 400, code: "bad_request" },
  { what: "a CR in a header value", request: "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", status: 400, code: "bad_request" },
  { what: "a NUL in a header value", request: "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", status: 400, code: "bad_request" },
  { what: "an LF alone in a header name", request: "GET /healthz HTTP/1.1\r\nHost: x\r\nX-\nA: b\r\n\r\n", status: 400, code: "bad_request" },
  {
    what: "Content-Length with Transfer-Encoding",
    request: `POST /ingest HTTP/1.1\r\nHost: x\r\n${AUTH_LINE}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    status: 400,
    code: "bad_request",
  },
  { what: "a negative Content-Length", request: `POST /ingest HTTP/1.1\r\nHost: x\r\n${AUTH_LINE}Content-Length: -1\r\n\r\n`, status: 400, code: "bad_request" },
  { what: "headers too large", request: `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`, status: 431, code: "headers_too_large" },
  { what: "a malformed percent-escape in the path", request: `GET /v1/accounts/%ZZ HTTP/1.1\r\nHost: x\r\n${AUTH_LINE}\r\n`, status: 400, code: "bad_request" },
  { what: "an id over 100 characters", request: `GET /v1/accounts/${"a".repeat(101)} HTTP/1.1\r\nHost: x\r\n${AUTH_LINE}\r\n`, status: 414, code: "url_too_long" },
  { what: "CONNECT", request: "CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n", status: 405, code: "method_not_allowed" },
  { what: "a method no route takes", request: "PURGE /healthz HTTP/1.1\r\nHost: x\r\n\r\n", status: 405, code: "method_not_allowed" },
  { what: "TRACE", request: "TRACE /healthz HTTP/1.1\r\nHost: x\r\n\r\n", status: 405, code: "method_not_allowed" },
];

for (const c of CASES) {
  test(`${c.what} is answered ${c.status} ${c.code} as problem+json`, async () => {
    const res = await exchange(port, [c.request]);
    assertProblem(parseResponses(res.text)[0], c.status, c.code, c.what);
  });
}

test("a request that arrives while Ferry shuts down is answered 503 shutting_down with Retry-After", async () => {
  const closing = await startPipeline({}, { worker: false });
  await closing.app.listen({ port: 0, host: "127.0.0.1" });
  const closingPort = (closing.app.server.address() as AddressInfo).port;
  let closed: Promise<void> | undefined;
  // The first request is under way (its body not yet sent) when the shutdown begins; the second
  // comes on the same connection after it.
  const res = await exchange(
    closingPort,
    [
      `POST /ingest HTTP/1.1\r\nHost: x\r\n${AUTH_LINE}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{`,
      "}GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    { pauseMs: 100, between: () => (closed = closing.stop()) },
  );
  await closed;
  const [first, second] = parseResponses(res.text);
  assert.ok(first, "the request under way was answered");
  assertProblem(second, 503, "shutting_down", "during shutdown");
  assert.equal(second!.headers["retry-after"], "1");
  assert.equal(second!.headers["connection"], "close");
});
