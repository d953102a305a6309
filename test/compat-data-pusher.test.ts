/**
 * Data Pusher (seed 002) compatibility on SQLite: the README's requests against the real API, a
 * real worker and a real receiver; the envelope, the secret_token, and every refusal.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { drained, eventually, startPipeline, type Pipeline } from "./support/harness.js";
import { startReceiver, type Receiver } from "../src/receiver.js";
import { AUTH, arrivedAt, call, coreFlow, done, ok, readmeAccount, README_HEADERS, refused, startDataPusher } from "./e2e/data-pusher.js";

describe("Data Pusher compatibility (SQLite)", () => {
  let receiver: Receiver;
  let p: Pipeline;
  let n = 0;
  /** A path of its own for each test, so the receiver's requests stay apart. */
  const tag = () => `/dp-${++n}`;
  before(async () => {
    receiver = await startReceiver();
    p = await startDataPusher({});
  });
  after(async () => {
    await p.stop();
    await receiver.close();
  });

  test("the core flow: GET and POST destinations get the data with their headers", async () => {
    await coreFlow(p, receiver, tag());
  });

  test("the README's account requests: create, fetch (secret_token shown again), update, delete", async () => {
    const created = done(await call(p, "POST", "/account/", { account_name: "gangdhars2", email: "gangs2@gamil.com", website: "https://gangs.com" }), "create");
    const id = created.data.account_id;
    assert.deepEqual(Object.keys(created.data), ["account_id", "account_name", "email", "website", "secret_token"]);
    const fetched = done(await call(p, "GET", `/account/?account_id=${id}`), "GET one");
    assert.deepEqual(fetched.data, { account_id: id, account_name: "gangdhars2", email: "gangs2@gamil.com", website: "https://gangs.com", secret_token: created.data.secret_token });
    const all = done(await call(p, "GET", "/account/?limit=100"), "GET all");
    assert.ok(Array.isArray(all.data));
    assert.deepEqual(all.data.find((a: any) => a.account_id === id), fetched.data);
    // The README's update, with Ferry's id and token for Data Pusher's 3 and L6vdp2M0….
    const updated = done(
      await call(p, "PATCH", "/account/", { account_id: id, email: "gangs4@gamil.com", account_name: "gangdhars4", secret_token: created.data.secret_token, website: "hello.com" }, {}),
      "PATCH",
    );
    assert.equal(updated.message, "Updated Successfully");
    const after = done(await call(p, "GET", `/account/?account_id=${id}`), "GET after PATCH");
    assert.deepEqual([after.data.account_name, after.data.email, after.data.website], ["gangdhars4", "gangs4@gamil.com", "hello.com"]);
    // The secret token is an ordinary account token of Ferry's API too.
    ok(await call(p, "GET", `/v1/accounts/${id}`, undefined, { authorization: `Bearer ${created.data.secret_token}` }), 200, "v1 with the secret_token");
    const deleted = done(await call(p, "DELETE", "/account/", { account_id: id, secret_token: created.data.secret_token }, {}), "DELETE");
    assert.equal(deleted.message, "Deleted Successfully");
    refused(await call(p, "GET", `/account/?account_id=${id}`), 404, "account_not_found", "GET a deleted account");
    refused(await call(p, "GET", "/destination/", undefined, { "cl-x-token": created.data.secret_token }), 401, "invalid_token", "its token is gone");
  });

  test("the README's destination requests: update and delete by destination_id", async () => {
    const t = tag();
    const account = await readmeAccount(p, 5);
    const d = done(await call(p, "POST", "/destination/", { account_id: account.id, url: `${receiver.url}${t}/a`, http_method: "GET", headers: README_HEADERS }, account.auth), "create");
    const patched = done(
      await call(p, "PATCH", "/destination/", { destination_id: d.data.id, url: `${receiver.url}${t}/b`, http_method: "GET", headers: { ...README_HEADERS, ACTION: "user.delete" } }, account.auth),
      "PATCH",
    );
    assert.equal(patched.message, "Updated Successfully");
    done(await call(p, "POST", "/server/incoming_data", { account_id: account.id, secret_token: account.token, data: { k: "v" } }, {}), "push");
    await eventually(() => arrivedAt(receiver, `${t}/b`).length === 1, 10_000, "delivered to the new URL");
    assert.equal(arrivedAt(receiver, `${t}/b`)[0]!.headers["action"], "user.delete");
    assert.equal(done(await call(p, "DELETE", "/destination/", { destination_id: d.data.id }, account.auth), "DELETE").message, "Deleted Successfully");
    assert.deepEqual(done(await call(p, "GET", `/destination/?account_id=${account.id}`, undefined, account.auth), "list").data, []);
    refused(await call(p, "DELETE", "/destination/", { destination_id: d.data.id }, account.auth), 404, "destination_not_found", "deleted twice");
  });

  test("PUT and DELETE destinations get the data as a JSON body, as Data Pusher sent it", async () => {
    const t = tag();
    const account = await readmeAccount(p, 6);
    for (const method of ["PUT", "DELETE"]) {
      done(await call(p, "POST", "/destination/", { account_id: account.id, url: `${receiver.url}${t}/${method}`, http_method: method, headers: { APP_ID: "x" } }, account.auth), method);
    }
    done(await call(p, "POST", "/server/incoming_data", { account_id: account.id, secret_token: account.token, data: { order: 1 } }, {}), "push");
    await eventually(() => arrivedAt(receiver, `${t}/PUT`).length === 1 && arrivedAt(receiver, `${t}/DELETE`).length === 1, 10_000, "2 deliveries");
    for (const method of ["PUT", "DELETE"]) {
      const r = arrivedAt(receiver, `${t}/${method}`)[0]!;
      assert.equal(r.method, method);
      assert.deepEqual(JSON.parse(r.body), { order: 1 }, method);
      assert.equal(r.headers["content-type"], "application/json");
      assert.equal(r.headers["app_id"], "x");
    }
  });

  test("incoming_data: the header form still works, and the GET form takes the fields as parameters", async () => {
    const t = tag();
    const account = await readmeAccount(p, 7);
    done(await call(p, "POST", "/destination/", { account_id: account.id, url: `${receiver.url}${t}`, http_method: "POST", headers: {} }, account.auth), "destination");
    const header = done(await call(p, "POST", "/server/incoming_data", [{ a: 1 }, { account_id: "not a field here", b: 2 }], account.auth), "header form, an array");
    assert.equal(header.postbacks.length, 2);
    done(await call(p, "GET", `/server/incoming_data?account_id=${account.id}&secret_token=${account.token}&c=3`, undefined, {}), "GET form without data=");
    done(await call(p, "POST", `/server/incoming_data?account_id=${account.id}`, { d: 4 }, AUTH), "the admin names the account");
    await eventually(() => arrivedAt(receiver, t).length === 4, 10_000, "4 deliveries");
    assert.deepEqual(arrivedAt(receiver, t).map((r) => JSON.parse(r.body)).sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y))), [
      { a: 1 }, { account_id: "not a field here", b: 2 }, { c: "3" }, { d: 4 },
    ]);
  });

  test("an Idempotency-Key on incoming_data queues a repeat once", async () => {
    const t = tag();
    const account = await readmeAccount(p, 8);
    done(await call(p, "POST", "/destination/", { account_id: account.id, url: `${receiver.url}${t}`, http_method: "POST", headers: {} }, account.auth), "destination");
    const body = { account_id: account.id, secret_token: account.token, data: { once: true } };
    const first = done(await call(p, "POST", "/server/incoming_data", body, { "idempotency-key": "k-1" }), "first");
    const again = await call(p, "POST", "/server/incoming_data", body, { "idempotency-key": "k-1" });
    assert.equal(again.headers["idempotent-replayed"], "true");
    assert.deepEqual(again.body, first);
    await drained(p);
    assert.equal(arrivedAt(receiver, t).length, 1);
  });

  test("secret_token: worked out from the admin token, null with a message once revoked, never shown to an account token", async () => {
    const account = await readmeAccount(p, 9);
    const tokens = ok(await call(p, "GET", `/v1/accounts/${account.id}/tokens`), 200, "tokens").data;
    assert.equal(tokens.length, 1);
    assert.equal(tokens[0].name, "data-pusher secret_token");
    const own = done(await call(p, "GET", `/account/?account_id=${account.id}`, undefined, account.auth), "GET by its own token");
    assert.equal(own.data.secret_token, null);
    assert.match(own.data.secret_token_message, /admin token only/);
    assert.equal(done(await call(p, "GET", "/account/", undefined, account.auth), "own, no id").data.account_id, account.id);
    await call(p, "DELETE", `/v1/accounts/${account.id}/tokens/${tokens[0].id}`);
    const revoked = done(await call(p, "GET", `/account/?account_id=${account.id}`), "GET after revoking");
    assert.equal(revoked.data.secret_token, null);
    assert.match(revoked.data.secret_token_message, /revoked/);
    assert.equal(ok(await call(p, "GET", `/v1/accounts/${account.id}/tokens`), 200, "tokens").data.length, 1, "not made again");
    refused(await call(p, "GET", "/destination/", undefined, account.auth), 401, "token_revoked", "the revoked token");
  });

  test("an account made with POST /v1/accounts gets its secret_token on its first GET /account/?account_id= (a listing makes none)", async () => {
    const a = ok(await call(p, "POST", "/v1/accounts", { name: "v1 made" }), 201, "v1 create");
    const listed = done(await call(p, "GET", "/account/?limit=100"), "list").data.find((x: any) => x.account_id === a.id);
    assert.equal(listed.secret_token, null, "a listing makes no token");
    assert.match(listed.secret_token_message, /makes it/);
    const first = done(await call(p, "GET", `/account/?account_id=${a.id}`), "first GET");
    assert.match(first.data.secret_token, /^ferry_live_/);
    assert.equal(done(await call(p, "GET", `/account/?account_id=${a.id}`), "second GET").data.secret_token, first.data.secret_token);
  });

  test("a wrong or missing token is 401, on every route", async () => {
    const account = await readmeAccount(p, 10);
    const routes: [string, string, unknown?][] = [
      ["POST", "/account/", { account_name: "x", email: "x@x.x" }],
      ["GET", `/account/?account_id=${account.id}`],
      ["PATCH", "/account/", { account_id: account.id, email: "y@y.y" }],
      ["DELETE", "/account/", { account_id: account.id }],
      ["POST", "/destination/", { account_id: account.id, url: "https://partner.example/x", http_method: "POST", headers: {} }],
      ["GET", `/destination/?account_id=${account.id}`],
      ["PATCH", "/destination/", { destination_id: "dst_x", url: "https://partner.example/y" }],
      ["DELETE", "/destination/", { destination_id: "dst_x" }],
      ["POST", "/server/incoming_data", { account_id: account.id, data: { a: 1 } }],
      ["GET", `/server/incoming_data?account_id=${account.id}&data=%7B%7D`],
    ];
    for (const [method, url, body] of routes) {
      const missing = refused(await call(p, method, url, body, {}), 401, "missing_token", `${method} ${url} without a token`);
      assert.doesNotMatch(missing.message, /ferry_live_/);
      refused(await call(p, method, url, body, { "cl-x-token": "ferry_live_wrong" }), 401, "invalid_token", `${method} ${url} with a wrong header token`);
      // POST /account/ is the admin's alone, with the token in a header: it takes no secret_token.
      if (method === "POST" && url === "/account/") continue;
      const inBody = method === "GET" ? [url + "&secret_token=L6vdp2M0NO9ADiBEq77j1WtiEPcDHEw2", body] : [url, { ...(body as object), secret_token: "L6vdp2M0NO9ADiBEq77j1WtiEPcDHEw2" }];
      refused(await call(p, method, inBody[0] as string, inBody[1], {}), 401, "invalid_token", `${method} ${url} with Data Pusher's old secret_token`);
    }
    refused(await call(p, "PATCH", "/account/", { account_id: account.id, secret_token: 42 }, {}), 401, "invalid_token", "a number as secret_token");
    // The token is checked before anything else: a bad body without one is 401, not 422.
    refused(await call(p, "PATCH", "/destination/", { bogus: 1 }, {}), 401, "missing_token", "a bad body, no token");
    refused(await call(p, "POST", "/server/incoming_data", { account_id: account.id, secret_token: "nope", extra: 1 }, {}), 401, "invalid_token", "a bad body, a wrong token");
    refused(await call(p, "GET", "/server/incoming_data?data=%7Bnope", undefined, {}), 401, "missing_token", "bad data, no token");
  });

  test("an account token cannot create accounts or list the others", async () => {
    const account = await readmeAccount(p, 11);
    const other = await readmeAccount(p, 12);
    refused(await call(p, "POST", "/account/", { account_name: "x", email: "x@x.x" }, account.auth), 403, "admin_only", "create");
    const listed = done(await call(p, "GET", "/account/", undefined, account.auth), "list");
    assert.equal(listed.data.account_id, account.id, "only its own");
    refused(await call(p, "GET", `/account/?account_id=${other.id}`, undefined, account.auth), 404, "account_not_found", "another's");
  });

  test("one account's token cannot touch another account or its destinations: 404, as for an unknown id", async () => {
    const mine = await readmeAccount(p, 13);
    const theirs = await readmeAccount(p, 14);
    const d = done(await call(p, "POST", "/destination/", { account_id: theirs.id, url: `${receiver.url}/theirs`, http_method: "POST", headers: {} }, theirs.auth), "theirs");
    const cases: [string, string, unknown, string][] = [
      ["POST", "/destination/", { account_id: theirs.id, url: `${receiver.url}/mine`, http_method: "POST", headers: {} }, "account_not_found"],
      ["GET", `/destination/?account_id=${theirs.id}`, undefined, "account_not_found"],
      ["PATCH", "/destination/", { destination_id: d.data.id, url: `${receiver.url}/stolen` }, "destination_not_found"],
      ["DELETE", "/destination/", { destination_id: d.data.id }, "destination_not_found"],
      ["PATCH", "/account/", { account_id: theirs.id, email: "x@x.x" }, "account_not_found"],
      ["DELETE", "/account/", { account_id: theirs.id }, "account_not_found"],
      ["POST", "/server/incoming_data", { account_id: theirs.id, data: { a: 1 } }, "account_not_found"],
    ];
    for (const [method, url, body, code] of cases) {
      const viaHeader = refused(await call(p, method, url, body, mine.auth), 404, code, `${method} ${url} with another's token in the header`);
      const unknown = await call(p, method, url.replace(theirs.id, "acct_unknown"), JSON.parse(JSON.stringify(body ?? null)?.replace(theirs.id, "acct_unknown").replace(d.data.id, "dst_unknown") ?? "null") ?? undefined, mine.auth);
      assert.equal(unknown.status, 404, `${method} ${url}: an unknown id answers alike`);
      if (method !== "GET") refused(await call(p, method, url, { ...(body as object), secret_token: mine.token }, {}), 404, code, `${method} ${url} with another's secret_token`);
      assert.doesNotMatch(viaHeader.message, /gangdhars14/);
    }
    const still = done(await call(p, "GET", `/destination/?account_id=${theirs.id}`, undefined, theirs.auth), "theirs unchanged");
    assert.equal(still.data[0].url, `${receiver.url}/theirs`);
  });

  test("bad input: malformed JSON, missing and malformed fields, unknown fields — 4xx in the envelope with Ferry's code", async () => {
    const account = await readmeAccount(p, 15);
    const a = account.auth;
    const cases: [string, string, unknown, Record<string, string>, number, string][] = [
      ["POST", "/account/", '{"account_name": "x", ', AUTH, 400, "invalid_json"],
      ["POST", "/destination/", '{"url": ', a, 400, "invalid_json"],
      ["POST", "/server/incoming_data", "{not json", a, 400, "invalid_json"],
      ["POST", "/account/", { email: "x@x.x" }, AUTH, 422, "invalid_name"],
      ["POST", "/account/", { account_name: "x" }, AUTH, 422, "invalid_field"],
      ["POST", "/account/", { account_name: "x", email: "not-an-email" }, AUTH, 422, "invalid_field"],
      ["POST", "/account/", { account_name: "x", email: "x@x.x", plan: "pro" }, AUTH, 422, "unknown_field"],
      ["POST", "/account/", [], AUTH, 422, "invalid_body"],
      ["GET", "/account/?account_id=3", undefined, AUTH, 404, "account_not_found"],
      ["PATCH", "/account/", { email: "x@x.x" }, a, 422, "missing_account_id"],
      ["PATCH", "/account/", { account_id: 3, email: "x@x.x" }, AUTH, 404, "account_not_found"],
      ["PATCH", "/account/", { account_id: account.id, email: 5 }, a, 422, "invalid_field"],
      ["DELETE", "/account/", {}, AUTH, 422, "missing_account_id"],
      ["POST", "/destination/", { url: "https://partner.example/x", http_method: "POST", headers: {} }, AUTH, 422, "missing_account_id"],
      ["POST", "/destination/", { account_id: account.id, http_method: "POST", headers: {} }, a, 422, "missing_url"],
      ["POST", "/destination/", { account_id: account.id, url: "ftp://x/y", http_method: "POST", headers: {} }, a, 422, "invalid_url"],
      ["POST", "/destination/", { account_id: account.id, url: "https://partner.example/x", headers: {} }, a, 422, "invalid_method"],
      ["POST", "/destination/", { account_id: account.id, url: "https://partner.example/x", http_method: "FETCH", headers: {} }, a, 422, "invalid_method"],
      ["POST", "/destination/", { account_id: account.id, url: "https://partner.example/x", http_method: "GET", headers: { "Bad Name": "x" } }, a, 422, "invalid_headers"],
      ["POST", "/destination/", { account_id: account.id, url: "https://partner.example/x", http_method: "GET", headers: "APP_ID=1" }, a, 422, "invalid_headers"],
      ["GET", "/destination/", undefined, AUTH, 422, "missing_account_id"],
      ["PATCH", "/destination/", { url: "https://partner.example/x" }, a, 422, "invalid_field"],
      ["PATCH", "/destination/", { destination_id: 3 }, a, 404, "destination_not_found"],
      ["DELETE", "/destination/", {}, a, 422, "invalid_field"],
      ["POST", "/server/incoming_data", { account_id: account.id, secret_token: account.token }, {}, 422, "invalid_data"],
      ["POST", "/server/incoming_data", { account_id: account.id, secret_token: account.token, data: "hello" }, {}, 422, "invalid_data"],
      ["POST", "/server/incoming_data", { account_id: account.id, secret_token: account.token, data: [1] }, {}, 422, "invalid_data"],
      ["POST", "/server/incoming_data", { account_id: account.id, secret_token: account.token, data: {}, extra: 1 }, {}, 422, "unknown_field"],
      ["POST", "/server/incoming_data", { data: { a: 1 } }, AUTH, 422, "missing_account_id"],
      ["GET", `/server/incoming_data?account_id=${account.id}&secret_token=${account.token}&data=%7Bnope`, undefined, {}, 422, "invalid_data"],
      ["GET", `/server/incoming_data?account_id=${account.id}&secret_token=${account.token}`, undefined, {}, 422, "invalid_data"],
      ["GET", `/server/incoming_data?account_id=${account.id}&secret_token=${account.token}&data=${"%5B".repeat(150)}`, undefined, {}, 422, "too_deep"],
      ["POST", "/server/incoming_data", `{"account_id":"${account.id}","secret_token":"${account.token}","data":${"[".repeat(150)}${"]".repeat(150)}}`, {}, 422, "too_deep"],
      ["GET", `/server/incoming_data?account_id=${account.id}&account_id=x&secret_token=${account.token}&data=%7B%7D`, undefined, {}, 422, "invalid_query"],
    ];
    for (const [method, url, body, headers, status, code] of cases) {
      refused(await call(p, method, url, body, headers), status, code, `${method} ${url} ${typeof body === "string" ? body : JSON.stringify(body)}`);
    }
  });
});

describe("Data Pusher compatibility: the SSRF guard and the switch", () => {
  test("a private destination is refused at delivery without FERRY_ALLOW_PRIVATE_DESTINATIONS: dead, nothing sent", async () => {
    const receiver = await startReceiver();
    const p = await startDataPusher({}, { allow_private_destinations: false });
    try {
      const account = await readmeAccount(p);
      done(await call(p, "POST", "/destination/", { account_id: account.id, url: `${receiver.url}/private`, http_method: "POST", headers: {} }, account.auth), "registered");
      const sent = done(await call(p, "POST", "/server/incoming_data", { account_id: account.id, secret_token: account.token, data: { a: 1 } }, {}), "push");
      const view = await eventually(async () => {
        const v = ok(await call(p, "GET", `/v1/postbacks/${sent.postbacks[0].id}`), 200, "postback");
        return v.state === "dead" ? v : undefined;
      }, 10_000, "the postback dead");
      assert.equal(view.reason, "destination_refused");
      assert.equal(receiver.count(), 0);
    } finally {
      await p.stop();
      await receiver.close();
    }
  });

  test("off by default: /account/ and /destination/ are 404, and /server/incoming_data keeps its header form (202)", async () => {
    const receiver = await startReceiver();
    const p = await startPipeline({});
    try {
      assert.equal((await call(p, "POST", "/account/", { account_name: "x", email: "x@x.x" })).status, 404);
      assert.equal((await call(p, "GET", "/destination/?account_id=x")).status, 404);
      const a = ok(await call(p, "POST", "/v1/accounts", { name: "off" }), 201, "account");
      ok(await call(p, "POST", "/v1/destinations", { account_id: a.id, url: `${receiver.url}/off`, method: "POST" }), 201, "destination");
      const res = ok(await call(p, "POST", `/server/incoming_data?account_id=${a.id}`, { x: 1 }), 202, "header form");
      assert.equal(res.postbacks.length, 1);
      assert.equal(res.status, undefined, "Ferry's own answer, not the envelope");
      await receiver.waitFor(1);
    } finally {
      await p.stop();
      await receiver.close();
    }
  });
});
