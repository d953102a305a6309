/**
 * Input that once answered 5xx or was taken and then could never be delivered, through the real
 * app (inject) on real SQLite files: JSON nested too deeply, a query parameter given twice, and
 * destination headers that the HTTP client would refuse to send.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { LightMyRequestResponse } from "fastify";
import { ADMIN_TOKEN, eventually, startPipeline, type Pipeline } from "./support/harness.js";
import { startReceiver } from "../src/receiver.js";
import { API_ERRORS, type ApiErrorCode } from "../src/core/errors.js";
import { MAX_JSON_DEPTH } from "../src/api/json-depth.js";

interface Answer {
  status: number;
  body: any;
  res: LightMyRequestResponse;
}

/** One request with a token; a string body is sent as it is, anything else as JSON. */
async function call(p: Pipeline, method: string, url: string, token: string, body?: unknown, contentType = "application/json"): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = contentType;
  const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  const res = await p.app.inject({ method: method as "GET", url, headers, ...(payload !== undefined ? { payload } : {}) });
  return { status: res.statusCode, body: res.body === "" ? undefined : res.json(), res };
}

function assertProblem(a: Answer, status: number, code: ApiErrorCode, field?: string, detail?: RegExp): void {
  assert.ok(a.status < 500, `a 5xx for a client mistake: ${a.status} ${a.res.body}`);
  assert.equal(a.status, status, a.res.body);
  assert.equal(API_ERRORS[code].status, status);
  assert.match(String(a.res.headers["content-type"]), /^application\/problem\+json(;|$)/);
  assert.equal(a.body.code, code, a.res.body);
  assert.equal(a.body.field, field, a.res.body);
  if (detail) assert.match(a.body.detail, detail);
}

/** `depth` arrays, one inside the next, as JSON text: [[[...]]]. */
const nested = (depth: number): string => "[".repeat(depth) + "]".repeat(depth);

const INGEST_ENDPOINT = '{"method":"GET","url":"http://partner.example/data?title={mascot}"}';

describe("hardening, SQLite", () => {
  let p: Pipeline;
  let accountId: string;
  let accountToken: string;

  before(async () => {
    p = await startPipeline({}, { worker: false });
    const account = await call(p, "POST", "/v1/accounts", ADMIN_TOKEN, { name: "Acme" });
    assert.equal(account.status, 201, account.res.body);
    accountId = account.body.id;
    const token = await call(p, "POST", `/v1/accounts/${accountId}/tokens`, ADMIN_TOKEN);
    assert.equal(token.status, 201, token.res.body);
    accountToken = token.body.token;
  });
  after(() => p.stop());

  describe("JSON nested too deeply is 422 too_deep on every route that takes a body", () => {
    // A data object {"z":[[[…5,000 levels…]]]}: about 10 KB, far inside the body limit.
    const deepObject = `{"z":${nested(5000)}}`;
    const routes: { name: string; method: string; url: () => string; body: () => string; contentType?: string }[] = [
      { name: "POST /ingest", method: "POST", url: () => "/ingest", body: () => `{"endpoint":${INGEST_ENDPOINT},"data":[${deepObject}]}` },
      { name: "POST /ingest.php", method: "POST", url: () => "/ingest.php", body: () => `{"endpoint":${INGEST_ENDPOINT},"data":[${deepObject}]}` },
      {
        name: "POST /ingest.php as a form",
        method: "POST",
        url: () => "/ingest.php",
        body: () => `{"endpoint":${INGEST_ENDPOINT},"data":[${deepObject}]}`,
        contentType: "application/x-www-form-urlencoded",
      },
      { name: "POST /ingest as text/plain", method: "POST", url: () => "/ingest", body: () => `{"endpoint":${INGEST_ENDPOINT},"data":[${deepObject}]}`, contentType: "text/plain" },
      { name: "POST /v1/push", method: "POST", url: () => `/v1/push?account_id=${accountId}`, body: () => deepObject },
      { name: "POST /server/incoming_data", method: "POST", url: () => `/server/incoming_data?account_id=${accountId}`, body: () => deepObject },
      { name: "POST /v1/accounts metadata", method: "POST", url: () => "/v1/accounts", body: () => `{"name":"Deep","metadata":${deepObject}}` },
      { name: "PATCH /v1/accounts/{id} metadata", method: "PATCH", url: () => `/v1/accounts/${accountId}`, body: () => `{"metadata":${deepObject}}` },
    ];
    for (const route of routes) {
      test(route.name, async () => {
        const a = await call(p, route.method, route.url(), ADMIN_TOKEN, route.body(), route.contentType);
        assertProblem(a, 422, "too_deep", undefined, new RegExp(`${MAX_JSON_DEPTH} levels`));
      });
    }

    test("nothing was queued or stored from a refused body", async () => {
      const { ready, waiting } = await p.backends.queue.stats();
      assert.equal(ready + waiting, 0);
      const account = await call(p, "GET", `/v1/accounts/${accountId}`, ADMIN_TOKEN);
      assert.deepEqual(account.body.metadata, {});
    });

    test(`a body exactly ${MAX_JSON_DEPTH} levels deep is taken; one more is refused`, async () => {
      // The push body is the data object itself: {"z": ...} is one level, the arrays the rest.
      const atLimit = await call(p, "POST", `/v1/push?account_id=${accountId}`, ADMIN_TOKEN, `{"z":${nested(MAX_JSON_DEPTH - 1)}}`);
      assert.equal(atLimit.status, 202, atLimit.res.body);
      const over = await call(p, "POST", `/v1/push?account_id=${accountId}`, ADMIN_TOKEN, `{"z":${nested(MAX_JSON_DEPTH)}}`);
      assertProblem(over, 422, "too_deep");
    });

    test("brackets inside strings, escaped quotes included, are not nesting", async () => {
      const text = JSON.stringify({ z: "[{".repeat(5000) + '\\"[[' + '"'.repeat(3) });
      const a = await call(p, "POST", `/v1/push?account_id=${accountId}`, ADMIN_TOKEN, text);
      assert.equal(a.status, 202, a.res.body);
    });

    test("malformed JSON that is deep but never closes is still refused with a 4xx", async () => {
      const a = await call(p, "POST", `/v1/push?account_id=${accountId}`, ADMIN_TOKEN, "[".repeat(5000));
      assertProblem(a, 422, "too_deep");
      const shallow = await call(p, "POST", `/v1/push?account_id=${accountId}`, ADMIN_TOKEN, "[[[");
      assertProblem(shallow, 400, "invalid_json");
    });
  });

  describe("a repeated (or empty) query parameter is 422 invalid_query naming it, on every route that reads the query", () => {
    const routes: { name: string; method: string; url: () => string; param: string; token?: () => string; body?: unknown }[] = [
      { name: "POST /v1/push ?account_id twice", method: "POST", url: () => `/v1/push?account_id=${accountId}&account_id=acct_other`, param: "account_id", body: { a: 1 } },
      { name: "POST /v1/push ?type twice", method: "POST", url: () => `/v1/push?account_id=${accountId}&type=a&type=b`, param: "type", body: { a: 1 } },
      { name: "POST /v1/push ?type twice, with an account token", method: "POST", url: () => "/v1/push?type=a&type=b", param: "type", token: () => accountToken, body: { a: 1 } },
      { name: "POST /v1/push ?account_id empty", method: "POST", url: () => "/v1/push?account_id=", param: "account_id", body: { a: 1 } },
      { name: "POST /v1/push ?type empty", method: "POST", url: () => `/v1/push?account_id=${accountId}&type=`, param: "type", body: { a: 1 } },
      { name: "POST /server/incoming_data ?account_id twice", method: "POST", url: () => `/server/incoming_data?account_id=${accountId}&account_id=${accountId}`, param: "account_id", body: { a: 1 } },
      { name: "POST /server/incoming_data ?type twice", method: "POST", url: () => `/server/incoming_data?account_id=${accountId}&type=a&type=a`, param: "type", body: { a: 1 } },
      { name: "GET /v1/accounts ?limit twice", method: "GET", url: () => "/v1/accounts?limit=1&limit=2", param: "limit" },
      { name: "GET /v1/accounts ?after twice", method: "GET", url: () => "/v1/accounts?after=a&after=b", param: "after" },
      { name: "GET /v1/destinations ?account_id twice", method: "GET", url: () => `/v1/destinations?account_id=${accountId}&account_id=acct_other`, param: "account_id" },
      { name: "GET /v1/destinations ?limit twice", method: "GET", url: () => `/v1/destinations?account_id=${accountId}&limit=1&limit=2`, param: "limit" },
      { name: "GET /v1/destinations ?after twice", method: "GET", url: () => `/v1/destinations?account_id=${accountId}&after=a&after=b`, param: "after" },
    ];
    for (const route of routes) {
      test(route.name, async () => {
        const a = await call(p, route.method, route.url(), route.token?.() ?? ADMIN_TOKEN, route.body);
        assertProblem(a, 422, "invalid_query", route.param, new RegExp(route.param));
      });
    }

    test("nothing was queued from a refused push", async () => {
      const { ready, waiting } = await p.backends.queue.stats();
      assert.equal(ready + waiting, 0);
    });
  });

  describe("destination headers that could never be sent are 422 invalid_headers naming the header", () => {
    const bad: { name: string; headers: Record<string, string>; field: string }[] = [
      { name: "an emoji value", headers: { "X-A": "😀" }, field: "headers.X-A" },
      { name: "a value beyond Latin-1", headers: { "X-A": "ĀB" }, field: "headers.X-A" },
      { name: "a CR", headers: { "X-A": "a\rb" }, field: "headers.X-A" },
      { name: "an LF", headers: { "X-A": "a\nb" }, field: "headers.X-A" },
      { name: "a NUL", headers: { "X-A": "a\u0000b" }, field: "headers.X-A" },
      { name: "a DEL", headers: { "X-A": "a\u007fb" }, field: "headers.X-A" },
      { name: "a name with a space", headers: { "X A": "v" }, field: "headers.X A" },
      { name: "a name with a colon", headers: { "X-A:": "v" }, field: "headers.X-A:" },
      { name: "a name beyond ASCII", headers: { "X-Ä": "v" }, field: "headers.X-Ä" },
      { name: "an empty name", headers: { "": "v" }, field: "headers." },
    ];
    let n = 0;
    const url = () => `https://partner.example/headers/${++n}?id={id}`;
    for (const c of bad) {
      test(`POST /v1/destinations: ${c.name}`, async () => {
        const a = await call(p, "POST", "/v1/destinations", accountToken, { url: url(), headers: c.headers });
        assertProblem(a, 422, "invalid_headers", c.field);
      });
    }

    test("PATCH /v1/destinations/{id} refuses them too, and the destination keeps its headers", async () => {
      const created = await call(p, "POST", "/v1/destinations", accountToken, { url: url(), headers: { "X-A": "ok" } });
      assert.equal(created.status, 201, created.res.body);
      for (const c of bad) {
        const a = await call(p, "PATCH", `/v1/destinations/${created.body.id}`, accountToken, { headers: c.headers });
        assertProblem(a, 422, "invalid_headers", c.field);
      }
      const read = await call(p, "GET", `/v1/destinations/${created.body.id}`, accountToken);
      assert.deepEqual(read.body.headers, { "X-A": "ok" });
    });

    test("a tab, Latin-1 letters and visible ASCII are taken as they are, and delivered", async () => {
      const receiver = await startReceiver();
      // A pipeline of its own with a worker: the shared one queued postbacks to partner.example
      // (names the tests may not resolve), which a worker there would try to send.
      const own = await startPipeline();
      try {
        const account = await call(own, "POST", "/v1/accounts", ADMIN_TOKEN, { name: "Latin" });
        const token = (await call(own, "POST", `/v1/accounts/${account.body.id}/tokens`, ADMIN_TOKEN)).body.token as string;
        const headers = { "X-A": "a\tb", "X-Latin": "café ÿ", "X-Ascii": "!~ \"quoted\" {x}" };
        const a = await call(own, "POST", "/v1/destinations", token, { url: `${receiver.url}/latin?id={id}`, headers });
        assert.equal(a.status, 201, a.res.body);
        assert.deepEqual(a.body.headers, headers);
        const pushed = await call(own, "POST", "/v1/push", token, { id: 1 });
        assert.equal(pushed.status, 202, pushed.res.body);
        const got = (await eventually(() => receiver.requests.find((r) => new URL(r.url).pathname === "/latin"), 10_000, "the delivery"))!;
        // Node's HTTP server reads header bytes as Latin-1, as undici wrote them.
        assert.equal(got.headers["x-a"], "a\tb");
        assert.equal(got.headers["x-latin"], "café ÿ");
        assert.equal(got.headers["x-ascii"], headers["X-Ascii"]);
      } finally {
        await own.stop();
        await receiver.close();
      }
    });
  });
});
