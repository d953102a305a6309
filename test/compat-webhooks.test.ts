/**
 * fun-with-webhooks (seed 003) on SQLite: the core flow (test/e2e/webhooks.ts); bad input and
 * who may register; the SSRF guard; timeouts and refused connections counting as failures; and,
 * against a real `ferry start` process, the webhook-consumer's own registration request replayed
 * byte for byte and `ferry demo calls` playing the call generator into a real receiver.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { AUTH, drained, eventually, startPipeline, type Pipeline } from "./support/harness.js";
import { startReceiver, type Receiver } from "../src/receiver.js";
import { call, ok } from "./support/api.js";
import { freePort, killAll, spawnFerry, startServer, type ServerProcess } from "./support/processes.js";
import { alreadyRegistered, client, pushCalls, register, registered, REGISTRATION, REGISTRATION_TOKEN, webhooksConfig, webhooksSuite } from "./e2e/webhooks.js";
import { contactNumbers, pickHalf } from "../src/cli/demo-calls.js";
import type { Config } from "../src/config.js";
import { DestinationCache } from "../src/delivery/destinations.js";

webhooksSuite("SQLite", () => ({}));

/** A registration from an address outside the trusted networks. */
function from(p: Pipeline, remoteAddress: string, body: unknown, headers: Record<string, string> = {}) {
  return p.app
    .inject({ method: "POST", url: "/webhook", remoteAddress, headers: { "content-type": "application/json", ...headers }, payload: JSON.stringify(body) })
    .then((res) => ({ status: res.statusCode, body: res.body ? res.json() : undefined, headers: res.headers }));
}

describe("fun-with-webhooks: bad input and who may register", () => {
  let p: Pipeline;
  before(async () => {
    p = await startPipeline({ ...webhooksConfig(), trusted_networks: "10.1.0.0/16" }, { worker: false });
  });
  after(() => p.stop());
  const good = { name: "good-client", callbackURL: "http://127.0.0.1:9/calls" };

  /** A 400 listing Joi-shaped problems, each with Ferry's code; returns them. */
  async function invalid(body: unknown, what: string): Promise<any[]> {
    const c = await register(p, body);
    assert.equal(c.status, 400, `${what}: ${JSON.stringify(c.body)}`);
    assert.ok(Array.isArray(c.body) && c.body.length > 0, `${what}: a list`);
    for (const item of c.body) {
      assert.equal(item.code, "invalid_registration", what);
      assert.equal(typeof item.message, "string");
      assert.ok(Array.isArray(item.path));
      assert.equal(typeof item.type, "string");
    }
    return c.body;
  }

  test("a name of 2 or 256 characters is 400 string.min / string.max, as Joi said it", async () => {
    const short = await invalid({ name: "ab", callbackURL: good.callbackURL }, "2 characters");
    assert.deepEqual(short, [
      {
        message: '"name" length must be at least 3 characters long',
        path: ["name"],
        type: "string.min",
        context: { limit: 3, value: "ab", key: "name", label: "name" },
        code: "invalid_registration",
      },
    ]);
    const long = await invalid({ name: "x".repeat(256), callbackURL: good.callbackURL }, "256 characters");
    assert.equal(long[0].type, "string.max");
    assert.equal(long[0].message, '"name" length must be less than or equal to 255 characters long');
    const nul = await invalid({ name: "a\u0000b", callbackURL: good.callbackURL }, "a NUL, which no store takes");
    assert.deepEqual(nul.map((x) => x.path), [["name"]]);
    registered(await register(p, { name: "café ☕ client", callbackURL: good.callbackURL }), "any other characters");
    registered(await register(p, { name: "abc", callbackURL: good.callbackURL }), "3 characters");
    registered(await register(p, { name: "y".repeat(255), callbackURL: good.callbackURL }), "255 characters");
  });

  test("a callback that is no URL, or not http(s), is 400 string.uriCustomScheme", async () => {
    for (const callbackURL of ["not a url", "ftp://files.example/calls", "javascript:alert(1)", "http://", "/calls", "http://exa mple.com/", "http://127.0.0.1:9/{id}"]) {
      const problems = await invalid({ name: "bad-url", callbackURL }, JSON.stringify(callbackURL));
      assert.deepEqual(problems.map((x) => x.type), ["string.uriCustomScheme"], callbackURL);
      assert.equal(problems[0].message, '"callbackURL" must be a valid uri with a scheme matching the http|https pattern');
      assert.deepEqual(problems[0].path, ["callbackURL"]);
    }
    const long = await invalid({ name: "long-url", callbackURL: `https://partner.example/${"a".repeat(240)}` }, "a 264-character URL");
    assert.deepEqual(long.map((x) => x.type), ["string.max"]);
  });

  test("missing fields, wrong types and unknown fields are each listed, all in one answer", async () => {
    const none = await invalid({}, "an empty object");
    assert.deepEqual(none.map((x) => [x.type, x.message]), [
      ["any.required", '"name" is required'],
      ["any.required", '"callbackURL" is required'],
    ]);
    const wrong = await invalid({ name: 42, callbackURL: "", extra: true }, "wrong types and an unknown field");
    assert.deepEqual(wrong.map((x) => x.type), ["string.base", "any.empty", "object.allowUnknown"]);
    assert.equal(wrong[2].message, '"extra" is not allowed');
    const empty = await p.app.inject({ method: "POST", url: "/webhook", headers: REGISTRATION });
    assert.equal(empty.statusCode, 400, empty.body);
    assert.deepEqual(empty.json().map((x: any) => x.type), ["any.required", "any.required"], "no body at all: both fields missing");
    const notObject = await invalid([good], "an array");
    assert.deepEqual(notObject.map((x) => x.type), ["object.base"]);
  });

  test("a body that is not JSON is 400 invalid_json in the same list shape, never a 5xx", async () => {
    const res = await p.app.inject({ method: "POST", url: "/webhook", headers: { "content-type": "application/json", ...REGISTRATION }, payload: "{name" });
    assert.equal(res.statusCode, 400, res.body);
    const body = res.json();
    assert.ok(Array.isArray(body), res.body);
    assert.equal(body[0].code, "invalid_json");
    assert.equal(body[0].errorCode, "INVALID_JSON");
  });

  test("outside the trusted networks: no token or a wrong one is 401; the admin's and an account's are not the registration token", async () => {
    const none = await from(p, "192.0.2.7", good);
    assert.equal(none.status, 401, JSON.stringify(none.body));
    assert.equal(none.body[0].code, "missing_token");
    assert.equal(none.body[0].errorCode, "MISSING_TOKEN");
    assert.match(String(none.headers["www-authenticate"]), /^Bearer/);
    const wrong = await from(p, "192.0.2.7", good, { authorization: "Bearer not-the-registration-token" });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body[0].code, "invalid_token");
    const almost = await from(p, "192.0.2.7", good, { authorization: `Bearer ${REGISTRATION_TOKEN}x` });
    assert.equal(almost.status, 401, "a longer token");
    const admin = await from(p, "192.0.2.7", good, AUTH);
    assert.equal(admin.status, 401, "the admin token does not register");
    const acct = ok(await call(p, "POST", "/v1/accounts", { name: "Other" }), 201, "account");
    const token = ok(await call(p, "POST", `/v1/accounts/${acct.id}/tokens`, {}), 201, "token").token;
    const asAccount = await from(p, "192.0.2.7", good, { authorization: `Bearer ${token}` });
    assert.equal(asAccount.status, 401, "an account token does not register");
    const none2 = ok(await call(p, "GET", `/v1/accounts?external_id=${encodeURIComponent("webhooks:good-client")}`), 200, "lookup");
    assert.deepEqual(none2.data, [], "nothing was registered by the refused requests");

    registered(await from(p, "192.0.2.7", good, REGISTRATION), "with the registration token");
    registered(await from(p, "10.1.2.3", { ...good, name: "trusted-client" }), "from a trusted network, no token");
    registered(await from(p, "::ffff:10.1.2.4", { ...good, name: "trusted-client-2" }), "from a trusted network, IPv4-mapped");
    const untrusted = await from(p, "10.2.0.1", { ...good, name: "untrusted" });
    assert.equal(untrusted.status, 401, "next to the trusted network is outside it");
  });

  test("the registration token cannot use the rest of the API; the route needs nothing from it", async () => {
    const res = await call(p, "GET", "/v1/accounts", undefined, REGISTRATION);
    assert.equal(res.status, 401, JSON.stringify(res.body));
    const push = await call(p, "POST", "/v1/push?account_id=acct_x", { a: 1 }, REGISTRATION);
    assert.equal(push.status, 401);
  });

  test("without a registration token configured, only trusted networks register", async () => {
    const q = await startPipeline({ compat: "webhooks" }, { worker: false });
    try {
      const res = await q.app.inject({
        method: "POST", url: "/webhook", remoteAddress: "192.0.2.7",
        headers: { "content-type": "application/json", authorization: "Bearer anything-at-all" }, payload: JSON.stringify(good),
      });
      assert.equal(res.statusCode, 401, res.body);
    } finally {
      await q.stop();
    }
  });

  test("with FERRY_COMPAT not naming webhooks, POST /webhook does not exist", async () => {
    const q = await startPipeline({ registration_token: REGISTRATION_TOKEN }, { worker: false });
    try {
      const res = await register(q, good);
      assert.equal(res.status, 404);
      assert.equal(res.body.code, "not_found");
    } finally {
      await q.stop();
    }
  });
});

describe("fun-with-webhooks: the SSRF guard and what counts as a failure", () => {
  let receiver: Receiver;
  const pipelines: Pipeline[] = [];
  before(async () => {
    receiver = await startReceiver({ respond: (r) => (new URL(r.url).pathname === "/slow" ? { delayMs: 1500 } : undefined) });
  });
  after(async () => {
    await Promise.all(pipelines.map((p) => p.stop()));
    await receiver.close();
  });
  async function start(overrides: Partial<Config>): Promise<Pipeline> {
    const p = await startPipeline({ ...webhooksConfig(), ...overrides });
    pipelines.push(p);
    return p;
  }

  test("a private callback registers, but without FERRY_ALLOW_PRIVATE_DESTINATIONS or the allowlist nothing is sent to it", async () => {
    const p = await start({ allow_private_destinations: false });
    registered(await register(p, { name: "private-client", callbackURL: `${receiver.url}/private` }), "register");
    const { account } = await client(p, "private-client");
    const pushed = await pushCalls(p, account.id, ["(11) 5555-5555"]);
    const id = pushed.postbacks[0].id;
    const pb = await eventually(async () => {
      const b = ok(await call(p, "GET", `/v1/postbacks/${id}`), 200, "postback");
      return b.state === "dead" ? b : undefined;
    }, 10_000, "the call refused");
    assert.equal(pb.attempts.at(-1).error, "destination_refused", JSON.stringify(pb));
    await drained(p);
    assert.equal(receiver.requests.filter((r) => r.url.endsWith("/private")).length, 0, "nothing reached the private address");

    const allowed = await start({ allow_private_destinations: false, destination_allowlist: "127.0.0.1" });
    registered(await register(allowed, { name: "allowed-client", callbackURL: `${receiver.url}/allowed` }), "register");
    await pushCalls(allowed, (await client(allowed, "allowed-client")).account.id, ["(11) 6666-6666"]);
    await eventually(() => receiver.requests.some((r) => r.url.endsWith("/allowed")), 10_000, "the allowlisted callback");
  });

  test("a timeout and a refused connection each count: 3 disable the client", async () => {
    // A 2 s lease allows 1 s timeouts: the 10 s of the original, clamped to what the lease allows.
    const p = await start({ lease_ms: 2000, timeout_ms: 1000 });
    registered(await register(p, { name: "slow-client", callbackURL: `${receiver.url}/slow` }), "register slow");
    const slow = await client(p, "slow-client");
    assert.equal(slow.destinations[0].timeout_ms, 1000, "clamped to half the lease");
    const closed = await freePort();
    registered(await register(p, { name: "gone-client", callbackURL: `http://127.0.0.1:${closed}/calls` }), "register gone");
    const gone = await client(p, "gone-client");
    for (let i = 0; i < 3; i++) {
      await pushCalls(p, slow.account.id, [`(11) 7777-000${i}`]);
      await pushCalls(p, gone.account.id, [`(11) 8888-000${i}`]);
      await drained(p);
    }
    for (const name of ["slow-client", "gone-client"]) {
      const d = await eventually(async () => {
        const x = (await client(p, name)).destinations[0];
        return x.enabled ? undefined : x;
      }, 10_000, `${name} disabled`);
      assert.match(d.disabled_reason, /3 failed attempts/, name);
    }
    const log = ok(await call(p, "GET", `/v1/postbacks?destination_id=${gone.destinations[0].id}`), 200, "gone's postbacks");
    assert.ok(JSON.stringify(log).includes("connection_refused"), JSON.stringify(log).slice(0, 500));
  });
});

describe("fun-with-webhooks against a real ferry process", () => {
  let receiver: Receiver;
  let receiverUrl: string;
  let ferry: ServerProcess;
  const ADMIN = "webhooks-admin-token-0123456789";
  before(async () => {
    // On every address (dual stack), so that "localhost", as the consumer's callback-url says,
    // reaches it whichever address the name resolves to.
    receiver = await startReceiver({ host: "::", respond: (r) => (new URL(r.url).pathname.startsWith("/fail") ? { status: 500 } : undefined) });
    receiverUrl = `http://127.0.0.1:${receiver.port}`;
    ferry = await startServer("start", {
      FERRY_ADMIN_TOKEN: ADMIN,
      FERRY_DATA_DIR: (await import("./support/harness.js")).tempDir().path,
      FERRY_COMPAT: "webhooks",
      FERRY_TRUSTED_NETWORKS: "127.0.0.1/32",
      FERRY_LOG_LEVEL: "warn",
    });
  });
  after(async () => {
    await ferry.stop();
    await killAll();
    await receiver.close();
  });

  /** One raw HTTP request, headers exactly as given. */
  function raw(url: string, method: string, headers: Record<string, string>, body: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(url, { method, headers }, (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (s: string) => (text += s));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  test("the webhook-consumer's registration, verbatim: 200 with no body, then 400 ALREADY_REGISTERED, which it takes as success", async () => {
    // webhook-consumer/src/webhook.js: request-promise, method POST, body {name, callbackURL}, json: true,
    // which sends this body with these headers; callback-url was http://localhost:9001/calls.
    const body = JSON.stringify({ name: "webhook-consumer", callbackURL: `http://localhost:${receiver.port}/calls` });
    const headers = { host: `127.0.0.1:${ferry.port}`, accept: "application/json", "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) };
    const first = await raw(`${ferry.url}/webhook`, "POST", headers, body);
    assert.equal(first.status, 200, first.body);
    assert.equal(first.body, "");
    const again = await raw(`${ferry.url}/webhook`, "POST", headers, body);
    assert.equal(again.status, 400);
    const parsed = JSON.parse(again.body);
    // What webhook.js checks before it carries on: err.error[0].errorCode === 'ALREADY_REGISTERED'.
    assert.ok(parsed.length > 0 && parsed[0].errorCode === "ALREADY_REGISTERED", again.body);
  });

  test("ferry demo calls plays rounds of calls into the enabled clients, and a failing client is disabled after 3 failures", async () => {
    const fail = await raw(`${ferry.url}/webhook`, "POST", { "content-type": "application/json" }, JSON.stringify({ name: "failing-client", callbackURL: `${receiverUrl}/fail` }));
    assert.equal(fail.status, 200, fail.body);
    const admin = { authorization: `Bearer ${ADMIN}` };
    const failingDestination = async () => {
      const acct = (await (await fetch(`${ferry.url}/v1/accounts?external_id=webhooks:failing-client`, { headers: admin })).json()) as any;
      return ((await (await fetch(`${ferry.url}/v1/destinations?account_id=${acct.data[0].id}`, { headers: admin })).json()) as any).data[0];
    };
    const demo = async (args: string[]) => {
      const proc = spawnFerry(["demo", "calls", "--numbers", "6", ...args], { FERRY_URL: ferry.url, FERRY_ADMIN_TOKEN: ADMIN });
      assert.equal((await proc.exited).code, 0, proc.stderr());
      return proc.stdout().split("\n").filter((l) => l.startsWith("round "));
    };
    const failed = () => receiver.requests.filter((r) => new URL(r.url).pathname === "/fail");
    // The first round: half of the 6 numbers, 3 calls, for each of the 2 clients.
    const first = await demo(["--rounds", "1"]);
    assert.equal(first.length, 1);
    assert.match(first[0]!, /^round 1: 6 calls to 2 clients \(.*webhook-consumer.*\), 6 postbacks queued$/, first[0]);
    // The failing client answers 500 to its 3 calls: 3 failures, and it is disabled.
    await eventually(async () => failed().length === 3 && (await failingDestination()).enabled === false, 10_000, "the failing client disabled");
    assert.equal((await failingDestination()).disabled_reason, "3 failed attempts");
    // The rounds after it leave it out, and nothing more reaches it.
    const later = await demo(["--rounds", "3", "--interval-ms", "200"]);
    assert.equal(later.length, 3, later.join("\n"));
    for (const line of later) assert.match(line, /^round \d: 3 calls to 1 client \(webhook-consumer\)/, line);
    // Each round takes the half of the set afresh; the consumer, answering 200, got every call.
    const calls = () => receiver.requests.filter((r) => new URL(r.url).pathname === "/calls");
    await eventually(() => calls().length === 12, 10_000, "4 rounds × 3 calls at the consumer");
    for (const r of calls()) {
      const b = JSON.parse(r.body);
      assert.deepEqual(Object.keys(b), ["type", "contactNumber"]);
      assert.equal(b.type, "call.standby");
      assert.equal(b.contactNumber.length, 14);
      assert.match(b.contactNumber, /^\(11\) \d{4}-\d{4}$/);
    }
    assert.equal(failed().length, 3, "no call reached the disabled client");
    // Registering again enables it.
    const again = await raw(`${ferry.url}/webhook`, "POST", { "content-type": "application/json" }, JSON.stringify({ name: "failing-client", callbackURL: `${receiverUrl}/fail` }));
    assert.equal(again.status, 200, again.body);
    const one = spawnFerry(["demo", "calls", "--numbers", "2", "--rounds", "1"], { FERRY_URL: ferry.url, FERRY_ADMIN_TOKEN: ADMIN });
    assert.equal((await one.exited).code, 0, one.stderr());
    assert.match(one.stdout(), /round 1: 2 calls to 2 clients/);
    await eventually(() => receiver.requests.filter((r) => new URL(r.url).pathname === "/fail").length === 4, 10_000, "a call to the re-enabled client");
  });

  test("ferry demo calls: a wrong token stops it (exit 1); no URL is a usage error (exit 2); SIGTERM stops it", async () => {
    const wrong = spawnFerry(["demo", "calls", "--rounds", "1"], { FERRY_URL: ferry.url, FERRY_ADMIN_TOKEN: "wrong-token-0123456789" });
    assert.equal((await wrong.exited).code, 1, wrong.stdout());
    assert.match(wrong.stderr(), /401/);
    const noUrl = spawnFerry(["demo", "calls"], { FERRY_ADMIN_TOKEN: ADMIN });
    assert.equal((await noUrl.exited).code, 2);
    assert.match(noUrl.stderr(), /FERRY_URL/);
    const running = spawnFerry(["demo", "calls", "--interval-ms", "200"], { FERRY_URL: ferry.url, FERRY_ADMIN_TOKEN: ADMIN });
    await running.waitForOutput(/^round 2:/m);
    running.signal("SIGTERM");
    const exit = await running.exited;
    assert.equal(exit.code, 0);
    assert.match(running.stdout(), /stopped/);
  });
});

test("contact numbers: N distinct, 14 characters each; a round takes half of them (rounded up), each once", () => {
  const numbers = contactNumbers(10);
  assert.equal(new Set(numbers).size, 10);
  for (const n of numbers) assert.equal(n.length, 14, n);
  const half = pickHalf(numbers);
  assert.equal(half.length, 5);
  assert.equal(new Set(half).size, 5);
  assert.ok(half.every((n) => numbers.includes(n)));
  assert.equal(pickHalf(contactNumbers(7)).length, 4);
});

test("a client enabled again is sent its calls at once, though a worker saw it disabled within the second", async () => {
  const p = await startPipeline(webhooksConfig(), { worker: false });
  try {
    registered(await register(p, { name: "back-again", callbackURL: "http://127.0.0.1:9/calls" }), "register");
    const d = (await client(p, "back-again")).destinations[0];
    ok(await call(p, "PATCH", `/v1/destinations/${d.id}`, { enabled: false }), 200, "disable");
    // The worker's view of destinations, on the same store; it caches each for a second.
    const cache = new DestinationCache(p.backends.stores.accounts);
    const endpoint = { id: "e", method: "POST" as const, url: d.url, defaultValue: "", maxAttempts: 1, destinationId: d.id };
    assert.equal((await cache.route(endpoint)).kind, "cancel", "disabled and dropping: cancelled");
    registered(await register(p, { name: "back-again", callbackURL: "http://127.0.0.1:9/calls" }), "register again");
    assert.equal((await cache.route(endpoint)).kind, "send", "a cancel is final, so the cached disabled state is checked first");
  } finally {
    await p.stop();
  }
});
