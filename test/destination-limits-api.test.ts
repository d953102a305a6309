/**
 * Bad destination limits through the API (issue 14): rate_limit, rate_limit_burst and
 * concurrency out of range, of the wrong type or absurd get a 4xx with a stable code naming the
 * field, on create and on update; good ones read back as sent. Real API on a real SQLite file.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { AUTH, startPipeline, type Pipeline } from "./support/harness.js";

let p: Pipeline;
let accountId: string;
let destinationId: string;

before(async () => {
  p = await startPipeline({}, { worker: false });
  accountId = (await call("POST", "/v1/accounts", { name: "Limits" })).body.id;
  destinationId = (await call("POST", "/v1/destinations", { account_id: accountId, url: "https://partner.example/limits" })).body.id;
});

after(() => p.stop());

async function call(method: "POST" | "PATCH", url: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await p.app.inject({ method, url, headers: { "content-type": "application/json", ...AUTH }, payload: JSON.stringify(body) });
  return { status: res.statusCode, body: res.json() };
}

const BAD: [field: string, value: unknown, code: string][] = [
  ["rate_limit", 0, "invalid_number"],
  ["rate_limit", -5, "invalid_number"],
  ["rate_limit", 1e-9, "invalid_number"],
  ["rate_limit", 0.0009, "invalid_number"],
  ["rate_limit", 1e9, "invalid_number"],
  ["rate_limit", "10", "invalid_number"],
  ["rate_limit", true, "invalid_number"],
  ["rate_limit_burst", 0, "invalid_number"],
  ["rate_limit_burst", -1, "invalid_number"],
  ["rate_limit_burst", 2.5, "invalid_number"],
  ["rate_limit_burst", 1e9, "invalid_number"],
  ["rate_limit_burst", "3", "invalid_number"],
  ["concurrency", 0, "invalid_number"],
  ["concurrency", -1, "invalid_number"],
  ["concurrency", 1.5, "invalid_number"],
  ["concurrency", 1001, "invalid_number"],
  ["concurrency", "2", "invalid_number"],
];

for (const [field, value, code] of BAD) {
  test(`${field}: ${JSON.stringify(value)} is refused with ${code}, on create and update`, async () => {
    const created = await call("POST", "/v1/destinations", { account_id: accountId, url: "https://partner.example/x", [field]: value });
    assert.ok(created.status >= 400 && created.status < 500, `create: ${created.status} ${JSON.stringify(created.body)}`);
    assert.equal(created.body.code, code, JSON.stringify(created.body));
    assert.equal(created.body.field, field, JSON.stringify(created.body));
    const patched = await call("PATCH", `/v1/destinations/${destinationId}`, { [field]: value });
    assert.ok(patched.status >= 400 && patched.status < 500, `update: ${patched.status}`);
    assert.equal(patched.body.code, code);
  });
}

test("good limits read back as sent, and null clears them", async () => {
  const set = await call("PATCH", `/v1/destinations/${destinationId}`, { rate_limit: 0.001, rate_limit_burst: 5, concurrency: 2 });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  assert.deepEqual([set.body.rate_limit, set.body.rate_limit_burst, set.body.concurrency], [0.001, 5, 2]);
  const top = await call("PATCH", `/v1/destinations/${destinationId}`, { rate_limit: 100_000, rate_limit_burst: 100_000, concurrency: 1000 });
  assert.equal(top.status, 200, JSON.stringify(top.body));
  const cleared = await call("PATCH", `/v1/destinations/${destinationId}`, { rate_limit: null, rate_limit_burst: null, concurrency: null });
  assert.deepEqual([cleared.body.rate_limit, cleared.body.rate_limit_burst, cleared.body.concurrency], [null, null, null]);
});
