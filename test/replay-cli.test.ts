/**
 * `ferry replay` (seed 004's resend from cron): a real CLI process against the data dir a
 * pipeline runs on, sending dead postbacks of a destination again.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { AUTH, eventually, startPipeline } from "./support/harness.js";
import { killAll, spawnFerry } from "./support/processes.js";
import { startReceiver } from "../src/receiver.js";

after(killAll);

test("ferry replay --destination sends the destination's dead postbacks again; bad arguments exit 2", async () => {
  let healthy = false;
  const receiver = await startReceiver({ respond: () => (healthy ? undefined : { status: 500 }) });
  const p = await startPipeline();
  try {
    const inject = async (method: string, url: string, body: unknown, headers: Record<string, string> = AUTH) => {
      const res = await p.app.inject({ method: method as "POST", url, headers: { "content-type": "application/json", ...headers }, payload: JSON.stringify(body) });
      return res.json();
    };
    const account = await inject("POST", "/v1/accounts", { name: "Cron" });
    const destination = await inject("POST", "/v1/destinations", { account_id: account.id, url: `${receiver.url}/hook`, max_attempts: 1, failure_threshold: 0 });
    const pushed = await inject("POST", `/v1/push?account_id=${account.id}`, [{ n: 1 }, { n: 2 }]);
    assert.equal(pushed.postbacks.length, 2);
    const state = async (id: string) => (await p.app.inject({ method: "GET", url: `/v1/postbacks/${id}`, headers: AUTH })).json().state;
    for (const { id } of pushed.postbacks) await eventually(async () => (await state(id)) === "dead", 10_000, "dead");

    const usage = spawnFerry(["replay", "--destination", destination.id], { FERRY_DATA_DIR: p.config.data_dir });
    assert.equal((await usage.exited).code, 2);
    assert.match(usage.stderr(), /--since/);

    healthy = true;
    const replay = spawnFerry(["replay", "--destination", destination.id, "--since", "1h"], { FERRY_DATA_DIR: p.config.data_dir });
    const exit = await replay.exited;
    assert.equal(exit.code, 0, replay.stderr());
    assert.match(replay.stdout(), /2 postbacks sent again, 0 skipped/);
    // The pipeline's worker, another process as far as the CLI knows, delivers them.
    for (const { id } of pushed.postbacks) await eventually(async () => (await state(id)) === "delivered", 10_000, "delivered");
  } finally {
    await p.stop();
    await receiver.close();
  }
});

test("ferry replay off a terminal writes its progress to stderr as plain lines: each tenth, then a summary", async () => {
  const receiver = await startReceiver({ respond: () => ({ status: 500 }) });
  const p = await startPipeline();
  try {
    const inject = async (method: string, url: string, body: unknown) => {
      const res = await p.app.inject({ method: method as "POST", url, headers: { "content-type": "application/json", ...AUTH }, payload: JSON.stringify(body) });
      return res.json();
    };
    const account = await inject("POST", "/v1/accounts", { name: "Progress" });
    const destination = await inject("POST", "/v1/destinations", { account_id: account.id, url: `${receiver.url}/hook`, max_attempts: 1, failure_threshold: 0 });
    const pushed = await inject("POST", `/v1/push?account_id=${account.id}`, Array.from({ length: 20 }, (_, n) => ({ n })));
    assert.equal(pushed.postbacks.length, 20);
    const state = async (id: string) => (await p.app.inject({ method: "GET", url: `/v1/postbacks/${id}`, headers: AUTH })).json().state;
    for (const { id } of pushed.postbacks) await eventually(async () => (await state(id)) === "dead", 10_000, "dead");

    // spawnFerry pipes stderr: not a terminal.
    const replay = spawnFerry(["replay", "--destination", destination.id, "--since", "1h"], { FERRY_DATA_DIR: p.config.data_dir });
    assert.equal((await replay.exited).code, 0, replay.stderr());
    assert.match(replay.stdout(), /20 postbacks sent again, 0 skipped/);
    assert.doesNotMatch(replay.stderr(), /[\r\x1b]/, "no escape codes in a pipe");
    const label = `ferry replay ${destination.id}`;
    const lines = replay.stderr().split("\n").filter(Boolean);
    assert.equal(lines[0], `${label}: 20 postbacks to go`);
    const steps = lines.slice(1, -1);
    assert.deepEqual(
      steps.map((l) => /^(.*): (\d+)\/20 postbacks \(\d+%\), [\d.,]+\/s, (.*) left$/.exec(l)?.slice(1, 3)),
      Array.from({ length: 10 }, (_, n) => [label, String(2 * (n + 1))]),
      replay.stderr(),
    );
    assert.match(lines.at(-1)!, new RegExp(`^${label}: done, 20 postbacks in [\\d.]+ (s|min), [\\d.,]+/s$`));
  } finally {
    await p.stop();
    await receiver.close();
  }
});
