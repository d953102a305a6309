/**
 * The HA layout tried with each part killed, short (issue 15, part 3): haproxy in front of two
 * `ferry api`, two `ferry worker`, Redis with a replica and three sentinels, Postgres through a
 * proxy that can be cut, all real processes (test/support/ha-layout.ts). Under a steady load of
 * ingest requests with Idempotency-Keys: kill -9 an api, a worker, the Redis primary (each
 * started again), and cut Postgres for 10 s. Then nothing acknowledged is lost, the only 5xx
 * a sender saw is 503 with Retry-After, duplicates stay within what the faults can cause, and
 * ingest and delivery flow again after each fault. The long run with its figures is
 * bench/ha-layout.ts (docs/operations.md, "High availability").
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { freePort, killAll, until } from "./support/processes.js";
import { tempDir } from "./support/harness.js";
import { drained, fault, settled, figures, haproxyRetries, LAYOUT_SETTINGS, startHaLayout, startHaproxy, startLoad, type Fault } from "./support/ha-layout.js";

const TOKEN = "ha-layout-admin-token-0123456789";
/** Requests a second: a steady trickle the loaded 2-core machine carries beside 9 processes. */
const RATE = 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("HA layout under load: kill -9 an api, a worker, the Redis primary, cut Postgres 10 s: nothing acknowledged lost, only 503 with Retry-After", { timeout: 150_000 }, async (t) => {
  const layout = await startHaLayout({ adminToken: TOKEN, sentinels: SENTINELS, waitReplicas: SENTINELS ? 1 : 0 });
  try {
    const load = startLoad({ url: layout.url, token: TOKEN, receiverUrl: layout.receiver.url, rate: RATE });
    const faults: Fault[] = [];
    await sleep(3_000);
    assert.ok(load.acked.size > 0, `nothing acknowledged before the first fault: ${JSON.stringify(load.answers.slice(-3))}`);
    // A burst just before the kill, so that some requests are in the api's hands when it dies:
    // haproxy must retry them on the other one (empty-response), and their keys keep them once.
    load.burst(10);
    await sleep(3);
    faults.push(await fault(layout, "api", 0));
    await sleep(4_000);
    faults.push(await fault(layout, "worker", 0));
    await sleep(4_000);
    if (SENTINELS) {
      faults.push(await fault(layout, "redis-primary"));
      // With FERRY_REDIS_WAIT_REPLICAS=1 and one replica, ingest answers 503 until the old
      // primary is back as a replica: the next fault waits for that, to measure its own cost.
      await sleep(2_000);
      await settled(load);
    }
    faults.push(await fault(layout, "postgres", 0, 10_000));
    await sleep(5_000);
    // A request in flight at the killed api holds its key for a minute (its claim goes stale
    // then): its sender gets 409 idempotency_key_in_use until then. Wait for those too.
    const { gaveUp } = await load.stop(65_000);
    // What a killed worker held comes back after its lease.
    const allArrived = await drained(load, layout.receiver, LAYOUT_SETTINGS.FERRY_LEASE_MS + 15_000);
    const f = figures(load, layout.receiver, faults);
    const retries = haproxyRetries(layout.haproxy.log());
    t.diagnostic(JSON.stringify({ ...f, lost: f.lost.length, badFiveXx: f.badFiveXx.slice(0, 5), gaveUp: gaveUp.length, haproxy: retries }, null, 1));

    if (!allArrived) {
      // What the processes said: a stalled drain is diagnosed from their warnings and errors.
      for (const s of [...layout.apis, ...layout.workers]) {
        const p = s.current();
        const bad = p.logs().filter((l) => Number(l.level) >= 40).slice(-15).map((l) => JSON.stringify(l).slice(0, 400));
        const last = p.logs().slice(-3).map((l) => JSON.stringify(l).slice(0, 300));
        // Attempts by outcome: a receiver too slow to answer in FERRY_TIMEOUT_MS shows here as
        // timeouts (retried later and later), where lost postbacks would show nothing at all.
        const tally: Record<string, number> = {};
        for (const l of p.logs()) {
          if (l.msg !== "attempt") continue;
          const kind = `${l.state} ${l.status_code ?? l.error ?? ""}`.trim();
          tally[kind] = (tally[kind] ?? 0) + 1;
        }
        t.diagnostic(`${s.name} attempts: ${JSON.stringify(tally)}`);
        t.diagnostic(`${s.name} (exit ${JSON.stringify(p.exit())}): warnings and errors:\n${bad.join("\n")}\nlast lines:\n${last.join("\n")}\nstderr: ${p.stderr().slice(-800)}`);
      }
    }
    assert.ok(allArrived || f.lost.length === 0, "drain");
    assert.deepEqual(f.lost, [], `${f.lost.length} acknowledged postbacks never delivered`);
    assert.deepEqual(f.badFiveXx, [], "a 5xx other than 503 with Retry-After reached a sender");
    assert.deepEqual(gaveUp, [], "requests still unacknowledged after the load stopped");
    assert.ok(f.acknowledged > RATE * 20, `only ${f.acknowledged} acknowledged`);
    // Duplicates come from work done whose record was lost: what the killed worker held
    // (at most FERRY_CONCURRENCY), what each worker held through the Postgres cut if it
    // outlasted the lease (it does not: 15 s lease, 10 s cut; counted anyway), and enqueues of
    // requests in flight at the killed api, taken over after their claim went stale (one
    // postback each; a few at this rate, bounded here by a second's worth).
    const bound = LAYOUT_SETTINGS.FERRY_CONCURRENCY * 3 + RATE;
    assert.ok(f.duplicates <= bound, `${f.duplicates} duplicates, above ${bound}`);
    for (const x of f.faults) {
      // Flowing again within 20 s of each fault (the Postgres cut's 10 s included); after the
      // Redis primary's death, with WAIT 1 and one replica, ingest waits for the old primary
      // to be back as a replica: the sentinels look at it every 10 s, then it syncs.
      const ingestBound = x.name.includes("Redis") ? 30_000 : 20_000;
      assert.ok(x.ingestRecoveryMs < ingestBound, `${x.name}: ingest answered 202 again only after ${x.ingestRecoveryMs} ms`);
      assert.ok(x.deliveryRecoveryMs < 20_000, `${x.name}: deliveries flowed again only after ${x.deliveryRecoveryMs} ms`);
    }
    // Every process still runs (none crashed on its own).
    for (const s of [...layout.apis, ...layout.workers]) assert.equal(s.current().exit(), undefined, `${s.name} exited: ${s.current().stderr().slice(-1000)}`);
  } finally {
    await layout.close();
    await killAll();
  }
});

test("haproxy's own 503, when no api answers at all, carries Retry-After and a problem a sender can read", async () => {
  // One server that answers (so haproxy starts), the other never there; then the first goes too.
  const server = createServer((_req, res) => res.end("ok"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const dir = tempDir("ferry-haproxy-");
  const haproxy = await startHaproxy(dir.path, [(server.address() as AddressInfo).port, await freePort()]);
  try {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    const res = await fetch(`${haproxy.url}/ingest`, { method: "POST", body: "{}" });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "1");
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    assert.equal(((await res.json()) as { code: string }).code, "not_ready");
    // It tried other servers first: the request's line (written as it ends) shows its retries.
    await until(() => haproxy.log().some((l) => / ferry_api\/\S+ 503 \+?[1-9]/.test(l)), 5_000, () => haproxy.log().join("\n"));
  } finally {
    await haproxy.close();
    dir.cleanup();
  }
});

/** Whether Ferry finds the primary through the sentinels (part 2 of issue 15). */
const SENTINELS = true;
