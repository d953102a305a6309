/**
 * A destination's limits on the embedded default: `ferry start` on one SQLite file keeps
 * rate_limit (20/s ± 10% over a steady window) and concurrency (2, with 200 ms answers) in its
 * one worker, in memory, asking no store but its own.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { tempDir } from "./support/harness.js";
import { killAll, startServer, until } from "./support/processes.js";
import { countingPartner, limitedAccount, pushMany, steadyRate } from "./support/limits.js";

const TOKEN = "limits-sqlite-admin-token-0123456789";
after(() => killAll());

test("ferry start keeps rate_limit 20 (20/s ± 10% over 8 s) and concurrency 2, both at once", async (t) => {
  const ferry = await startServer("start", { FERRY_ADMIN_TOKEN: TOKEN, FERRY_DATA_DIR: tempDir().path });
  const slow = await countingPartner(200);
  const paced = await countingPartner(0);
  try {
    const pacedAccount = await limitedAccount(ferry.url, TOKEN, paced.url, { rate_limit: 20 });
    const slowAccount = await limitedAccount(ferry.url, TOKEN, slow.url, { concurrency: 2 });
    await pushMany(ferry.url, TOKEN, pacedAccount, 240);
    await pushMany(ferry.url, TOKEN, slowAccount, 40);
    await until(() => paced.arrivals.length > 0 && Date.now() - paced.arrivals[0]! >= 10_500, 30_000, () => `${paced.arrivals.length} at the paced partner`);
    await until(() => slow.arrivals.length >= 40, 30_000, () => `${slow.arrivals.length} of 40 at the slow partner`);
    const rate = steadyRate(paced.arrivals, 2000, 8000);
    t.diagnostic(`embedded: rate_limit 20 gave ${rate.toFixed(1)}/s over 8 s; concurrency 2 saw at most ${slow.maxInFlight()} in flight`);
    assert.ok(rate >= 18 && rate <= 22, `${rate}/s: outside 20/s ± 10%`);
    assert.equal(slow.maxInFlight(), 2);
    // The waits are counted, by reason only.
    const metrics = await (await fetch(`${ferry.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    for (const reason of ["rate", "concurrency"]) {
      const line = metrics.split("\n").find((l) => l.startsWith(`ferry_limit_waits_total{reason="${reason}"`));
      assert.ok(line && Number(line.split(" ").pop()) > 0, `ferry_limit_waits_total for ${reason}: ${line}`);
    }
    assert.deepEqual(await ferry.stop(), { code: 0, signal: null }, ferry.stderr());
  } finally {
    ferry.signal("SIGKILL");
    await slow.close();
    await paced.close();
  }
});
