/**
 * What a destination may ask for, through the API: a timeout_ms longer than half the lease is
 * refused (the worker would cut it short), and only the admin may set failure_threshold 0
 * (endpoint health off). Real API on a real SQLite file.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { AUTH, startPipeline, type Pipeline } from "./support/harness.js";

let p: Pipeline;
let accountId: string;
let own: Record<string, string>;

before(async () => {
  // A lease of 10 s allows timeouts up to 5 s.
  p = await startPipeline({ lease_ms: 10_000, timeout_ms: 2000 }, { worker: false });
  accountId = (await call("POST", "/v1/accounts", { name: "Policy" })).body.id;
  own = { authorization: `Bearer ${(await call("POST", `/v1/accounts/${accountId}/tokens`, {})).body.token}` };
});

after(() => p.stop());

async function call(method: "POST" | "PATCH", url: string, body: unknown, auth: Record<string, string> = AUTH): Promise<{ status: number; body: any }> {
  const res = await p.app.inject({ method, url, headers: { "content-type": "application/json", ...auth }, payload: JSON.stringify(body) });
  return { status: res.statusCode, body: res.json() };
}

test("timeout_ms above half the lease is 422 timeout_too_long naming the field and the limit, on create and update", async () => {
  const tooLong = await call("POST", "/v1/destinations", { url: "https://partner.example/slow", timeout_ms: 5001 }, own);
  assert.equal(tooLong.status, 422, JSON.stringify(tooLong.body));
  assert.equal(tooLong.body.code, "timeout_too_long");
  assert.equal(tooLong.body.field, "timeout_ms");
  assert.match(tooLong.body.detail, /5000/);

  const ok = await call("POST", "/v1/destinations", { url: "https://partner.example/slow", timeout_ms: 5000 }, own);
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  const patched = await call("PATCH", `/v1/destinations/${ok.body.id}`, { timeout_ms: 6000 }, AUTH);
  assert.equal(patched.status, 422, "the admin is held to the lease too");
  assert.equal(patched.body.code, "timeout_too_long");
  assert.equal((await call("PATCH", `/v1/destinations/${ok.body.id}`, { timeout_ms: null }, own)).status, 200, "null: the default");
});

test("failure_threshold 0 from an account token is 403 admin_only saying the admin may; the admin may set it", async () => {
  const refused = await call("POST", "/v1/destinations", { url: "https://partner.example/never-off", failure_threshold: 0 }, own);
  assert.equal(refused.status, 403, JSON.stringify(refused.body));
  assert.equal(refused.body.code, "admin_only");
  assert.equal(refused.body.field, "failure_threshold");
  assert.match(refused.body.detail, /only the admin/);

  const created = await call("POST", "/v1/destinations", { url: "https://partner.example/never-off", failure_threshold: 5 }, own);
  assert.equal(created.status, 201);
  const patched = await call("PATCH", `/v1/destinations/${created.body.id}`, { failure_threshold: 0 }, own);
  assert.equal(patched.status, 403, "nor by a change");
  const byAdmin = await call("PATCH", `/v1/destinations/${created.body.id}`, { failure_threshold: 0 }, AUTH);
  assert.equal(byAdmin.status, 200, JSON.stringify(byAdmin.body));
  assert.equal(byAdmin.body.failure_threshold, 0);
  const adminCreate = await call("POST", "/v1/destinations", { account_id: accountId, url: "https://partner.example/admin-off", failure_threshold: 0 }, AUTH);
  assert.equal(adminCreate.status, 201);
});
