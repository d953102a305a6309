/**
 * Accounts, tokens and destinations through the real API (inject) on a real queue and store
 * (a SQLite file, or Postgres): who may see and change what, what each answer looks like, and
 * every way a request is refused. Nothing is mocked. Each backend's test file calls
 * `accountsSuite` once.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import pino from "pino";
import type { LightMyRequestResponse } from "fastify";
import { ADMIN_TOKEN, eventually, startPipeline as startWith, type Pipeline } from "../support/harness.js";
import { buildApp } from "../../src/api/app.js";
import { ACCOUNT_TOKEN_PREFIX, hashToken } from "../../src/api/auth.js";
import { API_ERRORS, type ApiErrorCode } from "../../src/core/errors.js";
import { endpointId, newPostbackId } from "../../src/core/ids.js";
import { isSigningSecret } from "../../src/core/signing.js";
import type { Endpoint } from "../../src/core/types.js";
import type { Config } from "../../src/config.js";

/** Settings that choose the backend under test, made anew for each pipeline. */
let backend: () => Partial<Config> | Promise<Partial<Config>> = () => ({});

async function startPipeline(): Promise<Pipeline> {
  return startWith(await backend(), { worker: false });
}

// ---------------------------------------------------------------------------------------------
// Helpers

interface Answer {
  status: number;
  body: any;
  res: LightMyRequestResponse;
}

type Auth = string | { header: string; value: string } | undefined;

/** One request through the real app; `auth` is a token (sent as Bearer) or a raw header. */
async function call(p: Pipeline, method: string, url: string, auth: Auth, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (typeof auth === "string") headers["authorization"] = `Bearer ${auth}`;
  else if (auth) headers[auth.header] = auth.value;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await p.app.inject({ method: method as "GET", url, headers, ...(body !== undefined ? { payload: JSON.stringify(body) } : {}) });
  return { status: res.statusCode, body: res.body === "" ? undefined : res.json(), res };
}

/** Asserts an application/problem+json refusal with this status, code and field. */
function assertProblem(a: Answer, status: number, code: ApiErrorCode, field?: string): void {
  if (status < 500) assert.ok(a.status < 500, `a 5xx for a client mistake: ${a.status} ${a.res.body}`);
  assert.equal(a.status, status, a.res.body);
  assert.equal(API_ERRORS[code].status, status, `${code} is documented with another status`);
  assert.match(String(a.res.headers["content-type"]), /^application\/problem\+json(;|$)/);
  assert.equal(a.body.code, code, a.res.body);
  assert.equal(a.body.status, status);
  assert.equal(typeof a.body.detail, "string");
  assert.ok(a.body.detail.length >= 20, `detail too short to help: ${a.body.detail}`);
  assert.ok(!/\bundefined\b|\[object Object\]/.test(a.body.detail), `detail leaks a JS artefact: ${a.body.detail}`);
  assert.equal(a.body.field, field, `field of ${a.res.body}`);
}

async function createAccount(p: Pipeline, body: Record<string, unknown> = {}): Promise<any> {
  const a = await call(p, "POST", "/v1/accounts", ADMIN_TOKEN, { name: "Acme", ...body });
  assert.equal(a.status, 201, a.res.body);
  return a.body;
}

async function createToken(p: Pipeline, accountId: string, auth: Auth = ADMIN_TOKEN, name?: string): Promise<{ id: string; token: string }> {
  const a = await call(p, "POST", `/v1/accounts/${accountId}/tokens`, auth, name === undefined ? undefined : { name });
  assert.equal(a.status, 201, a.res.body);
  return a.body;
}

/** An account with a token of its own. */
async function tenant(p: Pipeline, name = "Acme"): Promise<{ id: string; token: string; tokenId: string }> {
  const account = await createAccount(p, { name });
  const token = await createToken(p, account.id);
  return { id: account.id, token: token.token, tokenId: token.id };
}

let urls = 0;
/** A destination URL no other test uses. */
const freshUrl = () => `https://partner.example/hook/${++urls}?id={id}`;

async function createDestination(p: Pipeline, auth: Auth, body: Record<string, unknown>): Promise<any> {
  const a = await call(p, "POST", "/v1/destinations", auth, { url: freshUrl(), ...body });
  assert.equal(a.status, 201, a.res.body);
  return a.body;
}

const INGEST = { endpoint: { method: "GET", url: "http://partner.example/data?title={mascot}" }, data: [{ mascot: "Gopher" }] };

/**
 * A postback for the destination parked in the queue as a worker parks one while its
 * destination is disabled: enqueued, reserved, settled "hold".
 */
async function heldPostback(p: Pipeline, destination: { id: string; account_id: string; url: string }): Promise<string> {
  const content: Omit<Endpoint, "id"> = {
    method: "POST",
    url: destination.url,
    defaultValue: "",
    maxAttempts: 3,
    accountId: destination.account_id,
    destinationId: destination.id,
  };
  const id = newPostbackId();
  const queue = p.backends.queue;
  await queue.enqueue({ endpoint: { id: endpointId(content), ...content }, postbacks: [{ id, data: '{"id":1}' }], createdAt: Date.now() });
  const reserved = await queue.reserve(100, 60_000);
  const mine = reserved.find((r) => r.postbackId === id);
  assert.ok(mine, "the postback was reserved");
  await queue.settle(reserved.map((reservation) => ({ reservation, settle: reservation.postbackId === id ? { kind: "hold" as const } : { kind: "release" as const, at: Date.now() } })));
  const queued = await queue.find(id);
  assert.equal(queued?.held, true, "the postback is held");
  return id;
}

async function assertReleased(p: Pipeline, postbackId: string): Promise<void> {
  const queued = await p.backends.queue.find(postbackId);
  assert.ok(queued, "the postback is still queued, for the worker to deliver or cancel");
  assert.equal(queued.held, false, "the postback is no longer held");
  assert.notEqual(queued.dueAt, null);
  assert.ok(queued.dueAt! <= Date.now(), "the postback is due now");
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

// ---------------------------------------------------------------------------------------------

export function accountsSuite(name: string, makeBackend: typeof backend): void {
  backend = makeBackend;

  describe(`accounts, tokens and destinations (${name})`, () => {
    let p: Pipeline;
    before(async () => {
      p = await startPipeline();
    });
    after(() => p.stop());

    describe("accounts", () => {
      test("creating an account answers 201 with its fields in snake_case and ISO times", async () => {
        const a = await call(p, "POST", "/v1/accounts", ADMIN_TOKEN, {
          name: " Acme ", email: "ops@acme.example", website: "https://acme.example", metadata: { plan: "pro" }, dedupe_window_ms: 60_000,
        });
        assert.equal(a.status, 201, a.res.body);
        assert.match(a.body.id, /^acct_[0-9A-Z]{26}$/);
        assert.deepEqual(Object.keys(a.body).sort(), [
          "created_at", "dedupe_window_ms", "email", "event_retention_ms", "external_id", "id", "metadata", "name", "strict_event_types", "updated_at", "website",
        ]);
        assert.equal(a.body.name, "Acme");
        assert.equal(a.body.email, "ops@acme.example");
        assert.equal(a.body.website, "https://acme.example");
        assert.deepEqual(a.body.metadata, { plan: "pro" });
        assert.equal(a.body.dedupe_window_ms, 60_000);
        assert.match(a.body.created_at, ISO);
        assert.match(a.body.updated_at, ISO);
        const got = await call(p, "GET", `/v1/accounts/${a.body.id}`, ADMIN_TOKEN);
        assert.equal(got.status, 200);
        assert.deepEqual(got.body, a.body);
      });

      test("an account needs only a name; the rest defaults to null, {}, 0 and false", async () => {
        const a = await createAccount(p, { name: "Bare" });
        assert.equal(a.email, null);
        assert.equal(a.website, null);
        assert.deepEqual(a.metadata, {});
        assert.equal(a.dedupe_window_ms, 0);
        assert.equal(a.strict_event_types, false);
        assert.equal(a.event_retention_ms, null, "null: FERRY_EVENT_RETENTION applies");
      });

      test("the event settings are set and cleared like the rest", async () => {
        const a = await createAccount(p, { strict_event_types: true, event_retention_ms: 3_600_000 });
        assert.deepEqual([a.strict_event_types, a.event_retention_ms], [true, 3_600_000]);
        const patched = await call(p, "PATCH", `/v1/accounts/${a.id}`, ADMIN_TOKEN, { strict_event_types: false, event_retention_ms: null });
        assert.equal(patched.status, 200, patched.res.body);
        assert.deepEqual([patched.body.strict_event_types, patched.body.event_retention_ms], [false, null]);
        const read = await call(p, "GET", `/v1/accounts/${a.id}`, ADMIN_TOKEN);
        assert.deepEqual([read.body.strict_event_types, read.body.event_retention_ms], [false, null]);
      });

      test("seed 002's account_name is taken as the name", async () => {
        const a = await call(p, "POST", "/v1/accounts", ADMIN_TOKEN, { account_name: "gangdhars2", email: "gangs2@gamil.com", website: "https://gangs.com" });
        assert.equal(a.status, 201, a.res.body);
        assert.equal(a.body.name, "gangdhars2");
        const patched = await call(p, "PATCH", `/v1/accounts/${a.body.id}`, ADMIN_TOKEN, { account_name: "gangdhars4", website: "hello.com" });
        assert.equal(patched.status, 200, patched.res.body);
        assert.equal(patched.body.name, "gangdhars4");
        assert.equal(patched.body.website, "hello.com");
      });

      test("PATCH changes only the fields given, and null clears email and website", async () => {
        const a = await createAccount(p, { email: "a@acme.example", website: "https://acme.example", metadata: { k: 1 } });
        const patched = await call(p, "PATCH", `/v1/accounts/${a.id}`, ADMIN_TOKEN, { email: null, dedupe_window_ms: 5000 });
        assert.equal(patched.status, 200, patched.res.body);
        assert.equal(patched.body.email, null);
        assert.equal(patched.body.website, "https://acme.example");
        assert.deepEqual(patched.body.metadata, { k: 1 });
        assert.equal(patched.body.dedupe_window_ms, 5000);
        assert.equal(patched.body.name, "Acme");
        assert.equal(patched.body.created_at, a.created_at);
        const empty = await call(p, "PATCH", `/v1/accounts/${a.id}`, ADMIN_TOKEN, {});
        assert.equal(empty.status, 200);
        assert.deepEqual(empty.body, patched.body);
      });

      test("an unknown account is 404 account_not_found on GET, PATCH, DELETE and its tokens", async () => {
        for (const [method, url, body] of [
          ["GET", "/v1/accounts/acct_nope", undefined],
          ["PATCH", "/v1/accounts/acct_nope", { name: "x" }],
          ["DELETE", "/v1/accounts/acct_nope", undefined],
          ["GET", "/v1/accounts/acct_nope/tokens", undefined],
          ["POST", "/v1/accounts/acct_nope/tokens", {}],
          ["DELETE", "/v1/accounts/acct_nope/tokens/tok_nope", undefined],
        ] as const) {
          assertProblem(await call(p, method, url, ADMIN_TOKEN, body), 404, "account_not_found");
        }
      });

      test("an account token may read its own account but not another (404, as if unknown)", async () => {
        const mine = await tenant(p, "Mine");
        const theirs = await tenant(p, "Theirs");
        const own = await call(p, "GET", `/v1/accounts/${mine.id}`, mine.token);
        assert.equal(own.status, 200, own.res.body);
        assert.equal(own.body.name, "Mine");
        const other = await call(p, "GET", `/v1/accounts/${theirs.id}`, mine.token);
        const unknown = await call(p, "GET", "/v1/accounts/acct_01ARZ3NDEKTSV4RRFFQ69G5FAV", mine.token);
        assertProblem(other, 404, "account_not_found");
        assertProblem(unknown, 404, "account_not_found");
        for (const [method, body] of [["PATCH", { name: "x" }], ["DELETE", undefined]] as const) {
          assertProblem(await call(p, method, `/v1/accounts/${theirs.id}`, mine.token, body), 404, "account_not_found");
        }
        assertProblem(await call(p, "GET", `/v1/accounts/${theirs.id}/tokens`, mine.token), 404, "account_not_found");
        assertProblem(await call(p, "POST", `/v1/accounts/${theirs.id}/tokens`, mine.token, {}), 404, "account_not_found");
        assertProblem(await call(p, "DELETE", `/v1/accounts/${theirs.id}/tokens/${theirs.tokenId}`, mine.token), 404, "account_not_found");
        // and nothing changed for them
        assert.equal((await call(p, "GET", `/v1/accounts/${theirs.id}`, theirs.token)).status, 200);
      });

      test("an account token on an admin-only route gets 403 admin_only", async () => {
        const mine = await tenant(p);
        for (const [method, url, body] of [
          ["POST", "/v1/accounts", { name: "New" }],
          ["GET", "/v1/accounts", undefined],
          ["PATCH", `/v1/accounts/${mine.id}`, { name: "Renamed" }],
          ["DELETE", `/v1/accounts/${mine.id}`, undefined],
        ] as const) {
          const a = await call(p, method, url, mine.token, body);
          assertProblem(a, 403, "admin_only");
          assert.match(a.body.detail, /admin token/);
        }
        assert.equal((await call(p, "GET", `/v1/accounts/${mine.id}`, mine.token)).body.name, "Acme");
      });

      test("deleting an account deletes its tokens and destinations", async () => {
        const doomed = await tenant(p, "Doomed");
        const spare = await createToken(p, doomed.id);
        const d1 = await createDestination(p, doomed.token, {});
        const d2 = await createDestination(p, ADMIN_TOKEN, { account_id: doomed.id });
        const survivor = await tenant(p, "Survivor");
        const kept = await createDestination(p, survivor.token, {});

        const del = await call(p, "DELETE", `/v1/accounts/${doomed.id}`, ADMIN_TOKEN);
        assert.equal(del.status, 204, del.res.body);
        assert.equal(del.res.body, "");

        assertProblem(await call(p, "GET", `/v1/accounts/${doomed.id}`, ADMIN_TOKEN), 404, "account_not_found");
        for (const d of [d1, d2]) assertProblem(await call(p, "GET", `/v1/destinations/${d.id}`, ADMIN_TOKEN), 404, "destination_not_found");
        // Its tokens no longer exist: not "revoked", unknown.
        for (const token of [doomed.token, spare.token]) assertProblem(await call(p, "GET", `/v1/accounts/${doomed.id}`, token), 401, "invalid_token");
        assert.equal(await p.backends.stores.accounts.getAccount(doomed.id), undefined);
        assert.equal(await p.backends.stores.accounts.findToken(hashToken(spare.token)), undefined);
        // Another account's are untouched.
        assert.equal((await call(p, "GET", `/v1/destinations/${kept.id}`, survivor.token)).status, 200);
        assertProblem(await call(p, "DELETE", `/v1/accounts/${doomed.id}`, ADMIN_TOKEN), 404, "account_not_found");
      });

      test("deleting an account releases its destinations' held postbacks, for the worker to cancel", async () => {
        const doomed = await tenant(p, "Doomed");
        const d = await createDestination(p, doomed.token, {});
        const held = await heldPostback(p, d);
        assert.equal((await call(p, "DELETE", `/v1/accounts/${doomed.id}`, ADMIN_TOKEN)).status, 204);
        await assertReleased(p, held);
      });
    });

    describe("account tokens", () => {
      test("a new token is shown once and listed without its secret", async () => {
        const account = await createAccount(p);
        const made = await call(p, "POST", `/v1/accounts/${account.id}/tokens`, ADMIN_TOKEN, { name: "production" });
        assert.equal(made.status, 201, made.res.body);
        assert.deepEqual(Object.keys(made.body).sort(), ["created_at", "id", "name", "token"]);
        assert.match(made.body.id, /^tok_[0-9A-Z]{26}$/);
        assert.equal(made.body.name, "production");
        assert.match(made.body.created_at, ISO);
        // a recognisable prefix, then 256 random bits in base64url
        assert.ok(made.body.token.startsWith(ACCOUNT_TOKEN_PREFIX), made.body.token);
        assert.equal(Buffer.from(made.body.token.slice(ACCOUNT_TOKEN_PREFIX.length), "base64url").length, 32);
        assert.match(made.body.token.slice(ACCOUNT_TOKEN_PREFIX.length), /^[A-Za-z0-9_-]{43}$/);

        const unnamed = await createToken(p, account.id);
        const list = await call(p, "GET", `/v1/accounts/${account.id}/tokens`, ADMIN_TOKEN);
        assert.equal(list.status, 200, list.res.body);
        assert.deepEqual(list.body.data.map((t: any) => t.id), [made.body.id, unnamed.id]);
        for (const t of list.body.data) assert.deepEqual(Object.keys(t).sort(), ["created_at", "id", "name", "revoked_at"]);
        assert.ok(!list.res.body.includes(made.body.token) && !list.res.body.includes(unnamed.token), "a listing shows no secret");
        assert.equal(list.body.data[1].name, null);
        // Only the hash is stored: the store finds the token by the hash of the secret.
        assert.equal((await p.backends.stores.accounts.findToken(hashToken(made.body.token)))?.id, made.body.id);
      });

      test("an account token authenticates as its account, as Bearer and as CL-X-TOKEN", async () => {
        const mine = await tenant(p, "Seed002");
        for (const auth of [mine.token, { header: "cl-x-token", value: mine.token }, { header: "CL-X-TOKEN", value: mine.token }]) {
          const a = await call(p, "GET", `/v1/accounts/${mine.id}`, auth);
          assert.equal(a.status, 200, `${JSON.stringify(auth)}: ${a.res.body}`);
          assert.equal(a.body.name, "Seed002");
        }
        // CL-X-TOKEN with the admin token works too
        assert.equal((await call(p, "GET", "/v1/accounts?limit=1", { header: "cl-x-token", value: ADMIN_TOKEN })).status, 200);
      });

      test("an account token may make, list and revoke its own account's tokens", async () => {
        const mine = await tenant(p);
        const second = await createToken(p, mine.id, mine.token, "ci");
        assert.equal((await call(p, "GET", `/v1/accounts/${mine.id}`, second.token)).status, 200);
        const list = await call(p, "GET", `/v1/accounts/${mine.id}/tokens`, second.token);
        assert.deepEqual(list.body.data.map((t: any) => t.id), [mine.tokenId, second.id]);
        assert.equal((await call(p, "DELETE", `/v1/accounts/${mine.id}/tokens/${mine.tokenId}`, second.token)).status, 204);
        assertProblem(await call(p, "GET", `/v1/accounts/${mine.id}`, mine.token), 401, "token_revoked");
      });

      test("a revoked token gets 401 token_revoked, at once, and its listing shows when", async () => {
        const mine = await tenant(p);
        // used once, so the lookup is cached
        assert.equal((await call(p, "GET", `/v1/accounts/${mine.id}`, mine.token)).status, 200);
        const del = await call(p, "DELETE", `/v1/accounts/${mine.id}/tokens/${mine.tokenId}`, ADMIN_TOKEN);
        assert.equal(del.status, 204, del.res.body);
        const refused = await call(p, "GET", `/v1/accounts/${mine.id}`, mine.token);
        assertProblem(refused, 401, "token_revoked");
        assert.match(String(refused.res.headers["www-authenticate"]), /^Bearer realm="ferry"$/);
        assert.ok(!refused.res.body.includes(mine.token), "the answer does not echo the token");
        assertProblem(await call(p, "POST", "/ingest", mine.token, INGEST), 401, "token_revoked");
        const list = await call(p, "GET", `/v1/accounts/${mine.id}/tokens`, ADMIN_TOKEN);
        assert.match(list.body.data[0].revoked_at, ISO);
      });

      test("a token revoked by another process stops working within 1 s", async () => {
        const mine = await tenant(p);
        // A second API on the same store: another process, with a token cache of its own.
        const other = await buildApp({ config: p.config, queue: p.backends.queue, stores: p.backends.stores, adminTokenHash: hashToken(ADMIN_TOKEN), logger: pino({ level: "silent" }) });
        try {
          const ask = () => other.inject({ method: "GET", url: `/v1/accounts/${mine.id}`, headers: { authorization: `Bearer ${mine.token}` } });
          assert.equal((await ask()).statusCode, 200);
          const revokedAt = Date.now();
          assert.equal((await call(p, "DELETE", `/v1/accounts/${mine.id}/tokens/${mine.tokenId}`, ADMIN_TOKEN)).status, 204);
          const res = await eventually(async () => {
            const r = await ask();
            return r.statusCode === 401 ? r : undefined;
          }, 3000, "the other API to refuse the revoked token");
          assert.equal(res!.json().code, "token_revoked");
          assert.ok(Date.now() - revokedAt <= 1500, `took ${Date.now() - revokedAt} ms`);
        } finally {
          await other.close();
        }
      });

      test("an unknown account token gets 401 invalid_token", async () => {
        for (const token of [ACCOUNT_TOKEN_PREFIX + "A".repeat(43), "not-a-ferry-token", ADMIN_TOKEN + "x"]) {
          const a = await call(p, "GET", "/v1/destinations", token);
          assertProblem(a, 401, "invalid_token");
          assert.match(String(a.res.headers["www-authenticate"]), /^Bearer realm="ferry"$/);
        }
        assertProblem(await call(p, "GET", "/v1/destinations", { header: "cl-x-token", value: "nope-nope-nope" }), 401, "invalid_token");
        assertProblem(await call(p, "GET", "/v1/destinations", undefined), 401, "missing_token");
      });

      test("revoking an unknown token, or another account's, is 404 token_not_found", async () => {
        const mine = await tenant(p);
        const theirs = await tenant(p);
        assertProblem(await call(p, "DELETE", `/v1/accounts/${mine.id}/tokens/tok_nope`, ADMIN_TOKEN), 404, "token_not_found");
        // their token id under my account: not mine, so unknown
        assertProblem(await call(p, "DELETE", `/v1/accounts/${mine.id}/tokens/${theirs.tokenId}`, ADMIN_TOKEN), 404, "token_not_found");
        assert.equal((await call(p, "GET", `/v1/accounts/${theirs.id}`, theirs.token)).status, 200);
      });

      test("a token's name must be a string (422 naming the field)", async () => {
        const account = await createAccount(p);
        assertProblem(await call(p, "POST", `/v1/accounts/${account.id}/tokens`, ADMIN_TOKEN, { name: 5 }), 422, "invalid_field", "name");
        assertProblem(await call(p, "POST", `/v1/accounts/${account.id}/tokens`, ADMIN_TOKEN, { nmae: "x" }), 422, "unknown_field", "nmae");
      });
    });

    describe("postbacks of accounts", () => {
      test("an account token can ingest, and its postbacks carry its account", async () => {
        const mine = await tenant(p);
        const a = await call(p, "POST", "/ingest", mine.token, INGEST);
        assert.equal(a.status, 202, a.res.body);
        const [id] = a.body.ids;
        const queued = await p.backends.queue.find(id);
        assert.equal(queued?.endpoint.accountId, mine.id);
        // an account's endpoint is not the admin's, though the template is the same
        const admin = await call(p, "POST", "/ingest", ADMIN_TOKEN, INGEST);
        const adminQueued = await p.backends.queue.find(admin.body.ids[0]);
        assert.ok(adminQueued && !adminQueued.endpoint.accountId, "the admin's postbacks belong to no account");
        assert.notEqual(adminQueued?.endpoint.id, queued?.endpoint.id);
        const seen = await call(p, "GET", `/v1/postbacks/${id}`, mine.token);
        assert.equal(seen.status, 200, seen.res.body);
        assert.deepEqual(seen.body.data, INGEST.data[0]);
      });

      test("CL-X-TOKEN is taken on /ingest.php", async () => {
        const mine = await tenant(p);
        const res = await p.app.inject({ method: "POST", url: "/ingest.php", headers: { "cl-x-token": mine.token, "content-type": "application/json" }, payload: JSON.stringify(INGEST) });
        assert.equal(res.statusCode, 202, res.body);
      });

      test("an account token cannot see another account's postback, nor the admin's (404); the admin sees all", async () => {
        const mine = await tenant(p);
        const theirs = await tenant(p);
        const theirId = (await call(p, "POST", "/ingest", theirs.token, INGEST)).body.ids[0];
        const adminId = (await call(p, "POST", "/ingest", ADMIN_TOKEN, INGEST)).body.ids[0];
        assertProblem(await call(p, "GET", `/v1/postbacks/${theirId}`, mine.token), 404, "postback_not_found");
        assertProblem(await call(p, "GET", `/v1/postbacks/${adminId}`, mine.token), 404, "postback_not_found");
        assert.equal((await call(p, "GET", `/v1/postbacks/${theirId}`, theirs.token)).status, 200);
        assert.equal((await call(p, "GET", `/v1/postbacks/${theirId}`, ADMIN_TOKEN)).status, 200);
      });
    });

    describe("destinations", () => {
      test("a destination is created with defaults, snake_case fields and ISO times", async () => {
        const mine = await tenant(p);
        const url = freshUrl();
        const a = await call(p, "POST", "/v1/destinations", mine.token, { url });
        assert.equal(a.status, 201, a.res.body);
        const d = a.body;
        assert.match(d.id, /^dst_[0-9A-Z]{26}$/);
        assert.deepEqual(
          { ...d, id: undefined, secret: undefined, created_at: undefined, updated_at: undefined },
          {
            id: undefined, account_id: mine.id, url, method: "POST", headers: {}, event_types: [], enabled: true, disabled_reason: null,
            disabled_at: null, timeout_ms: null, max_attempts: null, default_value: null, rate_limit: null, concurrency: null,
            failure_threshold: null, failure_window_ms: null, on_disable: "hold", rate_limit_burst: null, ordering: "none", ordering_key: null, paused_until: null, pause_reason: null, secret: undefined, created_at: undefined, updated_at: undefined,
          },
        );
        assert.match(d.created_at, ISO);
        assert.match(d.updated_at, ISO);
      });

      test("every field is taken and shown back", async () => {
        const body = {
          url: "  https://partner.example/postback?click={click_id}&v={value}  ", method: "put",
          headers: { Authorization: "Bearer partner-secret", "X-Partner": "ferry" },
          event_types: ["order.*", "user.created", "order.*"], enabled: true, timeout_ms: 100, max_attempts: 100, default_value: "none",
          rate_limit: 0.5, concurrency: 1000, failure_threshold: 0, failure_window_ms: 0,
        };
        const d = await createDestination(p, ADMIN_TOKEN, { ...body, account_id: (await createAccount(p)).id });
        assert.equal(d.url, "https://partner.example/postback?click={click_id}&v={value}");
        assert.equal(d.method, "PUT");
        assert.deepEqual(d.headers, body.headers);
        assert.deepEqual(d.event_types, ["order.*", "user.created"]);
        assert.equal(d.timeout_ms, 100);
        assert.equal(d.max_attempts, 100);
        assert.equal(d.default_value, "none");
        assert.equal(d.rate_limit, 0.5);
        assert.equal(d.concurrency, 1000);
        assert.equal(d.failure_threshold, 0);
        assert.equal(d.failure_window_ms, 0);
        const got = await call(p, "GET", `/v1/destinations/${d.id}`, ADMIN_TOKEN);
        assert.deepEqual(got.body, Object.fromEntries(Object.entries(d).filter(([k]) => k !== "secret")));
        for (const eventTypes of [["*"], [], ["a"], ["order.created.v2"], ["x-y_z:1.*"]]) {
          const e = await createDestination(p, ADMIN_TOKEN, { account_id: d.account_id, event_types: eventTypes });
          assert.deepEqual(e.event_types, eventTypes);
        }
      });

      test("the destination secret is shown on create and not in listings", async () => {
        const mine = await tenant(p);
        const d = await createDestination(p, mine.token, {});
        assert.ok(isSigningSecret(d.secret), `a Standard Webhooks secret: ${d.secret}`);
        const got = await call(p, "GET", `/v1/destinations/${d.id}`, mine.token);
        assert.equal(got.body.secret, undefined);
        assert.ok(!got.res.body.includes(d.secret));
        const list = await call(p, "GET", "/v1/destinations", mine.token);
        assert.equal(list.status, 200, list.res.body);
        assert.ok(!list.res.body.includes(d.secret), "a listing shows no secret");
        assert.ok(list.body.data.every((x: any) => !("secret" in x)));
        const patched = await call(p, "PATCH", `/v1/destinations/${d.id}`, mine.token, { max_attempts: 3 });
        assert.ok(!patched.res.body.includes(d.secret), "a PATCH answer shows no secret");
        for (const auth of [mine.token, ADMIN_TOKEN]) {
          const secret = await call(p, "GET", `/v1/destinations/${d.id}/secret`, auth);
          assert.equal(secret.status, 200, secret.res.body);
          assert.deepEqual(secret.body, { secret: d.secret });
        }
      });

      test("rotating the secret gives a new one, shown once and then by GET .../secret", async () => {
        const mine = await tenant(p);
        const d = await createDestination(p, mine.token, {});
        const rotated = await call(p, "POST", `/v1/destinations/${d.id}/rotate-secret`, mine.token);
        assert.equal(rotated.status, 200, rotated.res.body);
        assert.ok(isSigningSecret(rotated.body.secret));
        assert.notEqual(rotated.body.secret, d.secret);
        assert.equal(rotated.body.id, d.id);
        assert.deepEqual((await call(p, "GET", `/v1/destinations/${d.id}/secret`, mine.token)).body, { secret: rotated.body.secret });
      });

      test("an account token cannot see another account's destination (404)", async () => {
        const mine = await tenant(p);
        const theirs = await tenant(p);
        const d = await createDestination(p, theirs.token, {});
        for (const [method, url, body] of [
          ["GET", `/v1/destinations/${d.id}`, undefined],
          ["PATCH", `/v1/destinations/${d.id}`, { enabled: false }],
          ["DELETE", `/v1/destinations/${d.id}`, undefined],
          ["GET", `/v1/destinations/${d.id}/secret`, undefined],
          ["POST", `/v1/destinations/${d.id}/rotate-secret`, undefined],
        ] as const) {
          const other = await call(p, method, url, mine.token, body);
          const unknown = await call(p, method, url.replace(d.id, "dst_01ARZ3NDEKTSV4RRFFQ69G5FAV"), mine.token, body);
          assertProblem(other, 404, "destination_not_found");
          assertProblem(unknown, 404, "destination_not_found");
          assert.ok(!other.res.body.includes(theirs.id), "the answer does not name the other account");
        }
        // naming their account when creating or listing: as unknown as any other id
        assertProblem(await call(p, "POST", "/v1/destinations", mine.token, { url: freshUrl(), account_id: theirs.id }), 404, "account_not_found");
        assertProblem(await call(p, "GET", `/v1/destinations?account_id=${theirs.id}`, mine.token), 404, "account_not_found");
        // my listing does not hold theirs; theirs is untouched
        const mineList = await call(p, "GET", "/v1/destinations", mine.token);
        assert.deepEqual(mineList.body.data, []);
        const after = await call(p, "GET", `/v1/destinations/${d.id}`, theirs.token);
        assert.equal(after.body.enabled, true);
        assert.deepEqual((await call(p, "GET", `/v1/destinations/${d.id}/secret`, theirs.token)).body, { secret: d.secret });
      });

      test("an account token acts on its own account, and may name it", async () => {
        const mine = await tenant(p);
        const d = await createDestination(p, mine.token, { account_id: mine.id });
        assert.equal(d.account_id, mine.id);
        const list = await call(p, "GET", `/v1/destinations?account_id=${mine.id}`, mine.token);
        assert.deepEqual(list.body.data.map((x: any) => x.id), [d.id]);
      });

      test("the admin must name the account (422 missing_account_id), and an unknown one is 404", async () => {
        assertProblem(await call(p, "POST", "/v1/destinations", ADMIN_TOKEN, { url: freshUrl() }), 422, "missing_account_id", "account_id");
        assertProblem(await call(p, "GET", "/v1/destinations", ADMIN_TOKEN), 422, "missing_account_id", "account_id");
        assertProblem(await call(p, "POST", "/v1/destinations", ADMIN_TOKEN, { url: freshUrl(), account_id: "acct_nope" }), 404, "account_not_found");
        assertProblem(await call(p, "GET", "/v1/destinations?account_id=acct_nope", ADMIN_TOKEN), 404, "account_not_found");
      });

      test("listing destinations pages with limit and next_after, oldest first", async () => {
        const mine = await tenant(p);
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push((await createDestination(p, mine.token, {})).id);
        const seen: string[] = [];
        let after: string | null = null;
        let pages = 0;
        do {
          const q: string = `/v1/destinations?limit=2${after ? `&after=${after}` : ""}`;
          const page = await call(p, "GET", q, mine.token);
          assert.equal(page.status, 200, page.res.body);
          assert.deepEqual(Object.keys(page.body).sort(), ["data", "next_after"]);
          assert.ok(page.body.data.length <= 2);
          seen.push(...page.body.data.map((x: any) => x.id));
          after = page.body.next_after;
          pages++;
        } while (after && pages < 10);
        assert.deepEqual(seen, ids);
        assert.equal(pages, 3);
        const admin = await call(p, "GET", `/v1/destinations?account_id=${mine.id}&limit=100`, ADMIN_TOKEN);
        assert.deepEqual(admin.body.data.map((x: any) => x.id), ids);
        assert.equal(admin.body.next_after, null);
      });

      test("PATCH changes the fields given; null puts an override back to the default", async () => {
        const mine = await tenant(p);
        const d = await createDestination(p, mine.token, { timeout_ms: 5000, headers: { "X-A": "1" }, event_types: ["a.*"] });
        const a = await call(p, "PATCH", `/v1/destinations/${d.id}`, mine.token, { timeout_ms: null, rate_limit: 10, method: "GET", event_types: [] });
        assert.equal(a.status, 200, a.res.body);
        assert.equal(a.body.timeout_ms, null);
        assert.equal(a.body.rate_limit, 10);
        assert.equal(a.body.method, "GET");
        assert.deepEqual(a.body.event_types, []);
        assert.deepEqual(a.body.headers, { "X-A": "1" });
        assert.equal(a.body.url, d.url);
        assert.equal(a.body.created_at, d.created_at);
      });

      test("PATCH enabled:false records the owner as the reason; enabled:true clears it and releases held postbacks", async () => {
        const mine = await tenant(p);
        const d = await createDestination(p, mine.token, {});
        const off = await call(p, "PATCH", `/v1/destinations/${d.id}`, mine.token, { enabled: false });
        assert.equal(off.status, 200, off.res.body);
        assert.equal(off.body.enabled, false);
        assert.equal(typeof off.body.disabled_reason, "string");
        assert.match(off.body.disabled_at, ISO);
        const held = await heldPostback(p, d);
        const on = await call(p, "PATCH", `/v1/destinations/${d.id}`, mine.token, { enabled: true });
        assert.equal(on.status, 200, on.res.body);
        assert.equal(on.body.enabled, true);
        assert.equal(on.body.disabled_reason, null);
        assert.equal(on.body.disabled_at, null);
        await assertReleased(p, held);
      });

      test("re-registering the same URL re-enables a disabled destination and releases its held postbacks", async () => {
        const mine = await tenant(p);
        const d = await createDestination(p, mine.token, { method: "POST", failure_threshold: 3 });
        // Endpoint health disables it: three failures, as seed 003 has it.
        const now = Date.now();
        const disabled = await p.backends.stores.accounts.recordFailures([0, 1, 2].map((i) => ({ destinationId: d.id, at: now + i, threshold: 3, windowMs: 0 })));
        assert.deepEqual(disabled, [d.id]);
        const before = await call(p, "GET", `/v1/destinations/${d.id}`, mine.token);
        assert.equal(before.body.enabled, false);
        assert.ok(before.body.disabled_reason);
        const held = await heldPostback(p, d);

        const again = await call(p, "POST", "/v1/destinations", mine.token, { url: d.url, method: "post", timeout_ms: 10_000 });
        assert.equal(again.status, 200, again.res.body);
        assert.equal(again.body.id, d.id);
        assert.equal(again.body.enabled, true);
        assert.equal(again.body.disabled_reason, null);
        assert.equal(again.body.disabled_at, null);
        assert.equal(again.body.timeout_ms, 10_000, "the other fields given are applied");
        assert.equal(again.body.failure_threshold, 3, "fields not given are kept");
        assert.equal(again.body.secret, d.secret, "the answer holds its secret, unchanged");
        await assertReleased(p, held);
        const list = await call(p, "GET", "/v1/destinations", mine.token);
        assert.deepEqual(list.body.data.map((x: any) => x.id), [d.id], "no duplicate");
      });

      test("the same URL with another method, or for another account, is another destination", async () => {
        const mine = await tenant(p);
        const theirs = await tenant(p);
        const d = await createDestination(p, mine.token, { method: "POST" });
        const get = await call(p, "POST", "/v1/destinations", mine.token, { url: d.url, method: "GET" });
        assert.equal(get.status, 201, get.res.body);
        const other = await call(p, "POST", "/v1/destinations", theirs.token, { url: d.url, method: "POST" });
        assert.equal(other.status, 201, other.res.body);
        assert.notEqual(other.body.id, d.id);
      });

      test("PATCH to another destination's method and URL is 409 destination_exists", async () => {
        const mine = await tenant(p);
        const a = await createDestination(p, mine.token, {});
        const b = await createDestination(p, mine.token, {});
        assertProblem(await call(p, "PATCH", `/v1/destinations/${b.id}`, mine.token, { url: a.url }), 409, "destination_exists", "url");
        const same = await call(p, "PATCH", `/v1/destinations/${b.id}`, mine.token, { url: b.url, method: "POST" });
        assert.equal(same.status, 200, same.res.body);
      });

      test("deleting a destination answers 204 and releases its held postbacks, for the worker to cancel", async () => {
        const mine = await tenant(p);
        const d = await createDestination(p, mine.token, {});
        assert.equal((await call(p, "PATCH", `/v1/destinations/${d.id}`, mine.token, { enabled: false })).status, 200);
        const held = await heldPostback(p, d);
        const del = await call(p, "DELETE", `/v1/destinations/${d.id}`, mine.token);
        assert.equal(del.status, 204, del.res.body);
        assert.equal(del.res.body, "");
        await assertReleased(p, held);
        assertProblem(await call(p, "GET", `/v1/destinations/${d.id}`, mine.token), 404, "destination_not_found");
        assertProblem(await call(p, "DELETE", `/v1/destinations/${d.id}`, mine.token), 404, "destination_not_found");
      });
    });

    describe("bad input", () => {
      let mine: { id: string; token: string };
      let dest: any;
      before(async () => {
        mine = await tenant(p, "Bad input");
        dest = await createDestination(p, mine.token, {});
      });

      const destCases: [string, Record<string, unknown>, ApiErrorCode, string | undefined][] = [
        ["no url", { url: undefined }, "missing_url", "url"],
        ["an empty url", { url: " " }, "missing_url", "url"],
        ["an ftp url", { url: "ftp://partner.example/{id}" }, "invalid_url", "url"],
        ["a relative url", { url: "/hook/{id}" }, "invalid_url", "url"],
        ["a url without its scheme", { url: "partner.example/hook" }, "invalid_url", "url"],
        ["a url with a space in its host", { url: "http://partner example/hook" }, "invalid_url", "url"],
        // WHATWG URL parsing reads "http:///127.0.0.1:9999/hook" as host 127.0.0.1:9999.
        ["a url with an empty host", { url: "http:///127.0.0.1:9999/hook" }, "invalid_url", "url"],
        ["a url with no host at all", { url: "http:///x" }, "invalid_url", "url"],
        ["a url whose host changes when parsed", { url: "http://2130706433/hook" }, "invalid_url", "url"],
        ["a url longer than 8 KiB", { url: "https://partner.example/?" + "x".repeat(8200) }, "invalid_url", "url"],
        ["an unknown method", { method: "FETCH" }, "invalid_method", "method"],
        ["HEAD", { method: "HEAD" }, "invalid_method", "method"],
        ["headers as an array", { headers: [["X-A", "1"]] }, "invalid_headers", "headers"],
        ["a Host header", { headers: { Host: "evil.example" } }, "invalid_headers", "headers.Host"],
        ["a content-length header", { headers: { "content-length": "1" } }, "invalid_headers", "headers.content-length"],
        ["a Transfer-Encoding header", { headers: { "Transfer-Encoding": "chunked" } }, "invalid_headers", "headers.Transfer-Encoding"],
        ["a connection header", { headers: { connection: "close" } }, "invalid_headers", "headers.connection"],
        ["a webhook-signature header", { headers: { "Webhook-Signature": "v1,x" } }, "invalid_headers", "headers.Webhook-Signature"],
        ["a number header value", { headers: { "X-A": 1 } }, "invalid_headers", "headers.X-A"],
        ["a header name with a space", { headers: { "X A": "1" } }, "invalid_headers", "headers.X A"],
        ["a header value with CRLF", { headers: { "X-A": "1\r\nX-B: 2" } }, "invalid_headers", "headers.X-A"],
        ["one header named twice", { headers: { "X-A": "1", "x-a": "2" } }, "invalid_headers", "headers.x-a"],
        ["event_types as a string", { event_types: "order.*" }, "invalid_event_types", "event_types"],
        ["an empty event type", { event_types: [""] }, "invalid_event_types", "event_types"],
        ["an event type with a space", { event_types: ["order created"] }, "invalid_event_types", "event_types"],
        ["a * inside an event type", { event_types: ["or*der"] }, "invalid_event_types", "event_types"],
        ["a leading *.", { event_types: ["*.created"] }, "invalid_event_types", "event_types"],
        ["a ** ending", { event_types: ["order.**"] }, "invalid_event_types", "event_types"],
        ["a * without its dot", { event_types: ["order*"] }, "invalid_event_types", "event_types"],
        ["a number as an event type", { event_types: [1] }, "invalid_event_types", "event_types"],
        ["enabled as a string", { enabled: "yes" }, "invalid_field", "enabled"],
        ["timeout_ms below 100", { timeout_ms: 99 }, "invalid_number", "timeout_ms"],
        ["timeout_ms above 120000", { timeout_ms: 120_001 }, "invalid_number", "timeout_ms"],
        ["timeout_ms as a string", { timeout_ms: "1000" }, "invalid_number", "timeout_ms"],
        ["timeout_ms not whole", { timeout_ms: 1000.5 }, "invalid_number", "timeout_ms"],
        ["max_attempts 0", { max_attempts: 0 }, "invalid_number", "max_attempts"],
        ["max_attempts 101", { max_attempts: 101 }, "invalid_number", "max_attempts"],
        ["rate_limit 0", { rate_limit: 0 }, "invalid_number", "rate_limit"],
        ["rate_limit negative", { rate_limit: -1 }, "invalid_number", "rate_limit"],
        ["concurrency 0", { concurrency: 0 }, "invalid_number", "concurrency"],
        ["concurrency 1001", { concurrency: 1001 }, "invalid_number", "concurrency"],
        ["failure_threshold negative", { failure_threshold: -1 }, "invalid_number", "failure_threshold"],
        ["failure_window_ms negative", { failure_window_ms: -1 }, "invalid_number", "failure_window_ms"],
        ["default_value as an object", { default_value: {} }, "invalid_field", "default_value"],
        // The fuzz suite found these answering 500 on Postgres, whose text columns refuse NUL.
        ["a NUL in default_value", { default_value: "a\u0000b" }, "invalid_field", "default_value"],
        ["a NUL in the url", { url: "http://127.0.0.1:9/a\u0000b" }, "invalid_url", "url"],
        ["a misspelt field", { event_type: ["order.*"] }, "unknown_field", "event_type"],
        ["a secret of one's own", { secret: "whsec_abc" }, "unknown_field", "secret"],
      ];

      for (const [what, fields, code, field] of destCases) {
        test(`a destination with ${what} is ${API_ERRORS[code].status} ${code}${field ? ` naming ${field}` : ""}`, async () => {
          const body = { url: freshUrl(), ...fields };
          assertProblem(await call(p, "POST", "/v1/destinations", mine.token, body), API_ERRORS[code].status, code, field);
          // the same on PATCH, except a missing url, which a PATCH may leave out
          if (code !== "missing_url" || fields["url"] !== undefined) {
            assertProblem(await call(p, "PATCH", `/v1/destinations/${dest.id}`, mine.token, fields), API_ERRORS[code].status, code, field);
          }
        });
      }

      test("a bad event_types filter is 422 naming the field, and says what a pattern may hold", async () => {
        const a = await call(p, "POST", "/v1/destinations", mine.token, { url: freshUrl(), event_types: ["order.*", "*.created"] });
        assertProblem(a, 422, "invalid_event_types", "event_types");
        assert.match(a.body.detail, /event_types\[1\]/);
        assert.match(a.body.detail, /"\*\.created"/);
      });

      test("nothing is created or changed by a refused request", async () => {
        const list = await call(p, "GET", "/v1/destinations", mine.token);
        assert.deepEqual(list.body.data.map((x: any) => x.id), [dest.id]);
        const now = await call(p, "GET", `/v1/destinations/${dest.id}`, mine.token);
        assert.equal(now.body.updated_at, dest.updated_at);
      });

      test("a destination cannot move to another account (422 naming account_id)", async () => {
        assertProblem(await call(p, "PATCH", `/v1/destinations/${dest.id}`, ADMIN_TOKEN, { account_id: mine.id }), 422, "invalid_field", "account_id");
      });

      test("a body that is not an object is 422 invalid_body; bad JSON 400 invalid_json", async () => {
        for (const body of [[], "x", 1, null]) {
          assertProblem(await call(p, "POST", "/v1/destinations", mine.token, body), 422, "invalid_body");
          assertProblem(await call(p, "POST", "/v1/accounts", ADMIN_TOKEN, body), 422, "invalid_body");
        }
        const res = await p.app.inject({ method: "POST", url: "/v1/destinations", headers: { authorization: `Bearer ${mine.token}`, "content-type": "application/json" }, payload: "{" });
        assertProblem({ status: res.statusCode, body: res.json(), res }, 400, "invalid_json");
      });

      const accountCases: [string, Record<string, unknown>, ApiErrorCode, string][] = [
        ["no name", { name: undefined }, "invalid_name", "name"],
        ["an empty name", { name: "  " }, "invalid_name", "name"],
        ["a number as the name", { name: 5 }, "invalid_name", "name"],
        ["name and account_name that differ", { name: "a", account_name: "b" }, "invalid_name", "name"],
        ["metadata as an array", { metadata: [] }, "invalid_metadata", "metadata"],
        ["metadata null", { metadata: null }, "invalid_metadata", "metadata"],
        ["metadata over 16 KiB", { metadata: { x: "y".repeat(17_000) } }, "invalid_metadata", "metadata"],
        ["a negative dedupe_window_ms", { dedupe_window_ms: -1 }, "invalid_number", "dedupe_window_ms"],
        ["a dedupe_window_ms as a string", { dedupe_window_ms: "0" }, "invalid_number", "dedupe_window_ms"],
        ["strict_event_types as a string", { strict_event_types: "yes" }, "invalid_field", "strict_event_types"],
        ["a negative event_retention_ms", { event_retention_ms: -1 }, "invalid_number", "event_retention_ms"],
        ["an email without @", { email: "nope" }, "invalid_field", "email"],
        ["a website as a number", { website: 1 }, "invalid_field", "website"],
        ["a misspelt field", { emial: "a@b.c" }, "unknown_field", "emial"],
        // The fuzz suite found these answering 500 on Postgres, whose text columns refuse NUL.
        ["a NUL in the name", { name: "Ac\u0000me" }, "invalid_name", "name"],
        ["a NUL in the website", { website: "http://127.0.0.1/\u0000" }, "invalid_field", "website"],
      ];
      for (const [what, fields, code, field] of accountCases) {
        test(`an account with ${what} is 422 ${code} naming ${field}`, async () => {
          assertProblem(await call(p, "POST", "/v1/accounts", ADMIN_TOKEN, { name: "Acme", ...fields }), 422, code, field);
          if (what !== "no name") {
            assertProblem(await call(p, "PATCH", `/v1/accounts/${mine.id}`, ADMIN_TOKEN, fields), 422, code, field);
          }
        });
      }

      // Found by the fuzz suite: %00 decodes to NUL, which a Postgres text parameter refuses, so
      // every lookup by such an id answered 500 there.
      test("%00 in an id or a query value is 400 bad_request, on every backend", async () => {
        const urls = [
          "/v1/accounts/%00", `/v1/accounts/%00/tokens`, `/v1/accounts/${mine.id}/tokens/%00`, "/v1/destinations/%00", "/v1/destinations/%00/secret",
          "/v1/postbacks/%F0%9F%92%A5%00", `/v1/destinations?account_id=${mine.id}&after=%00`, "/v1/accounts?after=a%00",
        ];
        for (const url of urls) {
          for (const method of ["GET", "PATCH", "DELETE", "POST"]) {
            const a = await call(p, method, url, ADMIN_TOKEN, method === "PATCH" || method === "POST" ? {} : undefined);
            assert.ok(a.status < 500, `${method} ${url}: ${a.status} ${a.res.body}`);
          }
          assertProblem(await call(p, "GET", url, ADMIN_TOKEN), 400, "bad_request");
        }
        assertProblem(await call(p, "POST", "/v1/postbacks/pb_%00/retry", mine.token), 400, "bad_request");
      });

      // Found by the fuzz suite: a fraction or a huge number of ms reached a Postgres bigint
      // and answered 500 there.
      for (const since of [0.5, 1e308, -1, "2026-13-45T00:00:00Z"]) {
        test(`a replay with since ${JSON.stringify(since)} is 422 invalid_time, on every backend`, async () => {
          assertProblem(await call(p, "POST", `/v1/destinations/${dest.id}/replay`, mine.token, { since }), 422, "invalid_time", "since");
          assertProblem(await call(p, "POST", `/v1/destinations/${dest.id}/replay`, mine.token, { since: 0, until: since }), 422, "invalid_time", "until");
        });
      }

      test("an ingest whose endpoint.default holds a NUL is 422 invalid_default (found by the fuzz suite)", async () => {
        const body = { endpoint: { url: "http://127.0.0.1:9/x?v={v}", default: "\u0000" }, data: [{}] };
        assertProblem(await call(p, "POST", "/ingest", mine.token, body), 422, "invalid_default", "endpoint.default");
      });

      test("a NUL in a token name is 422 invalid_field, on every backend (found by the fuzz suite)", async () => {
        assertProblem(await call(p, "POST", `/v1/accounts/${mine.id}/tokens`, ADMIN_TOKEN, { name: "a\u0000" }), 422, "invalid_field", "name");
      });

      for (const query of ["limit=0", "limit=101", "limit=x", "limit=", "limit=1&limit=2", "after=a&after=b"]) {
        test(`a listing with ?${query} is 422 invalid_query naming the parameter`, async () => {
          const field = query.split("=")[0];
          assertProblem(await call(p, "GET", `/v1/accounts?${query}`, ADMIN_TOKEN), 422, "invalid_query", field);
          assertProblem(await call(p, "GET", `/v1/destinations?${query}`, mine.token), 422, "invalid_query", field);
        });
      }
    });

    test("listing accounts pages with limit and next_after, oldest first", async () => {
      // A pipeline of its own, so that no other test's accounts are listed.
      const q = await startPipeline();
      try {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push((await createAccount(q, { name: `A${i}` })).id);
        const first = await call(q, "GET", "/v1/accounts?limit=3", ADMIN_TOKEN);
        assert.equal(first.status, 200, first.res.body);
        assert.deepEqual(first.body.data.map((a: any) => a.id), ids.slice(0, 3));
        assert.equal(first.body.next_after, ids[2]);
        const second = await call(q, "GET", `/v1/accounts?limit=3&after=${first.body.next_after}`, ADMIN_TOKEN);
        assert.deepEqual(second.body.data.map((a: any) => a.id), ids.slice(3));
        assert.equal(second.body.next_after, null);
        const all = await call(q, "GET", "/v1/accounts", ADMIN_TOKEN);
        assert.deepEqual(all.body.data.map((a: any) => a.name), ["A0", "A1", "A2", "A3", "A4"]);
      } finally {
        await q.stop();
      }
    });

    test("tokens never reach the log, whatever the request", async () => {
      const lines: string[] = [];
      const sink = new Writable({
        write(chunk, _enc, done) {
          lines.push(String(chunk));
          done();
        },
      });
      const logger = pino({ level: "trace" }, sink);
      const app = await buildApp({ config: p.config, queue: p.backends.queue, stores: p.backends.stores, adminTokenHash: hashToken(ADMIN_TOKEN), logger });
      try {
        const made = await app.inject({ method: "POST", url: "/v1/accounts", headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" }, payload: '{"name":"Logged"}' });
        const accountId = made.json().id;
        const tok = (await app.inject({ method: "POST", url: `/v1/accounts/${accountId}/tokens`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json();
        const dest = (await app.inject({ method: "POST", url: "/v1/destinations", headers: { "cl-x-token": tok.token, "content-type": "application/json" }, payload: JSON.stringify({ url: freshUrl() }) })).json();
        await app.inject({ method: "POST", url: "/ingest", headers: { authorization: `Bearer ${tok.token}`, "content-type": "application/json" }, payload: "{bad" });
        await app.inject({ method: "GET", url: `/v1/destinations/${dest.id}/secret`, headers: { authorization: `Bearer ${tok.token}` } });
        await app.inject({ method: "DELETE", url: `/v1/accounts/${accountId}/tokens/${tok.id}`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
        await app.inject({ method: "GET", url: "/v1/destinations", headers: { authorization: `Bearer ${tok.token}` } });
        await app.inject({ method: "GET", url: "/v1/destinations", headers: { authorization: `Bearer ${tok.token}x` } });
        const log = lines.join("");
        for (const secret of [ADMIN_TOKEN, tok.token, dest.secret]) assert.ok(!log.includes(secret), `a secret in the log: ${log.slice(0, 500)}`);
      } finally {
        await app.close();
      }
    });

    test("a store that cannot be reached is 503 store_unavailable, never a 500", async () => {
      const q = await startPipeline();
      const account = await createAccount(q);
      const token = await createToken(q, account.id);
      const d = await createDestination(q, token.token, {});
      await q.backends.stores.close();
      if (!q.config.database_url) await q.backends.close(); // SQLite: the store shares the file's connection
      try {
        for (const [method, url, auth, body] of [
          ["GET", "/v1/accounts", ADMIN_TOKEN, undefined],
          ["POST", "/v1/accounts", ADMIN_TOKEN, { name: "x" }],
          ["GET", `/v1/accounts/${account.id}`, ADMIN_TOKEN, undefined],
          ["DELETE", `/v1/accounts/${account.id}`, ADMIN_TOKEN, undefined],
          ["GET", `/v1/destinations/${d.id}`, ADMIN_TOKEN, undefined],
          ["POST", "/v1/destinations", ADMIN_TOKEN, { url: freshUrl(), account_id: account.id }],
          ["GET", `/v1/destinations?account_id=${account.id}`, ADMIN_TOKEN, undefined],
          // a token not cached: it cannot be checked
          ["GET", `/v1/accounts/${account.id}`, ACCOUNT_TOKEN_PREFIX + "B".repeat(43), undefined],
        ] as const) {
          const a = await call(q, method, url, auth, body);
          assertProblem(a, 503, "store_unavailable");
          assert.equal(a.res.headers["retry-after"], "5");
        }
      } finally {
        await q.stop().catch(() => {});
      }
    });
  });
}
