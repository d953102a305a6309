/**
 * `ferry replay` through the HTTP API (--url / FERRY_URL and a token): a real `ferry start` on a
 * SQLite data dir, a real receiver, and the CLI as its own process holding only the URL and an
 * account's token. Also the slicing of a range into replay calls, as a pure function.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Ferry, FerryError } from "@ferry/client";
import { tempDir } from "./support/harness.js";
import { killAll, spawnFerry, startServer, until, type ServerProcess } from "./support/processes.js";
import { startReceiver, type Receiver } from "../src/receiver.js";
import { SLICE, slices } from "../src/cli/replay-api.js";

const TOKEN = "replay-api-test-admin-token-0123456789";
let ferry: ServerProcess;
let receiver: Receiver;
let healthy = false;
const dir = tempDir("ferry-replay-api-");

before(async () => {
  receiver = await startReceiver({ respond: () => (healthy ? undefined : { status: 500 }) });
  ferry = await startServer("start", { FERRY_DATA_DIR: dir.path, FERRY_ADMIN_TOKEN: TOKEN, FERRY_POLL_INTERVAL_MS: "20" });
});

after(async () => {
  await killAll();
  await receiver.close();
  dir.cleanup();
});

/** The CLI with nothing of the server's but its URL: no data dir, no admin token. */
function cli(args: string[], env: Record<string, string | undefined>) {
  return spawnFerry(["replay", ...args], env);
}

test("slices cut the range after every SLICE postbacks, cover it exactly and never split a millisecond", () => {
  const range = { from: 1000, to: 9000 };
  assert.deepEqual(slices([], range), [range], "nothing listed: one call over the whole range");
  const times = [1000, 1000, 2000, 2000, 2000, 3000, 4000];
  assert.deepEqual(slices(times, range, 2), [
    { from: 1000, to: 2000 },
    { from: 2000, to: 3000 },
    { from: 3000, to: 9000 },
  ], "a millisecond is never split: 2, 3, 2");
  assert.deepEqual(slices([5000, 5000, 5000, 5000], range, 2), [range], "one millisecond of many: one call");
  assert.deepEqual(slices([1000, 2000, 3000, 4000, 5000], range, 2), [
    { from: 1000, to: 3000 },
    { from: 3000, to: 5000 },
    { from: 5000, to: 9000 },
  ]);
  assert.equal(SLICE, 500);
});

test("ferry replay --url sends a destination's dead postbacks again in slices, with progress, holding only an account's token", async () => {
  const admin = new Ferry({ url: ferry.url, token: TOKEN });
  const account = await admin.accounts.create({ name: "Replay through the API" });
  const { token } = await admin.tokens.create(account.id, { name: "cron" });
  const destination = await admin.destinations.create({ account_id: account.id, url: `${receiver.url}/hook`, max_attempts: 1, failure_threshold: 0 });
  const client = new Ferry({ url: ferry.url, token });
  // More than two slices' worth, pushed 100 at a time (a push's postbacks share a creation
  // millisecond, which one replay call takes whole), so the replay takes three calls.
  const total = 2 * SLICE + 100;
  for (let n = 0; n < total; n += 100) await client.push(undefined, Array.from({ length: 100 }, (_, i) => ({ n: n + i })));
  const dead = async () => {
    let count = 0;
    let after: string | undefined;
    do {
      const page = await client.postbacks.search({ destination_id: destination.id, state: "dead", limit: 100, ...(after ? { after } : {}) });
      count += page.data.length;
      after = page.next_after ?? undefined;
    } while (after);
    return count;
  };
  await until(async () => (await dead()) === total, 30_000, () => `${total} dead`);

  healthy = true;
  const replay = cli(["--destination", destination.id, "--since", "1h"], { FERRY_URL: ferry.url, FERRY_TOKEN: token });
  assert.equal((await replay.exited).code, 0, replay.stderr());
  assert.match(replay.stdout(), new RegExp(`^ferry replay: ${destination.id}: ${total} postbacks sent again, 0 skipped`));
  const lines = replay.stderr().split("\n").filter(Boolean);
  const label = `ferry replay ${destination.id}`;
  assert.equal(lines[0], `${label}: 1,100 postbacks to go`, replay.stderr());
  // A line as each of the three calls answers (each passes another tenth): 500, 1,000, 1,100
  // when every push had a millisecond of its own.
  const steps = lines.slice(1, -1).map((l) => Number(/: ([\d,]+)\/1,100 postbacks/.exec(l)?.[1]?.replace(",", "")));
  assert.equal(steps.length, 3, replay.stderr());
  assert.ok(steps[0]! > 0 && steps[0]! < steps[1]! && steps[1]! < total && steps[2] === total, replay.stderr());
  assert.match(lines.at(-1)!, new RegExp(`^${label}: done, 1,100 postbacks in `));
  assert.doesNotMatch(replay.stderr() + replay.stdout(), new RegExp(token), "the token is never printed");
  await until(async () => receiver.requests.filter((r) => r.url.endsWith("/hook")).length >= 2 * total, 30_000, () => `delivered after the replay: ${receiver.requests.length} requests, ${JSON.stringify(receiver.requests.at(-1)?.url)}`);
});

test("ferry replay --url: a missing destination, a bad token and no token are said plainly", async () => {
  const missing = cli(["--destination", "dst_nope", "--since", "1h"], { FERRY_URL: ferry.url, FERRY_TOKEN: TOKEN });
  assert.equal((await missing.exited).code, 1);
  assert.match(missing.stderr(), /no destination dst_nope/);

  const wrong = "not-a-token-of-this-ferry-0123456789";
  const refused = cli(["--postback", "pb_01", "--url", ferry.url], { FERRY_TOKEN: wrong });
  assert.equal((await refused.exited).code, 1);
  assert.match(refused.stderr(), /pb_01: \w+: /);
  assert.doesNotMatch(refused.stderr(), new RegExp(wrong));

  const tokenless = cli(["--postback", "pb_01"], { FERRY_URL: ferry.url });
  assert.equal((await tokenless.exited).code, 2);
  assert.match(tokenless.stderr(), /needs a token/);
  // Sanity: the server refuses that token the same way the client says.
  await assert.rejects(new Ferry({ url: ferry.url, token: wrong }).postbacks.retry("pb_01"), (err: unknown) => err instanceof FerryError && err.status === 401);
});
