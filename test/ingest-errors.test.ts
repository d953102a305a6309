/**
 * Every way a request can be refused, through the real app (inject) on a real SQLite queue:
 * the status, the application/problem+json body with its code, a detail that says what to fix,
 * the field at fault, and an empty queue afterwards. Then the forms that are accepted.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { InjectOptions, LightMyRequestResponse } from "fastify";
import { startPipeline, AUTH, ADMIN_TOKEN, type Pipeline } from "./support/harness.js";
import { API_ERRORS, type ApiErrorCode } from "../src/core/errors.js";
import { isPostbackId } from "../src/core/ids.js";

const JSON_TYPE = { "content-type": "application/json" };
const VALID = {
  endpoint: { method: "GET", url: "http://partner.example/data?title={mascot}" },
  data: [{ mascot: "Gopher" }],
};

/** A JSON ingest body with the endpoint changed. */
const withEndpoint = (endpoint: Record<string, unknown>) => ({ endpoint: { ...VALID.endpoint, ...endpoint }, data: VALID.data });
/** A JSON ingest body with data changed (undefined: no data key). */
const withData = (data: unknown) => ({ endpoint: VALID.endpoint, ...(data === undefined ? {} : { data }) });

interface Case {
  name: string;
  request: InjectOptions;
  status: number;
  code: ApiErrorCode;
  /** The `field` the body must carry; undefined: it must carry none. */
  field?: string;
  /** What the detail must say, beyond being a helpful sentence. */
  detail?: RegExp;
  headers?: Record<string, RegExp>;
}

/** POST /ingest with the admin token and a JSON body. */
function ingest(body: unknown, headers: Record<string, string> = JSON_TYPE, url = "/ingest"): InjectOptions {
  return { method: "POST", url, headers: { ...AUTH, ...headers }, payload: typeof body === "string" ? body : JSON.stringify(body) };
}

const CHALLENGE = { "www-authenticate": /^Bearer realm="ferry"$/ };

const CASES: Case[] = [
  // invalid_json
  { name: "malformed JSON as application/json", request: ingest('{"endpoint":'), status: 400, code: "invalid_json", detail: /not valid JSON/ },
  { name: "malformed JSON as text/plain", request: ingest('{"endpoint":', { "content-type": "text/plain" }), status: 400, code: "invalid_json", detail: /not valid JSON/ },
  { name: "malformed JSON with no content type", request: ingest("{endpoint: 1}", {}), status: 400, code: "invalid_json", detail: /not valid JSON/ },
  { name: "a trailing comma", request: ingest('{"endpoint":{"url":"http://h/"},"data":[{}],}'), status: 400, code: "invalid_json", detail: /not valid JSON/ },
  { name: "an empty body with application/json", request: ingest(""), status: 400, code: "invalid_json", detail: /empty/ },
  { name: "a __proto__ key (prototype poisoning)", request: ingest('{"endpoint":{"url":"http://h/"},"data":[{"__proto__":{"admin":true}}]}'), status: 400, code: "invalid_json", detail: /__proto__/ },

  // unsupported_media_type
  { name: "application/xml", request: ingest("<ingest/>", { "content-type": "application/xml" }), status: 415, code: "unsupported_media_type", detail: /application\/json/ },
  { name: "JSON sent as application/xml", request: ingest(VALID, { "content-type": "application/xml" }), status: 415, code: "unsupported_media_type", detail: /application\/xml/ },
  { name: "multipart/form-data", request: ingest("--x--", { "content-type": "multipart/form-data; boundary=x" }), status: 415, code: "unsupported_media_type", detail: /application\/json/ },
  { name: "application/x-www-form-urlencoded on /ingest", request: ingest(VALID, { "content-type": "application/x-www-form-urlencoded" }), status: 415, code: "unsupported_media_type", detail: /application\/json/ },

  // missing_token, invalid_token
  { name: "no Authorization header", request: { method: "POST", url: "/ingest", headers: JSON_TYPE, payload: JSON.stringify(VALID) }, status: 401, code: "missing_token", detail: /Authorization: Bearer/, headers: CHALLENGE },
  { name: "a Basic Authorization header", request: { method: "POST", url: "/ingest", headers: { ...JSON_TYPE, authorization: "Basic dXNlcjpwYXNz" }, payload: JSON.stringify(VALID) }, status: 401, code: "missing_token", detail: /Bearer <token>/, headers: CHALLENGE },
  { name: "a bare token without Bearer", request: { method: "POST", url: "/ingest", headers: { ...JSON_TYPE, authorization: ADMIN_TOKEN }, payload: JSON.stringify(VALID) }, status: 401, code: "missing_token", detail: /Bearer <token>/, headers: CHALLENGE },
  { name: "Bearer with no token", request: { method: "POST", url: "/ingest", headers: { ...JSON_TYPE, authorization: "Bearer " }, payload: JSON.stringify(VALID) }, status: 401, code: "missing_token", headers: CHALLENGE },
  { name: "no token on GET /v1/postbacks/:id", request: { method: "GET", url: "/v1/postbacks/pb_unknown" }, status: 401, code: "missing_token", headers: CHALLENGE },
  { name: "no token is checked before the body is read", request: { method: "POST", url: "/ingest", headers: JSON_TYPE, payload: "{not json" }, status: 401, code: "missing_token", headers: CHALLENGE },
  { name: "a wrong token", request: { method: "POST", url: "/ingest", headers: { ...JSON_TYPE, authorization: "Bearer not-the-admin-token" }, payload: JSON.stringify(VALID) }, status: 401, code: "invalid_token", detail: /FERRY_ADMIN_TOKEN/, headers: CHALLENGE },
  { name: "the admin token with a suffix", request: { method: "POST", url: "/ingest", headers: { ...JSON_TYPE, authorization: `Bearer ${ADMIN_TOKEN}x` }, payload: JSON.stringify(VALID) }, status: 401, code: "invalid_token", headers: CHALLENGE },
  { name: "a wrong token on GET /v1/postbacks/:id", request: { method: "GET", url: "/v1/postbacks/pb_unknown", headers: { authorization: "Bearer nope" } }, status: 401, code: "invalid_token", headers: CHALLENGE },

  // not_found, postback_not_found
  { name: "an unknown route", request: { method: "GET", url: "/nope?x=1" }, status: 404, code: "not_found", detail: /GET \/nope\b/ },
  { name: "an unknown route with a token", request: { method: "POST", url: "/v1/ingest", headers: AUTH, payload: "{}" }, status: 404, code: "not_found", detail: /POST \/v1\/ingest/ },
  { name: "GET /ingest", request: { method: "GET", url: "/ingest", headers: AUTH }, status: 404, code: "not_found", detail: /GET \/ingest/ },
  { name: "an unknown postback id", request: { method: "GET", url: "/v1/postbacks/pb_unknown", headers: AUTH }, status: 404, code: "postback_not_found", detail: /pb_unknown/ },
  { name: "a well-formed postback id never issued", request: { method: "GET", url: "/v1/postbacks/pb_01ARZ3NDEKTSV4RRFFQ69G5FAV", headers: AUTH }, status: 404, code: "postback_not_found", detail: /pb_01ARZ3NDEKTSV4RRFFQ69G5FAV/ },

  // invalid_body
  { name: "an array body", request: ingest([VALID]), status: 422, code: "invalid_body", detail: /JSON object/ },
  { name: "a string body", request: ingest('"hello"'), status: 422, code: "invalid_body", detail: /JSON object/ },
  { name: "a number body", request: ingest("42"), status: 422, code: "invalid_body" },
  { name: "a null body", request: ingest("null"), status: 422, code: "invalid_body" },

  // missing_endpoint
  { name: "no endpoint", request: ingest({ data: VALID.data }), status: 422, code: "missing_endpoint", field: "endpoint", detail: /"endpoint"/ },
  { name: "endpoint null", request: ingest({ endpoint: null, data: VALID.data }), status: 422, code: "missing_endpoint", field: "endpoint" },
  { name: "endpoint as a bare URL string", request: ingest({ endpoint: "http://partner.example/", data: VALID.data }), status: 422, code: "missing_endpoint", field: "endpoint", detail: /"url"/ },
  { name: "endpoint as an array", request: ingest({ endpoint: [VALID.endpoint], data: VALID.data }), status: 422, code: "missing_endpoint", field: "endpoint" },

  // missing_url
  { name: "no endpoint.url", request: ingest({ endpoint: { method: "GET" }, data: VALID.data }), status: 422, code: "missing_url", field: "endpoint.url", detail: /endpoint\.url/ },
  { name: "an empty endpoint.url", request: ingest(withEndpoint({ url: "" })), status: 422, code: "missing_url", field: "endpoint.url" },
  { name: "a blank endpoint.url", request: ingest(withEndpoint({ url: "   " })), status: 422, code: "missing_url", field: "endpoint.url" },
  { name: "endpoint.url as a number", request: ingest(withEndpoint({ url: 42 })), status: 422, code: "missing_url", field: "endpoint.url" },

  // invalid_url
  { name: "an ftp:// URL", request: ingest(withEndpoint({ url: "ftp://partner.example/{mascot}" })), status: 422, code: "invalid_url", field: "endpoint.url", detail: /"ftp".*http and https/ },
  { name: "an upper-case FTP:// URL with no placeholder", request: ingest(withEndpoint({ url: "FTP://partner.example/file" })), status: 422, code: "invalid_url", field: "endpoint.url", detail: /"ftp"/ },
  { name: "a javascript: URL", request: ingest(withEndpoint({ url: "javascript:alert({mascot})" })), status: 422, code: "invalid_url", field: "endpoint.url", detail: /"javascript"/ },
  { name: "a file: URL", request: ingest(withEndpoint({ url: "file:///etc/passwd" })), status: 422, code: "invalid_url", field: "endpoint.url" },
  { name: "a relative URL template", request: ingest(withEndpoint({ url: "/data?title={mascot}" })), status: 422, code: "invalid_url", field: "endpoint.url", detail: /http:\/\/ or https:\/\// },
  { name: "a URL without its scheme", request: ingest(withEndpoint({ url: "partner.example/data?title={mascot}" })), status: 422, code: "invalid_url", field: "endpoint.url", detail: /"partner\.example\/data\?title=\{mascot\}"/ },
  { name: "not a URL at all, no placeholder", request: ingest(withEndpoint({ url: "not a url" })), status: 422, code: "invalid_url", field: "endpoint.url" },
  { name: "a URL template longer than 8 KiB", request: ingest(withEndpoint({ url: "http://partner.example/?" + "x".repeat(8200) })), status: 422, code: "invalid_url", field: "endpoint.url", detail: /characters; the most is 8192/ },
  {
    name: "a host from data that renders to garbage in data[1]",
    request: ingest({ endpoint: { url: "http://{host}/data" }, data: [{ host: "ok.example" }, { host: "not a host" }] }),
    status: 422, code: "invalid_url", field: "data[1]", detail: /data\[1\].*not%20a%20host/,
  },
  {
    name: "a host from data missing in data[0]",
    request: ingest({ endpoint: { url: "http://{host}" }, data: [{}] }),
    status: 422, code: "invalid_url", field: "data[0]", detail: /data\[0\]/,
  },
  // WHATWG URL parsing reads "http:///127.0.0.1:9999/hook" as host 127.0.0.1:9999: a missing
  // value must not move the postback to a host written in the path.
  {
    name: "a host from data missing, leaving a host-like path",
    request: ingest({ endpoint: { url: "http://{partner_host}/127.0.0.1:9999/hook" }, data: [{ partner_host: "ok.example" }, {}] }),
    status: 422, code: "invalid_url", field: "data[1]", detail: /data\[1\].*"http:\/\/\/127\.0\.0\.1:9999\/hook".*no host/,
  },
  { name: "a URL with an empty host", request: ingest(withEndpoint({ url: "http:///x" })), status: 422, code: "invalid_url", field: "endpoint.url", detail: /no host/ },
  { name: "a URL with one slash", request: ingest(withEndpoint({ url: "http:/partner.example/x" })), status: 422, code: "invalid_url", field: "endpoint.url", detail: /no host/ },
  { name: "a URL with an empty host and a userinfo", request: ingest(withEndpoint({ url: "http://@/partner.example/" })), status: 422, code: "invalid_url", field: "endpoint.url" },
  { name: "a URL whose host changes when parsed", request: ingest(withEndpoint({ url: "http://0x7f.1/hook" })), status: 422, code: "invalid_url", field: "endpoint.url", detail: /"0x7f\.1".*"127\.0\.0\.1"/ },
  {
    name: "a host from data that changes when parsed",
    request: ingest({ endpoint: { url: "http://{h}/hook" }, data: [{ h: "ok.example" }, { h: "2130706433" }] }),
    status: 422, code: "invalid_url", field: "data[1]",
  },
  {
    name: "a whole URL from data that is not http(s)",
    request: ingest({ endpoint: { url: "{target}" }, data: [{ target: "http://ok.example/" }, { target: "ftp://x/" }] }),
    status: 422, code: "invalid_url", field: "endpoint.url", detail: /percent-encoded/, // "http%3A%2F%2F..." is never a URL
  },
  {
    name: "a scheme from data is still checked per data object",
    request: ingest({ endpoint: { url: "{scheme}://partner.example/" }, data: [{ scheme: "http" }, { scheme: "gopher" }] }),
    status: 422, code: "invalid_url", field: "data[1]", detail: /"gopher"/,
  },

  // invalid_method
  { name: 'method "FETCH"', request: ingest(withEndpoint({ method: "FETCH" })), status: 422, code: "invalid_method", field: "endpoint.method", detail: /GET, POST, PUT, PATCH, DELETE; got "FETCH"/ },
  { name: "method as a number", request: ingest(withEndpoint({ method: 1 })), status: 422, code: "invalid_method", field: "endpoint.method", detail: /got 1/ },
  { name: "an empty method", request: ingest(withEndpoint({ method: "" })), status: 422, code: "invalid_method", field: "endpoint.method" },
  { name: 'method "HEAD"', request: ingest(withEndpoint({ method: "HEAD" })), status: 422, code: "invalid_method", field: "endpoint.method" },

  // invalid_default
  { name: "default {}", request: ingest(withEndpoint({ default: {} })), status: 422, code: "invalid_default", field: "endpoint.default", detail: /endpoint\.default must be a string/ },
  { name: "default []", request: ingest(withEndpoint({ default: [] })), status: 422, code: "invalid_default", field: "endpoint.default" },

  // invalid_max_attempts
  ...[0, 101, 1.5, -1, "3", true].map((value): Case => ({
    name: `max_attempts ${JSON.stringify(value)}`,
    request: ingest(withEndpoint({ max_attempts: value })),
    status: 422, code: "invalid_max_attempts", field: "endpoint.max_attempts",
    detail: new RegExp(`from 1 to 100; got ${JSON.stringify(value).replace(/[.]/g, "\\.")}`),
  })),

  // invalid_data
  { name: "no data", request: ingest(withData(undefined)), status: 422, code: "invalid_data", field: "data", detail: /non-empty array of objects/ },
  { name: "data []", request: ingest(withData([])), status: 422, code: "invalid_data", field: "data" },
  { name: "data as an object", request: ingest(withData({ mascot: "Gopher" })), status: 422, code: "invalid_data", field: "data" },
  { name: "data [1]", request: ingest(withData([1])), status: 422, code: "invalid_data", field: "data[0]", detail: /data\[0\] must be a JSON object; got number/ },
  { name: 'data ["x"]', request: ingest(withData(["x"])), status: 422, code: "invalid_data", field: "data[0]", detail: /got string/ },
  { name: "data [[]]", request: ingest(withData([[]])), status: 422, code: "invalid_data", field: "data[0]", detail: /got an array/ },
  { name: "data [{}, null]", request: ingest(withData([{}, null])), status: 422, code: "invalid_data", field: "data[1]", detail: /data\[1\] must be a JSON object; got null/ },
];

/** Asserts a problem+json answer: status, content type, code, title, type, detail, field. */
function assertProblem(res: LightMyRequestResponse, c: Omit<Case, "name" | "request">): void {
  assert.ok(res.statusCode < 500, `a 5xx for bad input: ${res.statusCode} ${res.body}`);
  assert.equal(res.statusCode, c.status, res.body);
  assert.match(String(res.headers["content-type"]), /^application\/problem\+json(;|$)/);
  const body = res.json();
  assert.equal(body.code, c.code, res.body);
  assert.equal(body.status, c.status);
  assert.equal(body.type, `urn:ferry:error:${c.code}`);
  assert.equal(body.title, API_ERRORS[c.code].title);
  assert.equal(typeof body.detail, "string");
  assert.ok(body.detail.length >= 20, `detail too short to help: ${JSON.stringify(body.detail)}`);
  assert.notEqual(body.detail, body.title, "detail only repeats the title");
  assert.ok(!/\bundefined\b|\[object Object\]/.test(body.detail), `detail leaks a JS artefact: ${body.detail}`);
  if (c.detail) assert.match(body.detail, c.detail);
  assert.equal(body.field, c.field, `field of ${res.body}`);
  assert.deepEqual(Object.keys(body).sort(), ["code", "detail", "status", "title", "type", ...(c.field === undefined ? [] : ["field"])].sort());
  for (const [name, value] of Object.entries(c.headers ?? {})) assert.match(String(res.headers[name]), value, `header ${name}`);
}

async function assertQueueEmpty(p: Pipeline): Promise<void> {
  assert.deepEqual(await p.backends.queue.stats(), { ready: 0, waiting: 0 }, "a refused request queued something");
}

describe("refused requests", () => {
  let p: Pipeline;
  before(async () => {
    p = await startPipeline({}, { worker: false });
  });
  after(() => p.stop());

  for (const c of CASES) {
    test(`${c.name} → ${c.status} ${c.code}`, async () => {
      assertProblem(await p.app.inject(c.request), c);
      await assertQueueEmpty(p);
    });
  }
});

describe("limits", () => {
  let p: Pipeline;
  before(async () => {
    p = await startPipeline({ max_body_bytes: 2048, max_batch: 2 }, { worker: false });
  });
  after(() => p.stop());

  const big = { endpoint: VALID.endpoint, data: [{ mascot: "x".repeat(3000) }] };

  test("a body over max_body_bytes → 413 body_too_large", async () => {
    assertProblem(await p.app.inject(ingest(big)), { status: 413, code: "body_too_large", detail: /FERRY_MAX_BODY_BYTES/ });
    await assertQueueEmpty(p);
  });

  test("a body over max_body_bytes with no content type → 413 body_too_large", async () => {
    assertProblem(await p.app.inject(ingest(big, {})), { status: 413, code: "body_too_large" });
  });

  test("a body over max_body_bytes as text/plain → 413 body_too_large", async () => {
    assertProblem(await p.app.inject(ingest(big, { "content-type": "text/plain" })), { status: 413, code: "body_too_large" });
  });

  test("a body just under max_body_bytes is taken", async () => {
    const body = JSON.stringify({ endpoint: VALID.endpoint, data: [{ mascot: "" }] });
    const padded = JSON.stringify({ endpoint: VALID.endpoint, data: [{ mascot: "x".repeat(2048 - body.length) }] });
    assert.equal(Buffer.byteLength(padded), 2048);
    const res = await p.app.inject(ingest(padded));
    assert.equal(res.statusCode, 202, res.body);
  });

  test("more data objects than max_batch → 413 too_many_items", async () => {
    const before = await p.backends.queue.stats();
    const res = await p.app.inject(ingest(withData([{ mascot: "a" }, { mascot: "b" }, { mascot: "c" }])));
    assertProblem(res, { status: 413, code: "too_many_items", field: "data", detail: /data has 3 objects; the most in one request is 2/ });
    assert.deepEqual(await p.backends.queue.stats(), before);
  });

  test("exactly max_batch data objects are taken", async () => {
    const res = await p.app.inject(ingest(withData([{ mascot: "a" }, { mascot: "b" }])));
    assert.equal(res.statusCode, 202, res.body);
    assert.equal(res.json().ids.length, 2);
  });
});

describe("accepted requests", () => {
  let p: Pipeline;
  before(async () => {
    p = await startPipeline({}, { worker: false });
  });
  after(() => p.stop());

  const FORMS: { name: string; headers: Record<string, string>; url?: string }[] = [
    { name: "application/json", headers: { "content-type": "application/json" } },
    { name: "application/json; charset=utf-8", headers: { "content-type": "application/json; charset=utf-8" } },
    { name: "Application/JSON in capitals", headers: { "content-type": "Application/JSON" } },
    { name: "text/plain", headers: { "content-type": "text/plain" } },
    { name: "text/plain; charset=utf-8", headers: { "content-type": "text/plain; charset=utf-8" } },
    { name: "application/vnd.x+json", headers: { "content-type": "application/vnd.x+json" } },
    { name: "no content type at all", headers: {} },
    { name: "application/json on /ingest.php", headers: { "content-type": "application/json" }, url: "/ingest.php" },
    { name: "application/x-www-form-urlencoded on /ingest.php (curl -d)", headers: { "content-type": "application/x-www-form-urlencoded" }, url: "/ingest.php" },
    { name: "no content type on /ingest.php", headers: {}, url: "/ingest.php" },
  ];

  for (const form of FORMS) {
    test(`JSON sent as ${form.name} is taken and queued`, async () => {
      const before = await p.backends.queue.stats();
      const res = await p.app.inject(ingest(VALID, form.headers, form.url));
      assert.equal(res.statusCode, 202, res.body);
      assert.match(String(res.headers["content-type"]), /^application\/json/);
      const { ids } = res.json();
      assert.equal(ids.length, 1);
      const got = await p.app.inject({ method: "GET", url: `/v1/postbacks/${ids[0]}`, headers: AUTH });
      assert.equal(got.statusCode, 200, got.body);
      assert.deepEqual(got.json().data, VALID.data[0]);
      const now = await p.backends.queue.stats();
      assert.equal(now.ready + now.waiting, before.ready + before.waiting + 1);
    });
  }

  test('a lower-case method "post" is taken and stored as POST', async () => {
    const res = await p.app.inject(ingest(withEndpoint({ method: "post" })));
    assert.equal(res.statusCode, 202, res.body);
    const got = await p.app.inject({ method: "GET", url: `/v1/postbacks/${res.json().ids[0]}`, headers: AUTH });
    assert.equal(got.json().endpoint.method, "POST");
  });

  test("a missing method means GET", async () => {
    const res = await p.app.inject(ingest({ endpoint: { url: VALID.endpoint.url }, data: VALID.data }));
    assert.equal(res.statusCode, 202, res.body);
    const got = await p.app.inject({ method: "GET", url: `/v1/postbacks/${res.json().ids[0]}`, headers: AUTH });
    assert.equal(got.json().endpoint.method, "GET");
  });

  test("a host only normalised by parsing is taken: case, a default port, IPv6, user info, IDN", async () => {
    for (const url of ["HTTP://Partner.Example:80/x", "https://partner.example:443/x", "http://partner.example:8080/x", "http://[::1]:9/x", "http://[0:0:0:0:0:0:0:1]/x", "http://u:p@partner.example/x", "http://bücher.example/x", "http://{h}/x"]) {
      const res = await p.app.inject(ingest({ endpoint: { url }, data: [{ h: "Partner.Example" }] }));
      assert.equal(res.statusCode, 202, `${url}: ${res.body}`);
    }
  });

  test("a number default and max_attempts at the bounds are taken", async () => {
    for (const endpoint of [{ default: 5, max_attempts: 1 }, { default: true, max_attempts: 100 }, { default: null, max_attempts: null }]) {
      const res = await p.app.inject(ingest(withEndpoint(endpoint)));
      assert.equal(res.statusCode, 202, `${JSON.stringify(endpoint)}: ${res.body}`);
      const got = (await p.app.inject({ method: "GET", url: `/v1/postbacks/${res.json().ids[0]}`, headers: AUTH })).json();
      assert.equal(got.endpoint.default, endpoint.default === null ? p.config.default_value : String(endpoint.default));
      assert.equal(got.endpoint.max_attempts, endpoint.max_attempts ?? p.config.max_attempts);
    }
  });

  test("a 202 answer has one id per data object, in order, each found pending", async () => {
    const data = [{ mascot: "Gopher" }, { mascot: "Tux", n: 2 }, { mascot: "Duke", nested: { a: [1] } }, {}];
    const body = { endpoint: { method: "POST", url: "http://partner.example/hook/{mascot}", default: "none", max_attempts: 4 }, data };
    const res = await p.app.inject(ingest(body));
    assert.equal(res.statusCode, 202, res.body);
    const { ids } = res.json() as { ids: string[] };
    assert.deepEqual(Object.keys(res.json()), ["ids"]);
    assert.equal(ids.length, data.length);
    assert.equal(new Set(ids).size, ids.length, "ids are distinct");
    assert.deepEqual([...ids].sort(), ids, "ids sort in the order of the data objects");
    for (const [i, id] of ids.entries()) {
      assert.ok(isPostbackId(id), `${id} is a postback id`);
      const got = await p.app.inject({ method: "GET", url: `/v1/postbacks/${id}`, headers: AUTH });
      assert.equal(got.statusCode, 200, got.body);
      const pb = got.json();
      assert.equal(pb.id, id);
      assert.equal(pb.state, "pending");
      assert.deepEqual(pb.data, data[i], `ids[${i}] holds data[${i}]`);
      assert.deepEqual(pb.endpoint, { method: "POST", url: body.endpoint.url, default: "none", max_attempts: 4 });
      assert.deepEqual(pb.attempts, []);
    }
  });
});

describe("nothing is queued when a request is refused", () => {
  let p: Pipeline;
  before(async () => {
    p = await startPipeline({}, { worker: false });
  });
  after(() => p.stop());

  test("a batch whose later item is bad queues none of its items", async () => {
    const res = await p.app.inject(ingest(withData([{ mascot: "a" }, { mascot: "b" }, null])));
    assertProblem(res, { status: 422, code: "invalid_data", field: "data[2]" });
    await assertQueueEmpty(p);
  });

  test("a batch whose later item renders a bad URL queues none of its items", async () => {
    const res = await p.app.inject(ingest({ endpoint: { url: "http://{host}/x" }, data: [{ host: "a.example" }, { host: "b.example" }, { host: "bad host" }] }));
    assertProblem(res, { status: 422, code: "invalid_url", field: "data[2]" });
    await assertQueueEmpty(p);
  });

  test("the same batch with the bad item fixed queues every item (the check above can fail)", async () => {
    const res = await p.app.inject(ingest(withData([{ mascot: "a" }, { mascot: "b" }, { mascot: "c" }])));
    assert.equal(res.statusCode, 202, res.body);
    const stats = await p.backends.queue.stats();
    assert.equal(stats.ready + stats.waiting, 3);
  });
});
