/**
 * The app puts postbacks in their lines (issue 14): pushes and events through the real API on
 * a SQLite file, no worker; the queue is then asked what it would reserve. Only heads of lines
 * come out, so this shows which postbacks share a line.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startPipeline, eventually, type Pipeline } from "./support/harness.js";
import { account, call, ok } from "./support/api.js";

let p: Pipeline;

before(async () => {
  p = await startPipeline({}, { worker: false });
});

after(() => p.stop());

/** Reserves (and settles done) everything due: the postbacks' data objects, heads only. */
async function heads(): Promise<unknown[]> {
  const got = await p.backends.queue.reserve(1000, 30_000);
  await p.backends.queue.settle(got.map((reservation) => ({ reservation, settle: { kind: "done" } })));
  return got.map((r) => JSON.parse(r.data));
}

function event(session: string, n: number): Record<string, unknown> {
  return { session_id: session, category: "party", name: "AppName", data: { n }, timestamp: `2021-09-26 09:15:2${n}` };
}

test("events: ordering \"key\" without ordering_key lines them up by session_id", async () => {
  const acct = await account(p);
  ok(await call(p, "POST", "/v1/destinations", { url: "https://partner.example/events", ordering: "key" }, acct.auth), 201, "destination");
  ok(await call(p, "POST", "/v1/events", [event("s1", 1), event("s1", 2), event("s2", 3), event("s1", 4)], acct.auth), 201, "events");
  const stats = () => p.backends.queue.stats();
  await eventually(async () => (await stats()).ready + (await stats()).waiting === 4, 10_000, "the events fanned out");
  const first = (await heads()) as { session_id: string; data: { n: number } }[];
  assert.deepEqual(first.map((e) => e.data.n).sort(), [1, 3], "one head per session");
  assert.deepEqual(((await heads()) as { data: { n: number } }[]).map((e) => e.data.n), [2]);
  assert.deepEqual(((await heads()) as { data: { n: number } }[]).map((e) => e.data.n), [4]);
});

test("pushes: \"destination\" is one line; \"key\" with every placeholder missing is no line; \"none\" none", async () => {
  const acct = await account(p);
  const create = (fields: Record<string, unknown>) => call(p, "POST", "/v1/destinations", { method: "POST", ...fields }, acct.auth);
  ok(await create({ url: "https://partner.example/whole", ordering: "destination" }), 201, "whole");
  ok(await create({ url: "https://partner.example/by-user", ordering: "key", ordering_key: "{user}" }), 201, "by-user");
  ok(await create({ url: "https://partner.example/free" }), 201, "free");
  const objects = [{ n: 1, user: "a" }, { n: 2, user: "a" }, { n: 3, user: "b" }, { n: 4 }, { n: 5 }];
  ok(await call(p, "POST", "/v1/push", objects, acct.auth), 202, "push");
  const byUrl = new Map<string, number[]>();
  const got = await p.backends.queue.reserve(1000, 30_000);
  for (const r of got) byUrl.set(r.endpoint.url, [...(byUrl.get(r.endpoint.url) ?? []), (JSON.parse(r.data) as { n: number }).n]);
  assert.deepEqual(byUrl.get("https://partner.example/whole"), [1], "one line: its head");
  assert.deepEqual(byUrl.get("https://partner.example/by-user")?.sort(), [1, 3, 4, 5], "user a's head, user b's, and the two naming no user");
  assert.deepEqual(byUrl.get("https://partner.example/free")?.sort(), [1, 2, 3, 4, 5]);
});
