/**
 * The delivery log end to end (issue 11): the real API (inject), a real worker, real backends
 * and a real receiver that fails some postbacks. The search must return exactly the postbacks
 * each filter names, the stats must count what was sent, an account token sees its own only,
 * and bad filters are 422 naming the parameter. Each backend's test file calls
 * `deliveryLogSuite` once.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { AUTH, drained, eventually, startPipeline, type Pipeline } from "../support/harness.js";
import { startReceiver, type Receiver } from "../../src/receiver.js";
import type { Config } from "../../src/config.js";
import { deleteExpiredPostbacks } from "../../src/app/delivery-log.js";
import { account, call, ok } from "../support/api.js";

/** Every page of a search, following next_after; checks each page's size and the order. */
async function search(p: Pipeline, query: string, auth: Record<string, string> = AUTH, limit = 4): Promise<any[]> {
  const items: any[] = [];
  let after: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const url = `/v1/postbacks?${query}${query ? "&" : ""}limit=${limit}${after ? `&after=${after}` : ""}`;
    const body = ok(await call(p, "GET", url, undefined, auth), 200, `GET ${url}`);
    assert.ok(body.data.length <= limit);
    items.push(...body.data);
    after = body.next_after;
    if (after === null) break;
  }
  const ids = items.map((i) => i.id);
  assert.deepEqual(ids, [...ids].sort().reverse(), "newest first");
  assert.equal(new Set(ids).size, ids.length, "each once");
  return items;
}

const sorted = (ids: string[]) => [...ids].sort();
const sum = (buckets: any[], key: string) => buckets.reduce((a, b) => a + b[key], 0);

export function deliveryLogSuite(name: string, backend: () => Partial<Config> | Promise<Partial<Config>>): void {
  describe(`delivery log: search and stats (${name})`, () => {
    let receiver: Receiver;
    const pipelines: Pipeline[] = [];
    before(async () => {
      // /ok answers 200, /gone 404 (dead at once), /busy 503 (retried, then dead). Not 410: since
      // issue 14 a 410 disables its destination and holds its postbacks (test/partner-signals).
      receiver = await startReceiver({
        respond: (r) => {
          const path = new URL(r.url).pathname;
          return { status: path.endsWith("/ok") ? 200 : path.endsWith("/gone") ? 404 : 503 };
        },
      });
    });
    after(async () => {
      await Promise.all(pipelines.map((p) => p.stop()));
      await receiver.close();
    });
    async function start(overrides: Partial<Config> = {}, worker = true): Promise<Pipeline> {
      const p = await startPipeline({ failure_threshold: 0, ...(await backend()), ...overrides }, { worker });
      pipelines.push(p);
      return p;
    }

    test("search by destination, state and status code returns exactly those; stats count them; accounts see their own", async () => {
      const p = await start();
      const started = Date.now();
      const a = await account(p);
      const b = await account(p);
      const tag = `/log-${Date.now()}`;
      const dest = async (auth: Record<string, string>, path: string, fields: Record<string, unknown> = {}) =>
        ok(await call(p, "POST", "/v1/destinations", { url: `${receiver.url}${tag}${path}`, method: "POST", ...fields }, auth), 201, "destination");
      const dOk = await dest(a.auth, "/ok");
      const dGone = await dest(a.auth, "/gone");
      const dBusy = await dest(a.auth, "/busy", { max_attempts: 2 });
      const dB = await dest(b.auth, "/ok");
      const pushed = ok(await call(p, "POST", "/v1/push?type=order.created", [{ n: 1 }, { n: 2 }, { n: 3 }], a.auth), 202, "push A").postbacks;
      const pushedB = ok(await call(p, "POST", "/v1/push?type=order.created", [{ n: 4 }, { n: 5 }], b.auth), 202, "push B").postbacks;
      assert.equal(pushed.length, 9);
      const of = (d: any) => pushed.filter((x: any) => x.destination_id === d.id).map((x: any) => x.id);
      await eventually(async () => (await search(p, "state=dead", a.auth, 100)).length === 6, 15_000, "6 dead postbacks");
      await drained(p);

      // Exactly those, by each filter, across pages.
      const ids = (items: any[]) => sorted(items.map((i) => i.id));
      assert.deepEqual(ids(await search(p, `destination_id=${dGone.id}&state=dead`)), sorted(of(dGone)));
      assert.deepEqual(ids(await search(p, `destination_id=${dOk.id}&state=delivered`)), sorted(of(dOk)));
      assert.deepEqual(ids(await search(p, `state=delivered`, a.auth)), sorted(of(dOk)));
      assert.deepEqual(ids(await search(p, `status_code=404`, a.auth)), sorted(of(dGone)));
      assert.deepEqual(ids(await search(p, `status_code=503&destination_id=${dBusy.id}`)), sorted(of(dBusy)));
      assert.deepEqual(ids(await search(p, `state=failed`, a.auth)), [], "nothing is owed any more");
      assert.deepEqual(ids(await search(p, `q=${tag}/gone`, a.auth)), sorted(of(dGone)), "q finds the last attempt's URL");
      assert.deepEqual(ids(await search(p, `q=${pushed[0].id}`)), [pushed[0].id], "q finds an id");
      assert.deepEqual(ids(await search(p, "", a.auth)), sorted(pushed.map((x: any) => x.id)), "an account token sees its own, all 9");
      assert.deepEqual(ids(await search(p, `account_id=${b.id}`)), sorted(pushedB.map((x: any) => x.id)));
      assert.deepEqual(ids(await search(p, `since=${new Date(Date.now() + 60_000).toISOString()}`, a.auth)), [], "since after them all");
      assert.deepEqual(ids(await search(p, `until=${new Date(started - 1000).toISOString()}`, a.auth)), [], "until before them all");
      assert.deepEqual(ids(await search(p, `since=${new Date(started - 1000).toISOString()}`, a.auth)).length, 9);

      const busy = (await search(p, `destination_id=${dBusy.id}`))[0];
      assert.equal(busy.state, "dead");
      assert.equal(busy.attempts, 2);
      assert.equal(busy.account_id, a.id);
      assert.equal(busy.destination_id, dBusy.id);
      assert.equal(busy.last_attempt.status_code, 503);
      assert.equal(busy.last_attempt.error, null);
      assert.equal(busy.last_attempt.url, `${receiver.url}${tag}/busy`);
      assert.equal(typeof busy.last_attempt.duration_ms, "number");
      assert.ok(Date.parse(busy.last_attempt.at) >= Date.parse(busy.created_at));
      assert.deepEqual(Object.keys(busy), ["id", "state", "account_id", "destination_id", "created_at", "updated_at", "attempts", "last_attempt"]);

      // Isolation: another account's id or destination is unknown.
      assert.equal((await call(p, "GET", `/v1/postbacks?account_id=${b.id}`, undefined, a.auth)).body.code, "account_not_found");
      const other = await call(p, "GET", `/v1/postbacks?destination_id=${dB.id}`, undefined, a.auth);
      assert.equal(other.status, 404);
      assert.equal(other.body.code, "destination_not_found");
      assert.equal((await call(p, "GET", `/v1/destinations/${dB.id}/stats`, undefined, a.auth)).status, 404);
      assert.equal((await call(p, "GET", `/v1/destinations/dst_nope/stats`)).body.code, "destination_not_found");

      // Stats: per destination, minute buckets since the test began.
      const since = new Date(started - 60_000).toISOString();
      const busyStats = ok(await call(p, "GET", `/v1/destinations/${dBusy.id}/stats?bucket=minute&since=${since}`, undefined, a.auth), 200, "stats");
      assert.deepEqual(Object.keys(busyStats), ["destination_id", "enabled", "disabled_reason", "queue_depth", "last_error", "buckets", "latency_ms"]);
      assert.equal(busyStats.destination_id, dBusy.id);
      assert.equal(busyStats.enabled, true);
      assert.equal(busyStats.disabled_reason, null);
      assert.equal(busyStats.queue_depth, 0);
      assert.equal(busyStats.last_error.status_code, 503);
      assert.equal(sum(busyStats.buckets, "retry"), 3);
      assert.equal(sum(busyStats.buckets, "dead"), 3);
      assert.equal(sum(busyStats.buckets, "delivered"), 0);
      assert.ok(busyStats.buckets.length >= 2 && busyStats.buckets.length <= 4, "one bucket per minute of the range");
      assert.ok(busyStats.latency_ms.p50 <= busyStats.latency_ms.p95 && busyStats.latency_ms.p95 <= busyStats.latency_ms.p99);
      const okStats = ok(await call(p, "GET", `/v1/destinations/${dOk.id}/stats`), 200, "stats, defaults");
      // The last 24 hours by the hour: from the hour holding now − 24 h, so 25 unless now is on the hour.
      assert.ok([24, 25].includes(okStats.buckets.length), `${okStats.buckets.length} buckets`);
      assert.equal(Date.parse(okStats.buckets[0].start) % 3_600_000, 0, "buckets start on the hour");
      assert.equal(sum(okStats.buckets, "delivered"), 3);
      assert.equal(okStats.last_error, null);

      const mine = ok(await call(p, "GET", `/v1/stats?bucket=minute&since=${since}`, undefined, a.auth), 200, "account stats");
      assert.deepEqual(
        ["delivered", "retry", "dead", "cancelled", "held"].map((k) => sum(mine.buckets, k)),
        [3, 3, 6, 0, 0],
      );
      assert.deepEqual(mine.queue, { ready: 0, waiting: 0 });
      const adminB = ok(await call(p, "GET", `/v1/stats?account_id=${b.id}`), 200, "admin: account B");
      assert.equal(sum(adminB.buckets, "delivered"), 2);
      const all = ok(await call(p, "GET", `/v1/stats`), 200, "admin: all");
      assert.ok(sum(all.buckets, "delivered") >= 5);
      assert.equal(typeof all.queue.ready, "number");
    });

    test("pending and held postbacks, which only the queue holds, are listed and counted", async () => {
      const p = await start({}, false); // no worker: everything stays pending
      const a = await account(p);
      const d = ok(await call(p, "POST", "/v1/destinations", { url: `${receiver.url}/pending/ok`, method: "POST" }, a.auth), 201, "destination");
      const pushed = ok(await call(p, "POST", "/v1/push?type=t", [{ n: 1 }, { n: 2 }], a.auth), 202, "push").postbacks.map((x: any) => x.id);
      assert.deepEqual((await search(p, "state=pending", a.auth, 1)).map((i) => i.id), sorted(pushed).reverse());
      const item = (await search(p, `state=pending&destination_id=${d.id}`, a.auth))[0];
      assert.equal(item.state, "pending");
      assert.equal(item.attempts, 0);
      assert.equal(item.last_attempt, null);
      assert.deepEqual(await search(p, "state=held", a.auth), []);
      const stats = ok(await call(p, "GET", `/v1/destinations/${d.id}/stats`, undefined, a.auth), 200, "stats");
      assert.equal(stats.queue_depth, 2);
      assert.deepEqual(ok(await call(p, "GET", "/v1/stats", undefined, a.auth), 200, "stats").queue, { ready: 2, waiting: 0 });

      // Disabled: the worker parks them (held), and the roll-ups count the holds.
      ok(await call(p, "PATCH", `/v1/destinations/${d.id}`, { enabled: false }, a.auth), 200, "disable");
      p.startWorker();
      await eventually(async () => (await search(p, "state=held", a.auth)).length === 2, 10_000, "2 held");
      assert.deepEqual((await search(p, `state=held&destination_id=${d.id}`, a.auth)).map((i) => i.state), ["held", "held"]);
      assert.deepEqual(await search(p, "state=pending", a.auth), []);
      const held = ok(await call(p, "GET", `/v1/destinations/${d.id}/stats?bucket=minute&since=${new Date(Date.now() - 120_000).toISOString()}`, undefined, a.auth), 200, "stats");
      assert.equal(held.enabled, false);
      assert.equal(held.queue_depth, 2);
      await eventually(async () => {
        const s = ok(await call(p, "GET", `/v1/destinations/${d.id}/stats?bucket=minute&since=${new Date(Date.now() - 120_000).toISOString()}`, undefined, a.auth), 200, "stats");
        return sum(s.buckets, "held") === 2;
      }, 10_000, "2 holds counted");
    });

    test("retention deletes what is finished, keeps what is owed, and the stats still count it all", async () => {
      const p = await start({ max_attempts: 3, retry_base_ms: 60_000, retry_max_delay_ms: 60_000 });
      const a = await account(p);
      const okDest = ok(await call(p, "POST", "/v1/destinations", { url: `${receiver.url}/ret/ok`, method: "POST" }, a.auth), 201, "destination");
      const busyDest = ok(await call(p, "POST", "/v1/destinations", { url: `${receiver.url}/ret/busy`, method: "POST" }, a.auth), 201, "destination");
      const pushed = ok(await call(p, "POST", "/v1/push?type=t", [{ n: 1 }, { n: 2 }], a.auth), 202, "push").postbacks;
      const owed = pushed.filter((x: any) => x.destination_id === busyDest.id).map((x: any) => x.id);
      // The busy ones failed once and wait a minute for their retry: owed.
      await eventually(async () => (await search(p, "state=failed", a.auth)).length === 2 && (await search(p, "state=delivered", a.auth)).length === 2, 10_000, "2 delivered, 2 failed");
      const statsBefore = ok(await call(p, "GET", "/v1/stats", undefined, a.auth), 200, "stats");
      // A retention of 1 ms, an hour from now: everything finished is past it.
      const deleted = await deleteExpiredPostbacks({ queue: p.backends.queue, stores: p.backends.stores }, { retentionMs: 1, batch: 1, now: Date.now() + 3_600_000 });
      assert.ok(deleted >= 2, `${deleted} deleted`);
      assert.deepEqual(await search(p, `destination_id=${okDest.id}`, a.auth), [], "the delivered ones are gone");
      assert.deepEqual(sorted((await search(p, "", a.auth)).map((i) => i.id)), sorted(owed), "the owed ones stay");
      assert.equal((await call(p, "GET", `/v1/postbacks/${owed[0]}`, undefined, a.auth)).status, 200);
      const statsAfter = ok(await call(p, "GET", "/v1/stats", undefined, a.auth), 200, "stats");
      assert.deepEqual(statsAfter.buckets, statsBefore.buckets, "roll-ups outlive the rows");
      assert.equal(sum(statsAfter.buckets, "delivered"), 2);
      assert.equal(sum(statsAfter.buckets, "retry"), 2);
    });

    test("bad filters are 422 invalid_query naming the parameter", async () => {
      const p = await start({}, false);
      const cases: [string, string][] = [
        ["/v1/postbacks?state=lost", "state"],
        ["/v1/postbacks?status_code=99", "status_code"],
        ["/v1/postbacks?status_code=abc", "status_code"],
        ["/v1/postbacks?since=yesterday", "since"],
        ["/v1/postbacks?until=2026-13-45T00:00:00Z", "until"],
        ["/v1/postbacks?since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z", "until"],
        ["/v1/postbacks?limit=0", "limit"],
        ["/v1/postbacks?limit=101", "limit"],
        ["/v1/postbacks?state=dead&state=failed", "state"],
        [`/v1/postbacks?q=${"x".repeat(201)}`, "q"],
        ["/v1/stats?bucket=day", "bucket"],
        ["/v1/stats?bucket=minute&since=2026-01-01T00:00:00Z&until=2026-01-03T00:00:00Z", "since"],
        ["/v1/stats?since=2026-01-01", "since"].map(String) as [string, string],
      ];
      cases.pop(); // a date alone is a fine since; checked below
      for (const [url, field] of cases) {
        const res = await call(p, "GET", url);
        assert.equal(res.status, 422, `${url}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.code, "invalid_query", url);
        assert.equal(res.body.field, field, url);
      }
      assert.equal((await call(p, "GET", "/v1/stats?since=2026-01-01&until=2026-01-02")).status, 200);
      assert.equal((await call(p, "GET", "/v1/postbacks?destination_id=dst_nope")).body.code, "destination_not_found");
      assert.equal((await call(p, "GET", "/v1/postbacks?account_id=acct_nope")).body.code, "account_not_found");
      assert.equal((await call(p, "GET", "/v1/postbacks", undefined, {})).status, 401);
    });
  });
}
