/**
 * The ADS webhook service (seed 004) on SQLite: its routes, Ferry's broadcast, and the seed
 * README's own curl requests replayed against a real `ferry start` (docs/seeds.md).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { adsSuite } from "./e2e/ads.js";
import { pythonJson, triggerMd5 } from "../src/compat/ads-event.js";
import { runWalkthrough } from "./support/walkthrough.js";
import { eventually } from "./support/harness.js";

adsSuite("SQLite", () => ({}));

// Written by Python's json.dumps(value, sort_keys=True) (python3; 2.7 writes the same), and its md5.
const PYTHON: [unknown, string, string][] = [
  [
    { event: "relation_added", payload: { b: 1, a: [1, 2.5, "x"], c: null, d: true } },
    '{"event": "relation_added", "payload": {"a": [1, 2.5, "x"], "b": 1, "c": null, "d": true}}',
    "d9002a61fc3e490ae856f7f1b68ff9c9",
  ],
  [
    { payload: { name: "Zoë ☃ 😀", t: 'tab\there\n"q"\\', ctl: "\u0001\u007f" }, event: "relation_added" },
    '{"event": "relation_added", "payload": {"ctl": "\\u0001\\u007f", "name": "Zo\\u00eb \\u2603 \\ud83d\\ude00", "t": "tab\\there\\n\\"q\\"\\\\"}}',
    "117c1607b720e2dd3e9acebb983b6eb2",
  ],
  [
    { event: "e", payload: [0.0001, 0.00001, 1.5e-7, 123.456, -0.5, 1e-4, 1234567890123456, 3.14159, 1e300, -2.5e-300] },
    '{"event": "e", "payload": [0.0001, 1e-05, 1.5e-07, 123.456, -0.5, 0.0001, 1234567890123456, 3.14159, 1e+300, -2.5e-300]}',
    "2ea673a5fa1c49dd9d76710db94a90fe",
  ],
  [
    { event: "e", payload: { "\u00e9": 1, z: 2, A: 3, "\u{1F600}": 4, "\uff5e": 5 } },
    '{"event": "e", "payload": {"A": 3, "z": 2, "\\u00e9": 1, "\\uff5e": 5, "\\ud83d\\ude00": 4}}',
    "9c98afada034fe5d4b7d787e528e2159",
  ],
  [{ event: "e", payload: {} }, '{"event": "e", "payload": {}}', "e19bc2713595fa656c4579fc50a2240f"],
  [{ event: "e", payload: [] }, '{"event": "e", "payload": []}', "70a4860b182880c36c633bbf3dadc5ef"],
];

test("a trigger's md5 is the ADS service's own: Python's json.dumps(sort_keys=True), byte for byte", () => {
  for (const [value, text, md5] of PYTHON) {
    assert.equal(pythonJson(value), text);
    assert.equal(triggerMd5(value), md5);
  }
});

test("seed 004's README, its three requests as docs/seeds.md gives them, against a real ferry start: two subscribers get the event once; five failures deactivate", async () => {
  const run = await runWalkthrough("Seed 004", { extraEnv: { FERRY_ALLOW_PRIVATE_DESTINATIONS: "true" } });
  try {
    const [account, subscribe, trigger, failures, broadcast] = run.outputs.map((o) => o.trimEnd().split("\n"));
    // 1. The access token, a JSON string, and the same one again.
    assert.equal(account!.length, 2, account!.join("\n"));
    const token = JSON.parse(account![0]!) as string;
    assert.match(token, /^ferry_live_/);
    assert.equal(account![1], token, "a known user_id gets the same token");
    // 2. Two subscriptions, the warning, a second event for the same URL.
    assert.deepEqual(subscribe!.slice(0, 4), ["200", "200", '{"warning":"subscription already exists"}', "200"]);
    assert.deepEqual(JSON.parse(subscribe![4]!), {
      url: `${run.receiver}/alice`,
      event_types: ["relation_added", "relation_deleted"],
      failure_threshold: 5,
      failure_window_ms: 0,
      max_attempts: 1,
      on_disable: "hold",
    });
    // 3. Answered 200 twice, as the original did.
    assert.deepEqual(trigger, ["200", "200"]);
    // 4. Deactivated after five failures.
    assert.equal(failures![0], "200");
    const disabled = JSON.parse(failures![1]!);
    assert.equal(disabled.enabled, false);
    assert.ok(disabled.disabled_reason);
    // Ferry's broadcast: alice, bob, and one held for the deactivated callback.
    assert.match(JSON.parse(broadcast![0]!).id, /^bc_/);
    assert.equal(JSON.parse(broadcast![0]!).postbacks, 3);

    const at = (path: string) => run.received.filter((r) => r.url === path);
    // Each subscriber: the first event once (its repeat never sent), the five of step 4, the broadcast.
    await eventually(() => at("/alice").length === 7 && at("/bob").length === 7, 15_000, "alice's and bob's deliveries");
    for (const path of ["/alice", "/bob"]) {
      const bodies = at(path).map((r) => JSON.parse(r.body));
      const first = bodies.filter((b) => b.payload?.relation === "cites");
      assert.equal(first.length, 1, `${path}: the repeated trigger was not sent again`);
      assert.deepEqual(Object.keys(first[0]), ["id", "event", "creator", "source", "description", "time", "payload"]);
      assert.match(first[0].id, /^bc_/);
      assert.equal(first[0].event, "relation_added");
      assert.equal(first[0].creator, "ADS");
      assert.equal(first[0].source, "ADS.Discovery");
      assert.equal(first[0].description, "ADS citation events");
      assert.match(first[0].time, /^\d{10}$/);
      assert.deepEqual(first[0].payload, { source: "2017arXiv170301301Z", target: "10.5281/zenodo.45906", relation: "cites" });
      assert.deepEqual(bodies.filter((b) => typeof b.payload?.n === "number").map((b) => b.payload.n).sort(), [1, 2, 3, 4, 5]);
      assert.ok(at(path).every((r) => r.method === "POST" && typeof r.headers["webhook-signature"] === "string"));
    }
    assert.equal(JSON.parse(at("/alice")[0]!.body).id, JSON.parse(at("/bob")[0]!.body).id, "one event id for both subscribers");
    assert.equal(at("/fail/flaky").length, 5, "five attempts, one per event, then nothing: the broadcast is held");
  } finally {
    await run.stop();
  }
});
