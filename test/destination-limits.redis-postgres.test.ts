/**
 * A destination's limits hold across worker processes together (issue 14, part 1): `ferry api`
 * and two `ferry worker`s on one Redis and one Postgres, real partners counting what they get.
 * - rate_limit 20: the partner's rate over a 10 s steady window is 20/s ± 10% (not 40/s);
 * - concurrency 2 with 200 ms answers: never more than 2 requests in flight, both workers sending;
 * - a worker killed (SIGKILL) while holding the slots: they come back once their lease ends.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { scaleOut } from "./support/scale-out.js";
import { startServer, startWorker, until, type FerryProcess } from "./support/processes.js";
import { countingPartner, limitedAccount, pushMany, steadyRate } from "./support/limits.js";
import { Redis } from "ioredis";
import { LIMITS_LIBRARY } from "../src/limits/redis.js";

const TOKEN = "limits-redis-admin-token-0123456789";
const layout = await scaleOut("limits", TOKEN);

/** Logged at info: the test counts each worker's attempt lines. */
const env = (extra: Record<string, string> = {}) => layout.env({ FERRY_LOG_LEVEL: "info", ...extra });

/** Attempts each worker logged for the destination at `url`. */
function attemptsBy(workers: FerryProcess[], url: string): number[] {
  return workers.map((w) => w.logs().filter((l) => l["msg"] === "attempt" && String(l["url"]).startsWith(url)).length);
}

// First in the file: Redis functions are the server's, and the tests below load the library.
test("ferry api opens no limit store (it runs no worker); a ferry worker loads the limits library", async () => {
  const client = new Redis(layout.redis.url);
  const loaded = async () => ((await client.call("FUNCTION", "LIST", "LIBRARYNAME", LIMITS_LIBRARY)) as unknown[]).length > 0;
  try {
    const settings = env();
    const server = await startServer("api", settings);
    assert.equal(await loaded(), false, "ferry api loaded the limits library");
    const worker = await startWorker(settings);
    assert.equal(await loaded(), true, "ferry worker did not load the limits library");
    await worker.stop();
    await server.stop();
  } finally {
    client.disconnect();
  }
});

test("two workers: concurrency 2 is never exceeded, and rate_limit 20 gives the partner 20/s ± 10% over 10 s", async (t) => {
  // Each worker holds 8 postbacks at most, so neither can reserve the whole backlog alone: both send.
  const settings = env({ FERRY_CONCURRENCY: "8" });
  const api = await startServer("api", settings);
  const workers = await Promise.all([startWorker(settings), startWorker(settings)]);
  const slow = await countingPartner(200);
  const paced = await countingPartner(0);
  try {
    // Concurrency: 40 postbacks answered in 200 ms each, 2 at a time: about 4 s.
    const slowAccount = await limitedAccount(api.url, TOKEN, slow.url, { concurrency: 2 });
    await pushMany(api.url, TOKEN, slowAccount, 40);
    await until(() => slow.arrivals.length >= 40 && slow.inFlight() === 0, 30_000, () => `${slow.arrivals.length} of 40 at the slow partner`);
    const bySlow = attemptsBy(workers, slow.url);
    t.diagnostic(`concurrency 2: most in flight ${slow.maxInFlight()}; attempts per worker ${bySlow.join(" + ")}`);
    assert.equal(slow.maxInFlight(), 2, "2 at once, never more (and the limit was reached, so the test means something)");
    assert.ok(bySlow.every((n) => n > 0), `both workers sent: ${bySlow.join(" + ")}`);

    // Rate: 320 postbacks at 20/s take 16 s; measure 10 s past the first 2.
    const pacedAccount = await limitedAccount(api.url, TOKEN, paced.url, { rate_limit: 20 });
    await pushMany(api.url, TOKEN, pacedAccount, 320);
    await until(() => paced.arrivals.length > 0 && Date.now() - paced.arrivals[0]! >= 12_500, 30_000, () => `${paced.arrivals.length} at the paced partner`);
    const rate = steadyRate(paced.arrivals, 2000, 10_000);
    const byPaced = attemptsBy(workers, paced.url);
    t.diagnostic(`rate_limit 20 over two workers: ${rate.toFixed(1)}/s in a 10 s window; attempts per worker ${byPaced.join(" + ")}`);
    assert.ok(rate >= 18 && rate <= 22, `${rate}/s: outside 20/s ± 10%`);
    assert.ok(byPaced.every((n) => n > 0), `both workers sent: ${byPaced.join(" + ")}`);
    for (const p of [...workers, api]) assert.deepEqual(await p.stop(), { code: 0, signal: null }, p.stderr());
  } finally {
    for (const p of [...workers, api]) p.signal("SIGKILL");
    await slow.close();
    await paced.close();
  }
});

test("a worker killed holding a destination's slots: the other waits, and sends once their lease ends", async (t) => {
  const leaseMs = 4000;
  const settings = env({ FERRY_LEASE_MS: String(leaseMs), FERRY_TIMEOUT_MS: "2000" });
  // The first request is answered (the origin is proven, so it gets more than one at a time);
  // the next two never are: the victim holds both slots when it dies.
  const partner = await countingPartner(0, (n) => n === 1 || n === 2);
  const api = await startServer("api", settings);
  const victim = await startWorker(settings);
  let survivor: FerryProcess | undefined;
  try {
    const account = await limitedAccount(api.url, TOKEN, partner.url, { concurrency: 2 });
    await pushMany(api.url, TOKEN, account, 1);
    await until(() => attemptsBy([victim], partner.url)[0] === 1, 10_000, () => "the first postback");
    await pushMany(api.url, TOKEN, account, 2);
    await until(() => partner.inFlight() === 2, 10_000, () => `${partner.inFlight()} in flight; victim: ${victim.stdout().slice(-2000)}`);
    const slotsTaken = partner.arrivals[2]!;
    victim.signal("SIGKILL");
    await victim.exited;
    survivor = await startWorker(settings);
    await pushMany(api.url, TOKEN, account, 3);
    // The survivor sends the 3 new ones, and the victim's 2 again once their queue leases end.
    await until(() => partner.arrivals.length >= 8, 20_000, () => `${partner.arrivals.length} of 8 arrivals`);
    const firstAfter = partner.arrivals[3]! - slotsTaken;
    t.diagnostic(`the killed worker's slots were taken; the next request came ${firstAfter} ms later (lease ${leaseMs} ms)`);
    assert.ok(firstAfter >= leaseMs - 300, `sent ${firstAfter} ms after the slots were taken: before their lease ended`);
    assert.ok(firstAfter <= leaseMs + 3000, `the slots came back late: ${firstAfter} ms`);
    assert.ok(partner.maxInFlight() <= 2, `${partner.maxInFlight()} in flight at once`);
  } finally {
    victim.signal("SIGKILL");
    survivor?.signal("SIGKILL");
    api.signal("SIGKILL");
    await partner.close();
  }
});
