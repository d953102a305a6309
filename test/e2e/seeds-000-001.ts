/**
 * docs/seeds.md's walk-throughs of seed 000 (the PHP ingest script) and seed 001 (events), run as
 * written: a real `ferry start` with the section's settings (FERRY_TRUSTED_NETWORKS, so the
 * seeds' clients send with no token), the commands in bash with curl and jq, and a real
 * receiver. Checks what each command printed and what the receiver got. Each backend's test
 * file calls `seedWalkthroughs000001` once.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { runWalkthrough, type WalkthroughRun } from "../support/walkthrough.js";
import { killAll } from "../support/processes.js";

/** The non-empty lines a block printed. */
const lines = (output: string | undefined): string[] => (output ?? "").split("\n").filter((l) => l.trim() !== "");

/** `backend` gives the settings of a new, empty backend for each walk-through (none: SQLite). */
export function seedWalkthroughs000001(name: string, backend: () => Promise<Record<string, string>> | Record<string, string>): void {
  const runs: WalkthroughRun[] = [];
  after(async () => {
    for (const run of runs) await run.stop();
    await killAll();
  });
  const walk = async (heading: string): Promise<WalkthroughRun> => {
    const run = await runWalkthrough(heading, { extraEnv: await backend() });
    runs.push(run);
    return run;
  };
  describe(`seed walk-throughs 000 and 001 (${name})`, () => {
    test("seed 000: the seed's sample request, sent with no token from a trusted network, gives the seed's sample postback", async () => {
      const run = await walk("Seed 000");
      const [sent, looked, extra, refused] = run.outputs;
      assert.equal(run.outputs.length, 4, `one output per block: ${JSON.stringify(run.outputs)}`);

      const answer = JSON.parse(lines(sent)[0]!);
      assert.match(answer.ids[0], /^pb_[0-9A-Z]{26}$/);
      const samples = run.received.filter((r) => r.url.startsWith("/data?title="));
      assert.equal(samples.length, 1, JSON.stringify(run.received.map((r) => r.url)));
      assert.equal(samples[0]!.method, "GET");
      assert.equal(samples[0]!.url, "/data?title=Gopher&image=https%3A%2F%2Fblog.golang.org%2Fgopher%2Fgopher.png&foo=");
      assert.equal(samples[0]!.headers["webhook-id"], answer.ids[0]);

      assert.deepEqual(JSON.parse(lines(looked).at(-1)!), {
        state: "delivered",
        url: `${run.receiver}/data?title=Gopher&image=https%3A%2F%2Fblog.golang.org%2Fgopher%2Fgopher.png&foo=`,
        status_code: 200,
      });

      // POST with a default for the unmatched {bar}: each data object as the JSON body.
      assert.deepEqual(lines(extra), ["2"]);
      const posts = await eventuallyReceived(run, (r) => r.method === "POST" && r.url === "/data?foo=none", 2);
      assert.deepEqual(posts.map((r) => JSON.parse(r.body).mascot).sort(), ["Gopher", "Gordon"]);

      // From an address outside the trusted network, and on a route that is not a way in: 401.
      assert.deepEqual(lines(refused), ["401", "401"]);
      assert.equal(run.received.filter((r) => r.url === "/x").length, 0, "nothing of the refused request was delivered");
    });

    test("seed 001: events sent with no token are stored for the trusted account, refused per event when invalid, and found by session, category and time range", async () => {
      const run = await walk("Seed 001");
      const [account, schema, sample, batch, errors, session, category, range, unread] = run.outputs;
      assert.equal(run.outputs.length, 9, `one output per block: ${JSON.stringify(run.outputs)}`);
      assert.match(lines(account)[0]!, /^acct_[0-9A-Z]{26}$/);
      assert.deepEqual(JSON.parse(lines(schema)[0]!), { category: "party", version: 1 });
      assert.deepEqual(JSON.parse(lines(sample)[0]!), { index: 0, created: true, id: true });
      assert.deepEqual(JSON.parse(lines(batch)[0]!), [true, true, true]);

      const [badValue, badTime] = lines(errors).map((l) => JSON.parse(l));
      assert.deepEqual(badValue, { status: 422, code: "invalid_events", errors: [{ code: "schema_violation", field: "data.host", detail: "type: must be string" }] });
      assert.equal(badTime.status, 422);
      assert.equal(badTime.code, "invalid_events");
      assert.equal(badTime.errors[0].code, "invalid_timestamp");

      assert.deepEqual(JSON.parse(lines(session)[0]!), {
        count: 3,
        first_timestamp: "2021-09-26T09:15:27.243860Z",
        last_timestamp: "2021-09-26T09:17:45.500000Z",
        categories: ["party", "party", "checkout"],
      });
      assert.deepEqual(JSON.parse(lines(category)[0]!), ["/", "/rsvp", "/"]);
      assert.deepEqual(JSON.parse(lines(range)[0]!), ["2021-09-26T09:15:27.243860Z", "2021-09-26T09:16:02.000000Z", "2021-09-26T09:17:45.500000Z"]);
      assert.deepEqual(lines(unread), ["401"]);
    });
  });
}

/** Waits until the receiver got `n` requests matching `match`; returns them. */
async function eventuallyReceived(run: WalkthroughRun, match: (r: WalkthroughRun["received"][number]) => boolean, n: number) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const got = run.received.filter(match);
    if (got.length >= n) return got;
    if (Date.now() > deadline) throw new Error(`receiver got ${got.length} of ${n}: ${JSON.stringify(run.received.map((r) => `${r.method} ${r.url}`))}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
