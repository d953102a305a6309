/**
 * Data Pusher (seed 002) compatibility, end to end: the real API (inject), a real worker, real
 * backends and a real HTTP receiver. The bodies are Data Pusher's README payloads, verbatim but
 * for the ids and tokens Ferry hands out and the destination URLs (the receiver, never a name
 * that would be resolved). test/compat-data-pusher.test.ts runs everything on SQLite;
 * test/compat-data-pusher.redis-postgres.test.ts runs the core flow on Redis + Postgres.
 */
import assert from "node:assert/strict";
import { AUTH, drained, eventually, startPipeline, type Pipeline } from "../support/harness.js";
import type { Receiver, ReceivedRequest } from "../../src/receiver.js";
import type { Config } from "../../src/config.js";
import { call, ok, type Call } from "../support/api.js";

/** The pipeline with Data Pusher's routes on. */
export async function startDataPusher(backend: Partial<Config>, overrides: Partial<Config> = {}): Promise<Pipeline> {
  return startPipeline({ ...backend, compat: "data-pusher", ...overrides });
}

/** The headers of Data Pusher's README destination, verbatim. */
export const README_HEADERS = {
  APP_ID: "1234APPID1234",
  APP_SECTET: "enwdj3bshwer43bjhjs9ereuinkjcnsiurew8s",
  ACTION: "user.update",
  "Content-Type": "application/json",
  Accept: "*",
};

/** A Data Pusher envelope error: the status, `status:false`, a message and Ferry's code. */
export function refused(c: Call, status: number, code: string, what: string): any {
  assert.equal(c.status, status, `${what}: ${JSON.stringify(c.body)}`);
  assert.match(String(c.headers["content-type"]), /^application\/json/, what);
  assert.equal(c.body.status, false, what);
  assert.equal(c.body.code, code, `${what}: ${JSON.stringify(c.body)}`);
  assert.equal(typeof c.body.message, "string", what);
  return c.body;
}

/** A Data Pusher success: 200 and `status:true`. */
export function done(c: Call, what: string): any {
  assert.equal(c.status, 200, `${what}: ${JSON.stringify(c.body)}`);
  assert.equal(c.body.status, true, `${what}: ${JSON.stringify(c.body)}`);
  return c.body;
}

/** Creates the README's account (with a unique email) as the admin; returns its id and secret_token. */
export async function readmeAccount(p: Pipeline, n = 2): Promise<{ id: string; token: string; auth: Record<string, string> }> {
  const res = done(await call(p, "POST", "/account/", { account_name: `gangdhars${n}`, email: `gangs${n}@gamil.com`, website: "https://gangs.com" }), "POST /account/");
  assert.equal(res.message, "Account Created Successfully");
  return { id: res.data.account_id, token: res.data.secret_token, auth: { "cl-x-token": res.data.secret_token } };
}

/** Requests the receiver got under `path`. */
export function arrivedAt(receiver: Receiver, path: string): ReceivedRequest[] {
  return receiver.requests.filter((r) => new URL(r.url).pathname === path);
}

/**
 * The core flow: an account, a GET and a POST destination with the README's headers, data
 * sent through /server/incoming_data in Data Pusher's body and query forms, and the receiver
 * getting it: as URL-encoded query parameters on GET, as the JSON body on POST, with the
 * destination's headers both times.
 */
export async function coreFlow(p: Pipeline, receiver: Receiver, tag: string): Promise<void> {
  const account = await readmeAccount(p);
  assert.match(account.id, /^acct_/);
  assert.match(account.token, /^ferry_live_/);
  const get = done(
    await call(p, "POST", "/destination/", { account_id: account.id, url: `${receiver.url}${tag}/get`, http_method: "GET", headers: README_HEADERS }, account.auth),
    "POST /destination/ GET",
  );
  assert.equal(get.message, "Destination Created Successfully");
  const post = done(
    await call(p, "POST", "/destination/", { account_id: account.id, url: `${receiver.url}${tag}/post`, http_method: "POST", headers: README_HEADERS, secret_token: account.token }, {}),
    "POST /destination/ POST, token in the body",
  );
  const listed = done(await call(p, "GET", `/destination/?account_id=${account.id}`, undefined, account.auth), "GET /destination/");
  assert.deepEqual(listed.data.map((d: any) => d.http_method).sort(), ["GET", "POST"]);
  assert.deepEqual(listed.data[0].headers, README_HEADERS);
  assert.equal(listed.data[0].account, account.id);

  const data = { user_id: 7, name: "Gangadhar & co", city: "Hyderabad/Telangana" };
  const sent = done(await call(p, "POST", "/server/incoming_data", { account_id: account.id, secret_token: account.token, data }, {}), "incoming_data, body form");
  assert.equal(sent.postbacks.length, 2);
  assert.deepEqual(sent.postbacks.map((x: any) => x.destination_id).sort(), [get.data.id, post.data.id].sort());
  const query = new URLSearchParams({ account_id: account.id, secret_token: account.token, data: JSON.stringify({ user_id: 8, note: "ü ☃ ?&=" }) });
  done(await call(p, "GET", `/server/incoming_data?${query}`, undefined, {}), "incoming_data, query form");
  await eventually(() => arrivedAt(receiver, `${tag}/get`).length === 2 && arrivedAt(receiver, `${tag}/post`).length === 2, 10_000, "4 deliveries");

  const gets = arrivedAt(receiver, `${tag}/get`).sort((a, b) => a.url.localeCompare(b.url));
  assert.equal(gets[0]!.method, "GET");
  assert.equal(gets[0]!.url, `${receiver.url}${tag}/get?user_id=7&name=Gangadhar%20%26%20co&city=Hyderabad%2FTelangana`);
  assert.equal(gets[1]!.url, `${receiver.url}${tag}/get?user_id=8&note=%C3%BC%20%E2%98%83%20%3F%26%3D`);
  assert.equal(gets[0]!.body, "");
  const posts = arrivedAt(receiver, `${tag}/post`);
  assert.deepEqual(posts.map((r) => JSON.parse(r.body)).sort((a, b) => a.user_id - b.user_id), [data, { user_id: 8, note: "ü ☃ ?&=" }]);
  for (const r of [...gets, ...posts]) {
    assert.equal(r.headers["app_id"], "1234APPID1234");
    assert.equal(r.headers["app_sectet"], "enwdj3bshwer43bjhjs9ereuinkjcnsiurew8s");
    assert.equal(r.headers["action"], "user.update");
    assert.equal(r.headers["accept"], "*");
  }
  assert.equal(posts[0]!.method, "POST");
  // The destination's Content-Type and Ferry's are one header, as Data Pusher's requests sent it.
  const contentTypes = (r: ReceivedRequest) => r.rawHeaders.filter((_, i) => i % 2 === 0 && r.rawHeaders[i]!.toLowerCase() === "content-type").length;
  for (const r of posts) assert.equal(contentTypes(r), 1, "one content-type");
  assert.equal(posts[0]!.headers["content-type"], "application/json");
  // A GET destination has no body, and sends the destination's Content-Type as it was given.
  assert.equal(gets[0]!.headers["content-type"], "application/json");
  await drained(p);
}

export { AUTH, call, ok };
