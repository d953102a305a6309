/**
 * A destination's `ordering` and `ordering_key` through the API (issue 14): what is accepted,
 * shown and refused (422 invalid_field naming the field). Real API on a real SQLite file.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { AUTH, startPipeline, type Pipeline } from "./support/harness.js";

let p: Pipeline;
let own: Record<string, string>;

before(async () => {
  p = await startPipeline({}, { worker: false });
  const accountId = (await call("POST", "/v1/accounts", { name: "Ordering" })).body.id;
  own = { authorization: `Bearer ${(await call("POST", `/v1/accounts/${accountId}/tokens`, {})).body.token}` };
});

after(() => p.stop());

async function call(method: "POST" | "PATCH", url: string, body: unknown, auth: Record<string, string> = AUTH): Promise<{ status: number; body: any }> {
  const res = await p.app.inject({ method, url, headers: { "content-type": "application/json", ...auth }, payload: JSON.stringify(body) });
  return { status: res.statusCode, body: res.json() };
}

let n = 0;
const create = (fields: Record<string, unknown>) => call("POST", "/v1/destinations", { url: `https://partner.example/ordered/${n++}`, ...fields }, own);

function invalid(c: { status: number; body: any }, field: string, what: string): void {
  assert.equal(c.status, 422, `${what}: ${JSON.stringify(c.body)}`);
  assert.equal(c.body.code, "invalid_field", what);
  assert.equal(c.body.field, field, what);
}

test("ordering defaults to none; destination and key are accepted and shown, ordering_key null meaning {session_id}", async () => {
  const plain = await create({});
  assert.equal(plain.status, 201);
  assert.equal(plain.body.ordering, "none");
  assert.equal(plain.body.ordering_key, null);
  const whole = await create({ ordering: "destination" });
  assert.equal(whole.body.ordering, "destination");
  const keyed = await create({ ordering: "key", ordering_key: "{tenant}:{user_id}" });
  assert.equal(keyed.status, 201, JSON.stringify(keyed.body));
  assert.deepEqual([keyed.body.ordering, keyed.body.ordering_key], ["key", "{tenant}:{user_id}"]);
  const patched = await call("PATCH", `/v1/destinations/${keyed.body.id}`, { ordering: "none", ordering_key: null }, own);
  assert.deepEqual([patched.body.ordering, patched.body.ordering_key], ["none", null]);
});

test("an unknown or mistyped ordering is 422 invalid_field on create and on update", async () => {
  for (const bad of ["fifo", "DESTINATION", "", 1, true, null, ["key"]]) invalid(await create({ ordering: bad }), "ordering", `ordering ${JSON.stringify(bad)}`);
  const ok = await create({});
  invalid(await call("PATCH", `/v1/destinations/${ok.body.id}`, { ordering: "strict" }, own), "ordering", "PATCH ordering strict");
});

test("an ordering_key naming no {field}, too long or not a string is 422 invalid_field", async () => {
  for (const bad of ["session_id", "{}", "", 42, { field: "x" }, `{${"k".repeat(2000)}}`]) {
    invalid(await create({ ordering: "key", ordering_key: bad }), "ordering_key", `ordering_key ${JSON.stringify(bad).slice(0, 40)}`);
  }
  const ok = await create({ ordering: "key" });
  invalid(await call("PATCH", `/v1/destinations/${ok.body.id}`, { ordering_key: "no braces" }, own), "ordering_key", "PATCH ordering_key");
});
