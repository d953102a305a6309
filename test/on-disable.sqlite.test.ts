/**
 * A destination's on_disable: "hold" (the default) keeps what a disabled destination is owed;
 * "drop" cancels it, and pushes skip the destination while it is disabled — fun-with-webhooks'
 * rule, through the real worker and a real receiver.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { drained, eventually, startPipeline, type Pipeline } from "./support/harness.js";
import { account, call, ok, problem } from "./support/api.js";
import { startReceiver } from "./support/walkthrough.js";
import { DROPPED_WHILE_DISABLED } from "../src/delivery/destinations.js";

let p: Pipeline;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
before(async () => {
  receiver = await startReceiver();
  // Retries after 500 ms: both first attempts fail and disable their destination well before a
  // retry is due, so the drop destination gets exactly the two attempts that disabled it.
  p = await startPipeline({ allow_private_destinations: true, max_attempts: 10, retry_base_ms: 500, retry_max_delay_ms: 1_000 });
});
after(async () => {
  await p.stop();
  await receiver.close();
});

test("on_disable defaults to hold, takes drop, and refuses anything else", async () => {
  const { auth } = await account(p);
  const d = ok(await call(p, "POST", "/v1/destinations", { url: `${receiver.url}/ok`, method: "POST" }, auth), 201, "create");
  assert.equal(d.on_disable, "hold");
  assert.equal(ok(await call(p, "PATCH", `/v1/destinations/${d.id}`, { on_disable: "drop" }, auth), 200, "patch").on_disable, "drop");
  const bad = problem(await call(p, "PATCH", `/v1/destinations/${d.id}`, { on_disable: "discard" }, auth), 422, "invalid_field", "unknown value");
  assert.equal(bad.field, "on_disable");
});

test("drop: once endpoint health disables it, its retries are cancelled and new pushes skip it; hold keeps them", async () => {
  const { auth } = await account(p);
  const settings = { method: "POST", failure_threshold: 2, failure_window_ms: 0 };
  const drop = ok(await call(p, "POST", "/v1/destinations", { url: `${receiver.url}/fail/drop`, on_disable: "drop", ...settings }, auth), 201, "drop");
  const hold = ok(await call(p, "POST", "/v1/destinations", { url: `${receiver.url}/fail/hold`, ...settings }, auth), 201, "hold");
  const first = ok(await call(p, "POST", "/v1/push", [{ n: 1 }, { n: 2 }], auth), 202, "push");
  // Two failures disable each; each postback's next attempt then finds its destination disabled.
  await eventually(async () => {
    const [a, b] = await Promise.all([drop.id, hold.id].map((d) => p.backends.stores.accounts.getDestination(d)));
    return a?.enabled === false && b?.enabled === false;
  }, 10_000, "both destinations disabled");
  const dropped = first.postbacks.filter((x: { destination_id: string }) => x.destination_id === drop.id);
  for (const pb of dropped) {
    const rec = await eventually(async () => {
      const r = await p.backends.stores.postbacks.getPostback(pb.id);
      return r?.state === "cancelled" ? r : undefined;
    }, 10_000, `${pb.id} cancelled`);
    assert.equal(rec?.reason, DROPPED_WHILE_DISABLED);
  }
  const second = ok(await call(p, "POST", "/v1/push", { n: 3 }, auth), 202, "push while disabled");
  assert.deepEqual(second.postbacks.map((x: { destination_id: string }) => x.destination_id), [hold.id], "the drop destination is skipped; the hold one still gets it, held");
  await drained(p);
  const held = await p.backends.queue.listQueued({ held: true, destinationIds: [hold.id], limit: 10 });
  assert.equal(held.length, 3, "the hold destination's three postbacks are parked, none dropped");
  assert.equal(await p.backends.queue.countQueued([drop.id]), 0, "nothing is queued for the drop destination");
  const sentToDrop = receiver.received.filter((r) => r.url === "/fail/drop").length;
  assert.equal(sentToDrop, 2, "the drop destination got only the attempts that disabled it");
});
