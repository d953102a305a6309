/**
 * The seeded fuzz suite (test/support/fuzz.ts) on the embedded backend: SQLite files in a temp
 * dir. FERRY_FUZZ_SEED replays a run; FERRY_FUZZ_CASES changes its size. The checks the suite
 * relies on are tested first, so that a checker that passes everything cannot hide a failure.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkAnswer, generateCase, Rng, fuzzSuite, type FuzzCase, type FuzzTargets } from "./support/fuzz.js";

const GET: FuzzCase = { index: 0, kind: "check", method: "GET", path: "/x", headers: {}, raw: false };
const problem = (status: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ type: "urn:ferry:error:x", title: "T", status, code: "not_found", detail: "D", ...extra });

test("the fuzz checker refuses every kind of bad answer and takes good ones", () => {
  assert.equal(checkAnswer(GET, { status: 404, contentType: "application/problem+json; charset=utf-8", body: problem(404) }), undefined);
  assert.equal(checkAnswer(GET, { status: 200, contentType: "application/json; charset=utf-8", body: "{}" }), undefined);
  assert.equal(checkAnswer({ ...GET, method: "DELETE" }, { status: 204, contentType: "", body: "" }), undefined);
  const bad: [string, Parameters<typeof checkAnswer>[1]][] = [
    ["a 500", { status: 500, contentType: "application/problem+json", body: problem(500) }],
    ["a 503", { status: 503, contentType: "application/problem+json", body: problem(503) }],
    ["an HTML 404", { status: 404, contentType: "text/html", body: "<h1>no</h1>" }],
    ["a JSON 400 not problem+json", { status: 400, contentType: "application/json", body: problem(400) }],
    ["a problem without a code", { status: 400, contentType: "application/problem+json", body: problem(400, { code: undefined }) }],
    ["a problem whose status differs", { status: 401, contentType: "application/problem+json", body: problem(400) }],
    ["a problem without detail", { status: 400, contentType: "application/problem+json", body: problem(400, { detail: undefined }) }],
    ["a problem that is not JSON", { status: 400, contentType: "application/problem+json", body: "oops" }],
    ["a text 200", { status: 200, contentType: "text/plain", body: "ok" }],
    ["a 200 that is not JSON", { status: 200, contentType: "application/json", body: "{" }],
    ["a redirect", { status: 302, contentType: "application/json", body: "{}" }],
  ];
  for (const [what, answer] of bad) assert.ok(checkAnswer(GET, answer), `${what} passed the checker`);
});

test("the same seed generates the same cases; another seed others", () => {
  const targets: FuzzTargets = {
    adminToken: "admin", accountToken: "ferry_live_a", accountId: "acct_a", otherAccountId: "acct_b", otherAccountToken: "ferry_live_b",
    revokedToken: "ferry_live_r", destinationId: "dst_a", spareAccountIds: ["acct_s"], spareDestinationIds: ["dst_s"], spareTokenIds: ["tok_s"], postbackIds: ["pb_a"], eventId: "evt_a", sessionId: "s1",
  };
  const run = (seed: number) => {
    const rng = new Rng(seed);
    return Array.from({ length: 200 }, (_, i) => generateCase(rng, targets, i));
  };
  assert.deepEqual(run(7), run(7));
  assert.notDeepEqual(run(7), run(8));
  // Deleting the account or destination the other cases use would empty the run: never generated.
  for (const c of run(7).concat(run(8))) {
    if (c.method === "DELETE") assert.ok(!/\/(acct_a|dst_a)(\/|\?|$)/.test(c.path), `#${c.index} deletes a target: ${c.path}`);
  }
});

fuzzSuite("SQLite", () => ({}));
