/**
 * The ADS webhook service (seed 004) and Ferry's broadcast end to end: the real API (inject),
 * a real worker, real backends and real HTTP receivers. Each backend's test file calls
 * `adsSuite` once. On a shared Postgres database every test uses event types and payloads of
 * its own, so what one test subscribed or triggered never reaches another's.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ADMIN_TOKEN, AUTH, drained, eventually, startPipeline, type Pipeline } from "../support/harness.js";
import { startReceiver, type Receiver, type ReceivedRequest } from "../../src/receiver.js";
import type { Config } from "../../src/config.js";
import { account, call, ok, type Call } from "../support/api.js";
import { triggerMd5 } from "../../src/compat/ads-event.js";

export const REGISTRATION_TOKEN = "test-registration-token-0123";
export const TRIGGER_TOKEN = "test-trigger-token-0123456789";
export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

/** The settings that switch the ADS module on, with its two tokens. */
export function adsSettings(overrides: Partial<Config> = {}): Partial<Config> {
  return { compat: "ads", registration_token: REGISTRATION_TOKEN, trigger_token: TRIGGER_TOKEN, ...overrides } as Partial<Config>;
}

/** An error as the ADS routes answer it: the original's status and {"error"}, with Ferry's code. */
export function adsError(c: Call, status: number, code: string, what: string): string {
  assert.equal(c.status, status, `${what}: ${JSON.stringify(c.body)}`);
  assert.match(String(c.headers["content-type"]), /^application\/json/, what);
  assert.equal(c.body.code, code, `${what}: ${JSON.stringify(c.body)}`);
  assert.equal(typeof c.body.error, "string", what);
  return c.body.error as string;
}

export async function register(p: Pipeline, userId: unknown, email = "you@email.bar"): Promise<string> {
  const c = await call(p, "POST", "/webhooks/account", { user_email: email, user_id: userId }, bearer(REGISTRATION_TOKEN));
  const token = ok(c, 200, `register ${String(userId)}`);
  assert.equal(typeof token, "string", "the access token is answered as a JSON string");
  return token as string;
}

export const subscribe = (p: Pipeline, token: string, event: string, url: string): Promise<Call> =>
  call(p, "POST", "/webhooks/subscribe", { event, url }, bearer(token));

export const trigger = (p: Pipeline, body: unknown, token = TRIGGER_TOKEN): Promise<Call> => call(p, "POST", "/webhooks/trigger", body, bearer(token));

let unique = 0;
/** An event type and payload no other test uses. */
const fresh = (what: string) => `${what}_${Date.now().toString(36)}_${++unique}`;

export function adsSuite(name: string, backend: () => Partial<Config> | Promise<Partial<Config>>): void {
  describe(`the ADS webhook service and broadcasts (${name})`, () => {
    let receiver: Receiver;
    let flaky = true;
    const pipelines: Pipeline[] = [];
    before(async () => {
      // Any path answers 200; one under /fail answers 500, one under /flaky 500 while `flaky` holds.
      receiver = await startReceiver({
        respond: (r) => {
          const path = new URL(r.url).pathname;
          return path.startsWith("/fail") || (flaky && path.startsWith("/flaky")) ? { status: 500 } : undefined;
        },
      });
    });
    after(async () => {
      await Promise.all(pipelines.map((p) => p.stop()));
      await receiver.close();
    });
    async function start(overrides: Partial<Config> = {}): Promise<Pipeline> {
      const p = await startPipeline({ ...(await backend()), ...adsSettings(overrides) });
      pipelines.push(p);
      return p;
    }
    const arrived = (path: string): ReceivedRequest[] => receiver.requests.filter((r) => new URL(r.url).pathname === path);

    test("account: the registration token makes an account ads:<user_id> and answers its token; the same token again for the same user", async () => {
      const p = await start();
      const user = fresh("user");
      const token = await register(p, user);
      assert.match(token, /^ferry_/);
      assert.equal(await register(p, user, "other@email.bar"), token, "a known user_id gets the same token");
      assert.notEqual(await register(p, fresh("user")), token, "another user gets another token");
      const listed = ok(await call(p, "GET", `/v1/accounts?external_id=ads:${user}`), 200, "find the account by external id");
      assert.equal(listed.data.length, 1);
      assert.equal(listed.data[0].external_id, `ads:${user}`);
      assert.equal(listed.data[0].email, "you@email.bar", "the email of the first registration");
      // The token is a live account token of that account.
      ok(await call(p, "GET", `/v1/accounts/${listed.data[0].id}`, undefined, bearer(token)), 200, "the token reads its own account");
    });

    test("account: wrong, missing or other tokens get 401; no user_id gets the original's 401", async () => {
      const p = await start();
      const body = { user_id: fresh("user") };
      adsError(await call(p, "POST", "/webhooks/account", body, {}), 401, "missing_token", "no Authorization");
      adsError(await call(p, "POST", "/webhooks/account", body, { authorization: "Basic abc" }), 401, "missing_token", "no Bearer");
      adsError(await call(p, "POST", "/webhooks/account", body, bearer("wrong-token-0123456789")), 401, "invalid_token", "wrong token");
      adsError(await call(p, "POST", "/webhooks/account", body, bearer(TRIGGER_TOKEN)), 401, "invalid_token", "the trigger token cannot register");
      adsError(await call(p, "POST", "/webhooks/account", body, AUTH), 401, "invalid_token", "nor the admin token");
      const missing = adsError(await call(p, "POST", "/webhooks/account", { user_email: "x@y.z" }, bearer(REGISTRATION_TOKEN)), 401, "missing_user_id", "no user_id");
      assert.equal(missing, 'No "user_id" provided in authentication request');
      adsError(await call(p, "POST", "/webhooks/account", { user_id: "" }, bearer(REGISTRATION_TOKEN)), 401, "missing_user_id", "empty user_id");
      adsError(await call(p, "POST", "/webhooks/account", "{not json", bearer(REGISTRATION_TOKEN)), 400, "invalid_json", "malformed JSON");
    });

    test("account: a user_email that is no address (a NUL in it, say) is not kept; the user is registered all the same", async () => {
      // Found by the fuzz suite: a NUL reached Postgres and answered 500.
      const p = await start();
      const user = fresh("user");
      await register(p, user, "@x\u0000y");
      const found = ok(await call(p, "GET", `/v1/accounts?external_id=${encodeURIComponent("ads:" + user)}`), 200, "find").data;
      assert.equal(found.length, 1);
      assert.equal(found[0].email, null);
    });

    test("account: with no FERRY_REGISTRATION_TOKEN registration is closed", async () => {
      const p = await start({ registration_token: undefined } as Partial<Config>);
      adsError(await call(p, "POST", "/webhooks/account", { user_id: "u" }, bearer(REGISTRATION_TOKEN)), 401, "invalid_token", "closed");
    });

    test("account: a user whose token the admin revoked gets 409 account_token_revoked, not the dead token", async () => {
      const p = await start();
      const user = fresh("user");
      const token = await register(p, user);
      const acct = ok(await call(p, "GET", `/v1/accounts?external_id=ads:${user}`), 200, "find").data[0];
      const tokens = ok(await call(p, "GET", `/v1/accounts/${acct.id}/tokens`), 200, "tokens").data;
      assert.equal(tokens.length, 1);
      assert.equal(tokens[0].name, "ADS access token");
      assert.equal((await call(p, "DELETE", `/v1/accounts/${acct.id}/tokens/${tokens[0].id}`)).status, 204, "revoke");
      adsError(await call(p, "POST", "/webhooks/subscribe", { event: "e", url: `${receiver.url}/x` }, bearer(token)), 401, "token_revoked", "the revoked token");
      adsError(await call(p, "POST", "/webhooks/account", { user_id: user }, bearer(REGISTRATION_TOKEN)), 409, "account_token_revoked", "registering again");
    });

    test("compat off: without ads in FERRY_COMPAT the ADS routes are not there", async () => {
      const p = await start({ compat: undefined } as Partial<Config>);
      for (const path of ["/webhooks/account", "/webhooks/subscribe", "/webhooks/trigger"]) {
        const c = await call(p, "POST", path, { user_id: "u", event: "e", url: "http://127.0.0.1/x", payload: {} }, bearer(REGISTRATION_TOKEN));
        assert.equal(c.status, 404, path);
      }
      // Ferry's own broadcast stays: it is no compat route.
      assert.equal((await call(p, "POST", `/v1/broadcast?type=${fresh("x")}`, { a: 1 }, bearer(TRIGGER_TOKEN))).status, 202);
    });

    test("subscribe: an account token subscribes; the same event and URL warns; a second event for the URL adds a subscription", async () => {
      const p = await start();
      const token = await register(p, fresh("user"));
      const [e1, e2] = [fresh("relation_added"), fresh("relation_deleted")];
      const url = `${receiver.url}/${fresh("cb")}`;
      const first = await subscribe(p, token, e1, url);
      assert.equal(ok(first, 200, "subscribe"), 200, "the original answered 200 with the body 200");
      assert.deepEqual(ok(await subscribe(p, token, e1, url), 200, "again"), { warning: "subscription already exists" });
      assert.equal(ok(await subscribe(p, token, e2, url), 200, "second event"), 200);
      const dests = ok(await call(p, "GET", "/v1/destinations", undefined, bearer(token)), 200, "list").data;
      assert.equal(dests.length, 1, "one destination for the URL");
      assert.deepEqual(dests[0].event_types, [e1, e2], "both subscriptions kept");
      assert.equal(dests[0].method, "POST");
      assert.equal(dests[0].max_attempts, 1);
      assert.equal(dests[0].failure_threshold, 5);
      assert.equal(dests[0].failure_window_ms, 0);
      assert.equal(dests[0].on_disable, "hold");
      // Both events reach it.
      for (const e of [e1, e2]) ok(await trigger(p, { event: e, payload: { n: e } }), 200, `trigger ${e}`);
      await eventually(() => arrived(new URL(url).pathname).length === 2, 10_000, "both events");
    });

    test("subscribe: registration, trigger, admin and unknown tokens get 401; a missing field the original's 401", async () => {
      const p = await start();
      const token = await register(p, fresh("user"));
      const body = { event: "relation_added", url: `${receiver.url}/x` };
      for (const [what, t] of [["registration", REGISTRATION_TOKEN], ["trigger", TRIGGER_TOKEN], ["unknown", "ferry_live_nope"]] as const) {
        adsError(await call(p, "POST", "/webhooks/subscribe", body, bearer(t)), 401, "invalid_token", `the ${what} token`);
      }
      adsError(await call(p, "POST", "/webhooks/subscribe", body, AUTH), 401, "invalid_token", "the admin token subscribes no account");
      adsError(await call(p, "POST", "/webhooks/subscribe", body, {}), 401, "missing_token", "no token");
      const missing = adsError(await subscribe(p, token, undefined as unknown as string, `${receiver.url}/x`), 401, "invalid_subscription", "no event");
      assert.match(missing, /^incorrect submission data was provided/);
      adsError(await call(p, "POST", "/webhooks/subscribe", { event: "relation_added" }, bearer(token)), 401, "invalid_subscription", "no url");
      adsError(await subscribe(p, token, "relation_added", "ftp://x/y"), 422, "invalid_url", "not http(s)");
      adsError(await subscribe(p, token, "has space", `${receiver.url}/x`), 422, "invalid_event_types", "a malformed event");
    });

    test("trigger: every subscribed account's callback gets the wrapped event; a repeat is not sent again", async () => {
      const p = await start();
      const event = fresh("relation_added");
      const [a, b, other] = [await register(p, fresh("alice")), await register(p, fresh("bob")), await register(p, fresh("carol"))];
      const [pathA, pathB, pathOther] = [`/${fresh("a")}`, `/${fresh("b")}`, `/${fresh("c")}`];
      ok(await subscribe(p, a, event, receiver.url + pathA), 200, "a subscribes");
      ok(await subscribe(p, b, event, receiver.url + pathB), 200, "b subscribes");
      ok(await subscribe(p, other, fresh("other_event"), receiver.url + pathOther), 200, "carol subscribes to another event");
      const body = { event, payload: { bibcode: "2017arXiv170301301Z", relation: "cites", n: 1.5 } };
      const before = Date.now();
      assert.equal(ok(await trigger(p, body), 200, "trigger"), 200, "the original answered 200 with the body 200");
      await eventually(() => arrived(pathA).length === 1 && arrived(pathB).length === 1, 10_000, "both callbacks");
      const [gotA, gotB] = [JSON.parse(arrived(pathA)[0]!.body), JSON.parse(arrived(pathB)[0]!.body)];
      assert.deepEqual(Object.keys(gotA), ["id", "event", "creator", "source", "description", "time", "payload"]);
      assert.match(gotA.id, /^bc_/);
      assert.equal(gotA.id, gotB.id, "one event, one id, for every subscriber");
      assert.equal(gotA.event, event);
      assert.equal(gotA.creator, "ADS");
      assert.equal(gotA.source, "ADS.Discovery");
      assert.equal(gotA.description, "ADS citation events");
      assert.match(gotA.time, /^\d+$/, "seconds since the epoch, as a string");
      assert.ok(Math.abs(Number(gotA.time) - before / 1000) < 60);
      assert.deepEqual(gotA.payload, body.payload);
      assert.deepEqual(gotB.payload, body.payload);
      assert.equal(arrived(pathA)[0]!.method, "POST");
      assert.match(String(arrived(pathA)[0]!.headers["content-type"]), /^application\/json/);

      // The same request again (keys in another order: the md5 is of the sorted keys) is a repeat.
      const again = { payload: { n: 1.5, relation: "cites", bibcode: "2017arXiv170301301Z" }, event };
      assert.equal(triggerMd5(again), triggerMd5(body));
      assert.equal(ok(await trigger(p, again), 200, "repeat"), 200, "a repeat is answered 200 too, as the original did");
      // Another payload is a new event; once it has arrived and the queue is drained, a repeat
      // sent would have arrived too.
      ok(await trigger(p, { event, payload: { n: 2 } }), 200, "a new event");
      await eventually(() => arrived(pathA).length === 2 && arrived(pathB).length === 2, 10_000, "the new event");
      await drained(p);
      assert.deepEqual(arrived(pathA).map((r) => JSON.parse(r.body).payload), [body.payload, { n: 2 }], "the repeat was not sent");
      assert.equal(arrived(pathOther).length, 0, "an account subscribed to another event gets nothing");
    });

    test("trigger: with FERRY_ADS_DEDUPE_TRIGGERS off a repeat is sent again (re-emission)", async () => {
      const p = await start({ ads_dedupe_triggers: false } as Partial<Config>);
      const event = fresh("relation_added");
      const path = `/${fresh("re")}`;
      ok(await subscribe(p, await register(p, fresh("user")), event, receiver.url + path), 200, "subscribe");
      const body = { event, payload: { relation: "x" } };
      ok(await trigger(p, body), 200, "first");
      ok(await trigger(p, body), 200, "again");
      await eventually(() => arrived(path).length === 2, 10_000, "both sent");
      const [first, second] = arrived(path).map((r) => JSON.parse(r.body));
      assert.notEqual(first.id, second.id, "each emission is an event of its own");
    });

    test("trigger: registration, account and admin tokens get 401; no event or payload is 400 (the original's 500)", async () => {
      const p = await start();
      const token = await register(p, fresh("user"));
      const body = { event: "relation_added", payload: {} };
      adsError(await trigger(p, body, REGISTRATION_TOKEN), 401, "invalid_token", "the registration token cannot trigger");
      adsError(await trigger(p, body, token), 401, "invalid_token", "nor an account token");
      adsError(await trigger(p, body, "test-admin-token-0123456789"), 401, "invalid_token", "nor the admin token");
      adsError(await call(p, "POST", "/webhooks/trigger", body, {}), 401, "missing_token", "no token");
      assert.equal(adsError(await trigger(p, { payload: {} }), 400, "invalid_trigger", "no event"), "no event was provided");
      assert.equal(adsError(await trigger(p, { event: "relation_added" }), 400, "invalid_trigger", "no payload"), "no payload was provided");
      adsError(await trigger(p, { event: "a b", payload: {} }), 400, "invalid_trigger", "a malformed event");
      adsError(await trigger(p, [1, 2]), 400, "invalid_trigger", "not an object");
    });

    test("trigger: the trigger token manages nothing and pushes nowhere", async () => {
      const p = await start();
      const t = bearer(TRIGGER_TOKEN);
      for (const [method, url, body] of [
        ["GET", "/v1/accounts", undefined],
        ["POST", "/v1/accounts", { name: "x" }],
        ["GET", "/v1/destinations", undefined],
        ["POST", "/v1/push", { a: 1 }],
        ["POST", "/v1/events", { session_id: "s", category: "c", name: "n", data: {} }],
        ["POST", "/ingest", { endpoint: { url: "http://127.0.0.1/x" }, data: [{}] }],
      ] as const) {
        const c = await call(p, method, url, body, t);
        assert.equal(c.status, 401, `${method} ${url} with the trigger token: ${JSON.stringify(c.body)}`);
        assert.equal(c.body.code, "invalid_token");
      }
      const r = bearer(REGISTRATION_TOKEN);
      assert.equal((await call(p, "GET", "/v1/accounts", undefined, r)).status, 401, "nor does the registration token");
      assert.equal((await call(p, "POST", "/v1/broadcast?type=x", { a: 1 }, r)).status, 401, "the registration token cannot broadcast");
    });

    test("failures: 5 failed events (one attempt each) deactivate the subscription; later ones are held, not sent", async () => {
      const p = await start();
      const event = fresh("relation_added");
      const token = await register(p, fresh("user"));
      const path = `/fail/${fresh("f")}`;
      ok(await subscribe(p, token, event, receiver.url + path), 200, "subscribe a failing callback");
      const dst = ok(await call(p, "GET", "/v1/destinations", undefined, bearer(token)), 200, "list").data[0];
      for (let i = 0; i < 4; i++) {
        ok(await trigger(p, { event, payload: { i } }), 200, `trigger ${i}`);
        await eventually(() => arrived(path).length === i + 1, 10_000, `failure ${i + 1}`);
      }
      await drained(p);
      assert.equal(ok(await call(p, "GET", `/v1/destinations/${dst.id}`, undefined, bearer(token)), 200, "get").enabled, true, "4 failures: still active");
      ok(await trigger(p, { event, payload: { i: 4 } }), 200, "the fifth");
      const disabled = await eventually(async () => {
        const d = ok(await call(p, "GET", `/v1/destinations/${dst.id}`, undefined, bearer(token)), 200, "get");
        return d.enabled === false ? d : undefined;
      }, 10_000, "the subscription to be deactivated");
      assert.ok(disabled.disabled_reason, "it says why");
      assert.equal(arrived(path).length, 5, "one attempt per event: no retries");
      // A sixth event is held for the deactivated subscription, not sent.
      const held = ok(await trigger(p, { event, payload: { i: 5 } }), 200, "the sixth");
      assert.equal(held, 200);
      await drained(p);
      assert.equal(arrived(path).length, 5, "nothing sent to a deactivated subscription");
    });

    test("resend: what failed is sent again by a replay of the subscription's destination (ferry replay --destination)", async () => {
      const p = await start();
      const event = fresh("relation_added");
      const token = await register(p, fresh("user"));
      const path = `/flaky/${fresh("r")}`;
      ok(await subscribe(p, token, event, receiver.url + path), 200, "subscribe");
      const dst = ok(await call(p, "GET", "/v1/destinations", undefined, bearer(token)), 200, "list").data[0];
      const since = new Date(Date.now() - 1000).toISOString();
      flaky = true;
      ok(await trigger(p, { event, payload: { relation: "r1" } }), 200, "trigger");
      const dead = await eventually(async () => {
        const log = ok(await call(p, "GET", `/v1/postbacks?destination_id=${dst.id}`, undefined, bearer(token)), 200, "log").data;
        return log.length === 1 && log[0].state === "dead" ? log[0] : undefined;
      }, 10_000, "the failed postback");
      assert.equal(dead.attempts, 1, "one attempt, as the original made");
      assert.equal(dead.last_attempt.status_code, 500);
      // The store records an attempt before the queue lets go of its postback; a replay in
      // between finds it still queued and skips it. Wait for the queue, as cron's replay would.
      await eventually(async () => (await p.backends.queue.find(dead.id)) === undefined, 10_000, "the dead postback to leave the queue");
      flaky = false;
      const replay = ok(await call(p, "POST", `/v1/destinations/${dst.id}/replay`, { since }, bearer(token)), 202, "replay");
      assert.equal(replay.replayed, 1);
      await eventually(() => arrived(path).length === 2, 10_000, "the resend");
      assert.deepEqual(JSON.parse(arrived(path)[1]!.body), JSON.parse(arrived(path)[0]!.body), "the same event, id and all");
    });

    test("SSRF guard: without FERRY_ALLOW_PRIVATE_DESTINATIONS a subscription to a loopback callback is refused at delivery", async () => {
      const p = await start({ allow_private_destinations: false });
      const event = fresh("relation_added");
      const token = await register(p, fresh("user"));
      const path = `/${fresh("private")}`;
      ok(await subscribe(p, token, event, receiver.url + path), 200, "subscribing is allowed (the address is checked as it is delivered to)");
      const dst = ok(await call(p, "GET", "/v1/destinations", undefined, bearer(token)), 200, "list").data[0];
      ok(await trigger(p, { event, payload: {} }), 200, "trigger");
      const refused = await eventually(async () => {
        const log = ok(await call(p, "GET", `/v1/postbacks?destination_id=${dst.id}`, undefined, bearer(token)), 200, "log").data;
        return log.length === 1 && log[0].state === "dead" ? log[0] : undefined;
      }, 10_000, "the refused postback");
      assert.equal(refused.last_attempt.error, "destination_refused");
      assert.equal(arrived(path).length, 0, "nothing reached the loopback receiver");
    });

    test("broadcast: the admin or the provider token reaches every account's subscribed destinations, in one call; idempotent", async () => {
      const p = await start();
      const type = fresh("order.shipped");
      const [a, b] = [await account(p), await account(p)];
      const [pathA, pathB, pathAll, pathOther] = [`/${fresh("ba")}`, `/${fresh("bb")}`, `/${fresh("ball")}`, `/${fresh("bo")}`];
      const dA = ok(await call(p, "POST", "/v1/destinations", { url: receiver.url + pathA, event_types: [type] }, a.auth), 201, "a's");
      const dB = ok(await call(p, "POST", "/v1/destinations", { url: receiver.url + pathB, event_types: [`${type.split(".")[0]}.*`] }, b.auth), 201, "b's, by prefix");
      ok(await call(p, "POST", "/v1/destinations", { url: receiver.url + pathAll }, a.auth), 201, "a catch-all of a's own pushes");
      ok(await call(p, "POST", "/v1/destinations", { url: receiver.url + pathOther, event_types: ["nope"] }, b.auth), 201, "another type");
      const res = await call(p, "POST", `/v1/broadcast?type=${type}`, [{ n: 1 }, { n: 2 }], { ...bearer(TRIGGER_TOKEN), "idempotency-key": `k-${type}` });
      const body = ok(res, 202, "broadcast");
      assert.match(body.id, /^bc_/);
      assert.equal(body.postbacks.length, 4, "2 objects × 2 subscribed destinations");
      assert.deepEqual(new Set(body.postbacks.map((x: any) => x.destination_id)), new Set([dA.id, dB.id]));
      assert.deepEqual(new Set(body.postbacks.map((x: any) => x.account_id)), new Set([a.id, b.id]));
      await eventually(() => arrived(pathA).length === 2 && arrived(pathB).length === 2, 10_000, "4 deliveries");
      const again = await call(p, "POST", `/v1/broadcast?type=${type}`, [{ n: 1 }, { n: 2 }], { ...bearer(TRIGGER_TOKEN), "idempotency-key": `k-${type}` });
      assert.deepEqual(ok(again, 202, "replayed"), body);
      assert.equal(again.headers["idempotent-replayed"], "true");
      ok(await call(p, "POST", `/v1/broadcast?type=${type}`, { n: 3 }, AUTH), 202, "the admin broadcasts too");
      await eventually(() => arrived(pathA).length === 3, 10_000, "the admin's");
      await drained(p);
      assert.equal(arrived(pathB).length, 3);
      assert.equal(arrived(pathAll).length, 0, "an empty filter takes no broadcast");
      assert.equal(arrived(pathOther).length, 0, "nor does another type");
      // A broadcast nobody subscribed to is queued nowhere, and answered all the same.
      assert.deepEqual(ok(await call(p, "POST", `/v1/broadcast?type=${fresh("none")}`, { n: 1 }, AUTH), 202, "nobody").postbacks, []);
    });

    test("broadcast: an account token gets 403, wrong or missing tokens 401, no type 422", async () => {
      const p = await start();
      const a = await account(p);
      const problem = (c: Call, status: number, code: string, what: string) => {
        assert.equal(c.status, status, `${what}: ${JSON.stringify(c.body)}`);
        assert.equal(c.body.code, code, what);
      };
      problem(await call(p, "POST", "/v1/broadcast?type=x", { n: 1 }, a.auth), 403, "admin_only", "an account token");
      problem(await call(p, "POST", "/v1/broadcast?type=x", { n: 1 }, bearer("wrong-token-000000")), 401, "invalid_token", "wrong token");
      problem(await call(p, "POST", "/v1/broadcast?type=x", { n: 1 }, {}), 401, "missing_token", "no token");
      problem(await call(p, "POST", "/v1/broadcast", { n: 1 }, AUTH), 422, "invalid_type", "no type");
      problem(await call(p, "POST", "/v1/broadcast?type=a%20b", { n: 1 }, AUTH), 422, "invalid_type", "a malformed type");
      problem(await call(p, "POST", "/v1/broadcast?type=x", [1], AUTH), 422, "invalid_data", "not objects");
    });

    test("subscribe: the URL of an account's own catch-all destination is refused (409), not narrowed to one event", async () => {
      const p = await start();
      const token = await register(p, fresh("user"));
      const url = `${receiver.url}/${fresh("own")}`;
      ok(await call(p, "POST", "/v1/destinations", { url }, bearer(token)), 201, "a destination taking every push");
      adsError(await subscribe(p, token, fresh("relation_added"), url), 409, "destination_exists", "same URL");
      assert.deepEqual(ok(await call(p, "GET", "/v1/destinations", undefined, bearer(token)), 200, "list").data[0].event_types, [], "left as it was");
    });

    test("isolation: one account's token cannot see another's subscription (404); subscribing the same URL makes its own", async () => {
      const p = await start();
      const event = fresh("relation_added");
      const url = `${receiver.url}/${fresh("shared")}`;
      const [a, b] = [await register(p, fresh("alice")), await register(p, fresh("bob"))];
      ok(await subscribe(p, a, event, url), 200, "a");
      const dA = ok(await call(p, "GET", "/v1/destinations", undefined, bearer(a)), 200, "a's").data[0];
      assert.equal((await call(p, "GET", `/v1/destinations/${dA.id}`, undefined, bearer(b))).status, 404);
      assert.equal((await call(p, "PATCH", `/v1/destinations/${dA.id}`, { enabled: false }, bearer(b))).status, 404);
      assert.equal((await call(p, "DELETE", `/v1/destinations/${dA.id}`, undefined, bearer(b))).status, 404);
      assert.equal(ok(await subscribe(p, b, event, url), 200, "b, same URL"), 200, "b's own subscription, not a's warning");
      const dB = ok(await call(p, "GET", "/v1/destinations", undefined, bearer(b)), 200, "b's").data[0];
      assert.notEqual(dB.id, dA.id);
    });
  });
}
