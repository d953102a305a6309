/** An account's external id through the API: set, found, unique, changed, checked. */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startPipeline, type Pipeline } from "./support/harness.js";
import { account, call, ok, problem } from "./support/api.js";

let p: Pipeline;
before(async () => {
  p = await startPipeline({}, { worker: false });
});
after(() => p.stop());

test("an account made with an external id is found by it; a second account cannot take it (409)", async () => {
  const a = ok(await call(p, "POST", "/v1/accounts", { name: "Consumer", external_id: "webhooks:consumer" }), 201, "create");
  assert.equal(a.external_id, "webhooks:consumer");
  const found = ok(await call(p, "GET", "/v1/accounts?external_id=webhooks%3Aconsumer"), 200, "find");
  assert.deepEqual(found, { data: [a], next_after: null });
  assert.deepEqual(ok(await call(p, "GET", "/v1/accounts?external_id=nobody"), 200, "find none"), { data: [], next_after: null });
  const taken = problem(await call(p, "POST", "/v1/accounts", { name: "Other", external_id: "webhooks:consumer" }), 409, "external_id_taken", "taken");
  assert.equal(taken.field, "external_id");
  const other = ok(await call(p, "POST", "/v1/accounts", { name: "Other" }), 201, "create without");
  assert.equal(other.external_id, null);
  problem(await call(p, "PATCH", `/v1/accounts/${other.id}`, { external_id: "webhooks:consumer" }), 409, "external_id_taken", "patched to another's");
  const moved = ok(await call(p, "PATCH", `/v1/accounts/${a.id}`, { external_id: "webhooks:renamed" }), 200, "rename");
  assert.equal(moved.external_id, "webhooks:renamed");
  ok(await call(p, "PATCH", `/v1/accounts/${other.id}`, { external_id: "webhooks:consumer" }), 200, "the freed id can be taken");
});

test("a bad external id is 422 naming the field; only the admin may look one up", async () => {
  for (const bad of ["", 42, "x".repeat(256), "tab\there"]) {
    const body = problem(await call(p, "POST", "/v1/accounts", { name: "Bad", external_id: bad }), 422, "invalid_field", `external_id ${JSON.stringify(bad)}`);
    assert.equal(body.field, "external_id");
  }
  problem(await call(p, "GET", "/v1/accounts?external_id=a&external_id=b"), 422, "invalid_query", "given twice");
  const { auth } = await account(p);
  problem(await call(p, "GET", "/v1/accounts?external_id=webhooks%3Aconsumer", undefined, auth), 403, "admin_only", "an account token");
});
