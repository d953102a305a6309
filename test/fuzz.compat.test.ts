/**
 * The seeded fuzz suite (test/support/fuzz.ts) with the seed systems' routes on
 * (FERRY_COMPAT=data-pusher,webhooks,ads, a registration and a trigger token), on SQLite: their
 * bodies carry tokens and ids, their errors come in their own shapes, and none of it may answer
 * 5xx, hang or crash. FERRY_FUZZ_SEED replays a run.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkAnswer, fuzzSuite, type FuzzCase } from "./support/fuzz.js";

const COMPAT: FuzzCase = { index: 0, kind: "check", method: "POST", path: "/account/", headers: {}, raw: false, compat: true };

test("the fuzz checker takes the seed systems' error shapes with Ferry's code, and refuses them without", () => {
  const json = "application/json; charset=utf-8";
  const good = [
    { status: 404, contentType: json, body: JSON.stringify({ status: false, message: "Account not found", code: "account_not_found" }) },
    { status: 400, contentType: json, body: JSON.stringify([{ errorCode: "ALREADY_REGISTERED", message: "x", code: "already_registered" }]) },
    { status: 401, contentType: json, body: JSON.stringify({ error: "incorrect registration token was provided", code: "invalid_token" }) },
    { status: 200, contentType: "", body: "" },
    { status: 200, contentType: json, body: '"ferry_live_x"' },
  ];
  for (const a of good) assert.equal(checkAnswer(COMPAT, a), undefined, a.body);
  const bad = [
    { status: 500, contentType: json, body: JSON.stringify({ error: "boom", code: "internal_error" }) },
    { status: 404, contentType: json, body: JSON.stringify({ status: false, message: "Account not found" }) },
    { status: 400, contentType: json, body: JSON.stringify([{ errorCode: "ALREADY_REGISTERED" }]) },
    { status: 400, contentType: "text/html", body: "<p>no</p>" },
    { status: 200, contentType: "text/plain", body: "ok" },
  ];
  for (const a of bad) assert.ok(checkAnswer(COMPAT, a), `passed: ${a.status} ${a.body}`);
});

fuzzSuite("SQLite, FERRY_COMPAT", () => ({}), { compat: true, count: 3000 });
