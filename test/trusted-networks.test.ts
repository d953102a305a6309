/**
 * Trusted networks (FERRY_TRUSTED_NETWORKS, seeds 000 and 001): requests with no token, from
 * those addresses, may send on POST /ingest, /ingest.php and /v1/events, as FERRY_TRUSTED_ACCOUNT
 * or the admin; X-Forwarded-For is believed only from FERRY_TRUSTED_PROXIES.
 *
 * The source address matters here, so these requests go over real sockets to a listening Ferry
 * (inject() has no real peer): from 127.0.0.1, from 127.0.0.2 (another loopback address, which
 * Linux lets a client bind) as "somewhere else", from ::1, and to a server on :: where an IPv4
 * client arrives as ::ffff:127.0.0.1. Real SQLite file, real API; nothing mocked.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import pino from "pino";
import type { FastifyInstance } from "fastify";
import { loadConfig } from "../src/config.js";
import { openBackends, type Backends } from "../src/backends.js";
import { buildApp } from "../src/api/app.js";
import { hashToken } from "../src/api/auth.js";
import { createAccount } from "../src/app/accounts.js";
import { createToken } from "../src/app/tokens.js";
import { ADMIN_TOKEN, AUTH, drained, startPipeline, tempDir } from "./support/harness.js";
import { startReceiver } from "../src/receiver.js";

const INGEST_SAMPLE = {
  endpoint: { method: "GET", url: "http://127.0.0.1:9/data?title={mascot}&image={location}&foo={bar}" },
  data: [{ mascot: "Gopher", location: "https://blog.golang.org/gopher/gopher.png" }],
};
const EVENT_SAMPLE = {
  session_id: "e2085be5-9137-4e4e-80b5-f1ffddc25423",
  category: "party",
  name: "AppName",
  data: { host: "www.party.com", path: "/" },
  timestamp: "2021-09-26 09:15:27.243860",
};

interface Ferry {
  app: FastifyInstance;
  backends: Backends;
  port: number;
  /** The account FERRY_TRUSTED_ACCOUNT names (made before start), and one other; each with a token. */
  trusted: { id: string; token: string };
  other: { id: string; token: string };
  /** What Ferry logged at warn and above. */
  warnings: string[];
  stop(): Promise<void>;
}

interface Settings {
  networks?: string;
  proxies?: string;
  /** "trusted" (the default): the account made for it; "admin": unset; or an id as it is. */
  account?: string;
  /** Where Ferry listens: 127.0.0.1 (the default) or :: (dual-stack). */
  host?: string;
}

const running: Ferry[] = [];
after(async () => {
  for (const f of running) await f.stop();
});

/** A listening Ferry on a fresh SQLite file, configured through its environment as in production. */
async function startFerry(settings: Settings): Promise<Ferry> {
  const dir = tempDir();
  const base = { admin_token: ADMIN_TOKEN, log_level: "silent" as const, allow_private_destinations: true, test_only_local_dns: true, data_dir: dir.path };
  const backends = await openBackends(loadConfig({}, base));
  const made = async (name: string) => {
    const account = await createAccount(backends, { name });
    return { id: account.id, token: (await createToken(backends, account.id, "test")).secret };
  };
  const trusted = await made("Trusted apps");
  const other = await made("Someone else");
  const env: Record<string, string> = {};
  if (settings.networks !== undefined) env["FERRY_TRUSTED_NETWORKS"] = settings.networks;
  if (settings.proxies !== undefined) env["FERRY_TRUSTED_PROXIES"] = settings.proxies;
  const account = settings.account ?? "trusted";
  if (account !== "admin") env["FERRY_TRUSTED_ACCOUNT"] = account === "trusted" ? trusted.id : account;
  const warnings: string[] = [];
  const logger = pino(
    { level: "warn" },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        warnings.push(String(JSON.parse(chunk.toString()).msg));
        done();
      },
    }),
  );
  const app = await buildApp({ config: loadConfig(env, base), queue: backends.queue, stores: backends.stores, adminTokenHash: hashToken(ADMIN_TOKEN), logger });
  await app.listen({ host: settings.host ?? "127.0.0.1", port: 0 });
  const ferry: Ferry = {
    app,
    backends,
    port: (app.server.address() as AddressInfo).port,
    trusted,
    other,
    warnings,
    async stop() {
      await app.close();
      await backends.close();
      dir.cleanup();
    },
  };
  running.push(ferry);
  return ferry;
}

interface Answer {
  status: number;
  body: any;
}

interface Send {
  /** The address to connect to: 127.0.0.1 by default, or ::1. */
  to?: string;
  /** The client's own address: 127.0.0.2 to come from an address that is not trusted. */
  from?: string;
  headers?: Record<string, string>;
  body?: unknown;
}

/** One request over a real socket. A body is sent as raw JSON with no content type, as the PHP script's clients posted it. */
function send(ferry: Ferry, method: string, path: string, options: Send = {}): Promise<Answer> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: options.to ?? "127.0.0.1",
        port: ferry.port,
        method,
        path,
        ...(options.from ? { localAddress: options.from } : {}),
        headers: { ...(payload === undefined ? {} : { "content-length": Buffer.byteLength(payload) }), ...options.headers },
        agent: false,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

const ingest = (f: Ferry, path: "/ingest" | "/ingest.php", options: Omit<Send, "body"> = {}) => send(f, "POST", path, { ...options, body: INGEST_SAMPLE });
const postEvent = (f: Ferry, options: Omit<Send, "body"> = {}, query = "") => send(f, "POST", `/v1/events${query}`, { ...options, body: EVENT_SAMPLE });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function refused(a: Answer, code: string, what: string): void {
  assert.equal(a.status, 401, `${what}: ${JSON.stringify(a.body)}`);
  assert.equal(a.body.code, code, `${what}: ${JSON.stringify(a.body)}`);
}

/** The three sending routes, each without a token, answer as expected (202, 202, 201). */
async function sendsAll(f: Ferry, options: Omit<Send, "body">, what: string): Promise<void> {
  assert.equal((await ingest(f, "/ingest", options)).status, 202, `${what}: /ingest`);
  assert.equal((await ingest(f, "/ingest.php", options)).status, 202, `${what}: /ingest.php`);
  // A stored event is 201 Created (202 is for a batch only part of which was stored).
  assert.equal((await postEvent(f, options)).status, 201, `${what}: /v1/events`);
}

async function refusesAll(f: Ferry, options: Omit<Send, "body">, what: string): Promise<void> {
  refused(await ingest(f, "/ingest", options), "missing_token", `${what}: /ingest`);
  refused(await ingest(f, "/ingest.php", options), "missing_token", `${what}: /ingest.php`);
  refused(await postEvent(f, options), "missing_token", `${what}: /v1/events`);
}

describe("trusted networks", () => {
  test("are off by default: no token from 127.0.0.1 is 401", async () => {
    const f = await startFerry({});
    await refusesAll(f, {}, "no FERRY_TRUSTED_NETWORKS");
    assert.deepEqual(f.warnings, []);
  });

  test("let a trusted address send on /ingest, /ingest.php and /v1/events without a token, as the trusted account", async () => {
    const f = await startFerry({ networks: "127.0.0.1/32" });
    assert.ok(
      f.warnings.some((w) => w.includes("trusted networks are on") && w.includes("127.0.0.1/32") && w.includes(f.trusted.id)),
      `a start-up warning names the networks and the account: ${JSON.stringify(f.warnings)}`,
    );
    await sendsAll(f, {}, "from 127.0.0.1");

    // What was sent belongs to the trusted account: its token sees it, another account's does not.
    const { ids } = (await ingest(f, "/ingest")).body;
    assert.equal((await send(f, "GET", `/v1/postbacks/${ids[0]}`, { headers: bearer(f.trusted.token) })).status, 200);
    assert.equal((await send(f, "GET", `/v1/postbacks/${ids[0]}`, { headers: bearer(f.other.token) })).status, 404);
    const event = (await postEvent(f)).body.events[0];
    const seen = await send(f, "GET", `/v1/events/${event.id}`, { headers: bearer(f.trusted.token) });
    assert.equal(seen.status, 200, JSON.stringify(seen.body));
    assert.equal(seen.body.category, "party");
    assert.equal((await send(f, "GET", `/v1/events/${event.id}`, { headers: bearer(f.other.token) })).status, 404);
  });

  test("refuse the same requests from an address outside the networks", async () => {
    const f = await startFerry({ networks: "127.0.0.1/32" });
    await refusesAll(f, { from: "127.0.0.2" }, "from 127.0.0.2");
  });

  test("open no route but the three sending ones", async () => {
    const f = await startFerry({ networks: "127.0.0.1/32" });
    const { ids } = (await ingest(f, "/ingest")).body;
    const outside: [string, string, unknown?][] = [
      ["GET", "/v1/events"],
      ["POST", "/v1/events/query", { session_id: EVENT_SAMPLE.session_id }],
      ["GET", `/v1/sessions/${EVENT_SAMPLE.session_id}`],
      ["GET", `/v1/postbacks/${ids[0]}`],
      ["POST", "/v1/push", { any: "thing" }],
      ["GET", "/v1/accounts"],
      ["POST", "/v1/accounts", { name: "Mallory" }],
      ["GET", "/v1/destinations"],
      ["POST", "/v1/destinations", { url: "http://127.0.0.1:9/x" }],
    ];
    for (const [method, path, body] of outside) {
      refused(await send(f, method, path, body === undefined ? {} : { body }), "missing_token", `${method} ${path} from a trusted network`);
    }
  });

  test("judge a request that carries a token by the token alone: a wrong one is 401, never trusted", async () => {
    const f = await startFerry({ networks: "127.0.0.1/32" });
    const wrong: Record<string, string>[] = [bearer("ferry_live_not-a-token"), bearer("nonsense"), { "cl-x-token": "ferry_live_not-a-token" }];
    for (const headers of wrong) {
      refused(await ingest(f, "/ingest", { headers }), "invalid_token", `${JSON.stringify(headers)} on /ingest`);
      refused(await postEvent(f, { headers }), "invalid_token", `${JSON.stringify(headers)} on /v1/events`);
    }
    const malformed: Record<string, string>[] = [{ authorization: "Basic dXNlcjpwYXNz" }, { authorization: "" }, { "cl-x-token": "" }];
    for (const headers of malformed) {
      refused(await ingest(f, "/ingest.php", { headers }), "missing_token", `${JSON.stringify(headers)} on /ingest.php`);
    }
    // A good token of another account acts as that account, not the trusted one.
    const { ids } = (await ingest(f, "/ingest", { headers: bearer(f.other.token) })).body;
    assert.equal((await send(f, "GET", `/v1/postbacks/${ids[0]}`, { headers: bearer(f.other.token) })).status, 200);
    assert.equal((await send(f, "GET", `/v1/postbacks/${ids[0]}`, { headers: bearer(f.trusted.token) })).status, 404);
  });

  test("ignore X-Forwarded-For when no proxy is trusted", async () => {
    const f = await startFerry({ networks: "127.0.0.1/32, 10.1.2.3" });
    // A client outside claiming a trusted address is still outside...
    await refusesAll(f, { from: "127.0.0.2", headers: { "x-forwarded-for": "127.0.0.1" } }, "127.0.0.2 claiming 127.0.0.1");
    await refusesAll(f, { from: "127.0.0.2", headers: { "x-forwarded-for": "10.1.2.3" } }, "127.0.0.2 claiming 10.1.2.3");
    // ...and a trusted client claiming to be elsewhere is still trusted: the header changes nothing.
    await sendsAll(f, { headers: { "x-forwarded-for": "192.0.2.7" } }, "127.0.0.1 claiming 192.0.2.7");
  });

  test("believe X-Forwarded-For from a trusted proxy only", async () => {
    const f = await startFerry({ networks: "10.1.2.0/24", proxies: "127.0.0.1" });
    await sendsAll(f, { headers: { "x-forwarded-for": "10.1.2.3" } }, "via the trusted proxy, for 10.1.2.3");
    // The same header from an address that is no trusted proxy is not believed.
    await refusesAll(f, { from: "127.0.0.2", headers: { "x-forwarded-for": "10.1.2.3" } }, "via 127.0.0.2, for 10.1.2.3");
    // Through the trusted proxy, the client is the nearest address it appended: a trusted address
    // the client wrote further left is not believed.
    await refusesAll(f, { headers: { "x-forwarded-for": "192.0.2.7" } }, "via the trusted proxy, for 192.0.2.7");
    await refusesAll(f, { headers: { "x-forwarded-for": "10.1.2.3, 192.0.2.7" } }, "via the trusted proxy, for 192.0.2.7 claiming 10.1.2.3");
    await refusesAll(f, { headers: { "x-forwarded-for": "not-an-address" } }, "via the trusted proxy, for garbage");
    // The proxy's own address is not a trusted network.
    await refusesAll(f, {}, "the proxy itself");
  });

  test("match IPv6 and IPv4-mapped addresses", async () => {
    // On ::, an IPv4 client's address is ::ffff:127.0.0.1; 127.0.0.1/32 covers it.
    const v4 = await startFerry({ networks: "127.0.0.1/32", host: "::" });
    await sendsAll(v4, { to: "127.0.0.1" }, "::ffff:127.0.0.1 in 127.0.0.1/32");
    await refusesAll(v4, { to: "127.0.0.1", from: "127.0.0.2" }, "::ffff:127.0.0.2 outside 127.0.0.1/32");
    await refusesAll(v4, { to: "::1" }, "::1 outside 127.0.0.1/32");

    const v6 = await startFerry({ networks: "::1", host: "::" });
    await sendsAll(v6, { to: "::1" }, "::1 in ::1");
    await refusesAll(v6, { to: "127.0.0.1" }, "::ffff:127.0.0.1 outside ::1");

    // A trusted proxy written as IPv4 is matched when it arrives IPv4-mapped, too.
    const proxied = await startFerry({ networks: "2001:db8::/32", proxies: "127.0.0.1", host: "::" });
    await sendsAll(proxied, { to: "127.0.0.1", headers: { "x-forwarded-for": "2001:db8::7" } }, "via ::ffff:127.0.0.1, for 2001:db8::7");
    await refusesAll(proxied, { to: "127.0.0.1", headers: { "x-forwarded-for": "2001:db9::7" } }, "via ::ffff:127.0.0.1, for 2001:db9::7");
  });

  test("act as the admin when no trusted account is set", async () => {
    const f = await startFerry({ networks: "127.0.0.1", account: "admin" });
    assert.ok(f.warnings.some((w) => w.includes("as the admin")), JSON.stringify(f.warnings));
    assert.equal((await ingest(f, "/ingest")).status, 202);
    // The admin names the account of its events, as with the admin token.
    const unnamed = await postEvent(f);
    assert.equal(unnamed.status, 422, JSON.stringify(unnamed.body));
    assert.equal(unnamed.body.code, "missing_account_id");
    assert.equal((await postEvent(f, {}, `?account_id=${f.other.id}`)).status, 201);
  });

  test("find the trusted account by external_id, so it can be named before it exists", async () => {
    const f = await startFerry({ networks: "127.0.0.1", account: "seed-001-apps" });
    const missing = await postEvent(f);
    assert.equal(missing.status, 503, JSON.stringify(missing.body));
    assert.equal(missing.body.code, "trusted_account_missing");
    assert.match(missing.body.detail, /external_id "seed-001-apps"/);
    // Made afterwards through the API, it is found at the next request.
    const made = await send(f, "POST", "/v1/accounts", { headers: { ...bearer(ADMIN_TOKEN), "content-type": "application/json" }, body: { name: "Event apps", external_id: "seed-001-apps" } });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const event = (await postEvent(f)).body.events[0];
    const seen = await send(f, "GET", `/v1/events/${event.id}?account_id=${made.body.id}`, { headers: bearer(ADMIN_TOKEN) });
    assert.equal(seen.status, 200, JSON.stringify(seen.body));
    assert.equal((await send(f, "GET", `/v1/events/${event.id}`, { headers: bearer(f.trusted.token) })).status, 404);
  });

  test("send events as the trusted account would: they fan out to its destinations, not another's", async () => {
    const receiver = await startReceiver();
    // The pipeline's settings as FERRY_* would give them; a worker delivers.
    const p = await startPipeline({ trusted_networks: "127.0.0.1/32", trusted_account: "fanout-apps" });
    try {
      const made = async (body: Record<string, unknown>) =>
        JSON.parse((await p.app.inject({ method: "POST", url: "/v1/accounts", headers: { ...AUTH, "content-type": "application/json" }, payload: JSON.stringify(body) })).body);
      const destination = async (accountId: string, path: string) =>
        p.app.inject({
          method: "POST",
          url: "/v1/destinations",
          headers: { ...AUTH, "content-type": "application/json" },
          payload: JSON.stringify({ account_id: accountId, url: `${receiver.url}${path}`, method: "POST", event_types: ["party"] }),
        });
      const apps = await made({ name: "Apps", external_id: "fanout-apps" });
      const other = await made({ name: "Other" });
      assert.equal((await destination(apps.id, "/apps")).statusCode, 201);
      assert.equal((await destination(other.id, "/other")).statusCode, 201);
      await p.app.listen({ host: "127.0.0.1", port: 0 });
      const port = (p.app.server.address() as AddressInfo).port;
      const answer = await send({ port } as Ferry, "POST", "/v1/events", { body: EVENT_SAMPLE });
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      await receiver.waitFor(1);
      const got = receiver.requests[0]!;
      assert.equal(new URL(got.url).pathname, "/apps");
      assert.equal(JSON.parse(got.body).id, answer.body.events[0].id);
      // Nothing goes to the other account's destination: an event's postbacks are queued in one
      // fan-out step, so once one has arrived, a drained queue has sent all there were.
      await drained(p);
      assert.equal(receiver.requests.length, 1, JSON.stringify(receiver.requests.map((r) => r.url)));
    } finally {
      await p.stop();
      await receiver.close();
    }
  });

  test("answer 503 trusted_account_missing, naming the setting, while the trusted account does not exist", async () => {
    const f = await startFerry({ networks: "127.0.0.1", account: "acct_01JZZZZZZZZZZZZZZZZZZZZZZZ" });
    for (const answer of [await ingest(f, "/ingest"), await postEvent(f)]) {
      assert.equal(answer.status, 503, JSON.stringify(answer.body));
      assert.equal(answer.body.code, "trusted_account_missing");
      assert.match(answer.body.detail, /FERRY_TRUSTED_ACCOUNT names acct_01JZZZZZZZZZZZZZZZZZZZZZZZ/);
    }
    for (let i = 0; i < 5; i++) assert.equal((await ingest(f, "/ingest")).status, 503);
    // Every one of those answers was a 503, but a busy trusted client must not flood the log:
    // the problem is logged once a minute.
    assert.equal(f.warnings.filter((m) => /FERRY_TRUSTED_ACCOUNT names/.test(m)).length, 1, JSON.stringify(f.warnings));
    // A client that sends a token is not held up by it.
    assert.equal((await ingest(f, "/ingest", { headers: bearer(f.other.token) })).status, 202);
  });
});
