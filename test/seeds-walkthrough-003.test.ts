/**
 * docs/seeds.md "Seed 003: fun-with-webhooks", run as written against a real `ferry start` and a
 * real receiver: the consumer's registration, ALREADY_REGISTERED, a token registration,
 * `ferry demo calls`, the flaky client disabled after 3 failures and enabled by registering again.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runWalkthrough, type WalkthroughRun } from "./support/walkthrough.js";
import { tempDir } from "./support/harness.js";
import { CLI, killAll } from "./support/processes.js";

let run: WalkthroughRun;
const bin = tempDir("ferry-bin-");
before(async () => {
  // The page says `ferry ...`, as an installed Ferry has it: the built CLI, under that name.
  const shim = join(bin.path, "ferry");
  writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(shim, 0o755);
  process.env["PATH"] = `${bin.path}:${process.env["PATH"] ?? ""}`;
  run = await runWalkthrough("Seed 003");
});
after(async () => {
  await run?.stop();
  await killAll();
  bin.cleanup();
});

test("seed 003's walk-through: registrations answer as the original did", () => {
  const [register, again, withToken] = run.outputs;
  assert.equal(register!.trim(), "200");
  const [body, status] = again!.trim().split("\n");
  assert.equal(status, "400");
  const parsed = JSON.parse(body!);
  assert.equal(parsed[0].errorCode, "ALREADY_REGISTERED", body);
  assert.equal(parsed[0].message, "There's already a client with the same name");
  assert.equal(withToken!.trim(), "200");
});

test("seed 003's walk-through: the demo calls reach the consumer; the flaky client fails 3 and is disabled, then enabled by registering again", () => {
  const demo = run.outputs[3]!;
  const rounds = demo.split("\n").filter((l) => l.startsWith("round "));
  assert.equal(rounds.length, 3, demo);
  assert.match(rounds[0]!, /^round 1: 6 calls to 2 clients/, demo);
  assert.match(rounds[2]!, /^round 3: 3 calls to 1 client \(webhook-consumer\)/, demo);
  const failed = run.received.filter((r) => r.url === "/fail/calls");
  assert.equal(failed.length, 3, "the flaky client got its 3 failing calls, and nothing once disabled");
  const calls = run.received.filter((r) => r.url === "/calls");
  assert.ok(calls.length >= 6, `the consumer's calls: ${calls.length}`);
  for (const r of [...calls, ...failed]) {
    const b = JSON.parse(r.body);
    assert.equal(b.type, "call.standby");
    assert.equal(b.contactNumber.length, 14);
  }
  assert.deepEqual(JSON.parse(run.outputs[4]!.trim()), { enabled: false, disabled_reason: "3 failed attempts", on_disable: "drop" });
  const [status, state] = run.outputs[5]!.trim().split("\n");
  assert.equal(status, "200");
  assert.deepEqual(JSON.parse(state!), { enabled: true, disabled_reason: null });
});
