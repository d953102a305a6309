/**
 * The limit store conformance suite: what every LimitStore adapter (src/limits/port.ts) must
 * do, written against the port only. An adapter's test file calls `limitsConformance` with a
 * function that opens a fresh store (and a peer: another process's view of the same limits).
 * Timing checks use the wall clock (Redis keeps its own), with bounds loose enough for a
 * loaded machine but tight enough to tell a limit from none.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { FULL_RETRY_MS, type Acquired, type LimitSettings, type LimitStore } from "../../src/limits/port.js";

export interface OpenedLimits {
  store: LimitStore;
  /** Another store on the same limits, as a second worker process has. */
  peer(): Promise<LimitStore>;
  close(): Promise<void>;
}

const LEASE = 30_000;
const settings = (s: Partial<LimitSettings>): LimitSettings => ({ rateLimit: null, rateLimitBurst: null, concurrency: null, ...s });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let ids = 0;
/** A destination id no other test uses (stores may share one Redis prefix per file). */
const destination = () => `dst_conf_${process.pid}_${++ids}`;

function granted(a: Acquired): string | null {
  assert.ok(a.granted, `expected a grant, got ${JSON.stringify(a)}`);
  return a.lease;
}

function refused(a: Acquired, reason: "concurrency" | "rate"): number {
  assert.ok(!a.granted, `expected a refusal (${reason}), got ${JSON.stringify(a)}`);
  assert.equal(a.reason, reason);
  assert.ok(a.retryInMs >= 1, `retryInMs ${a.retryInMs}`);
  return a.retryInMs;
}

export function limitsConformance(name: string, open: () => Promise<OpenedLimits>): void {
  async function withStore(fn: (store: LimitStore, opened: OpenedLimits) => Promise<void>): Promise<void> {
    const opened = await open();
    try {
      await fn(opened.store, opened);
    } finally {
      await opened.close();
    }
  }

  describe(`limit store conformance: ${name}`, () => {
    test("concurrency: as many leases as slots; the next is told to ask again soon; a release frees one", () =>
      withStore(async (store) => {
        const d = destination();
        const limits = settings({ concurrency: 2 });
        const a = granted(await store.acquire(d, limits, LEASE));
        const b = granted(await store.acquire(d, limits, LEASE));
        assert.ok(a !== null && b !== null && a !== b, "two distinct leases");
        const wait = refused(await store.acquire(d, limits, LEASE), "concurrency");
        assert.ok(wait <= FULL_RETRY_MS, `asks again within ${FULL_RETRY_MS} ms, not ${wait}`);
        await store.release(d, a);
        granted(await store.acquire(d, limits, LEASE));
        refused(await store.acquire(d, limits, LEASE), "concurrency");
      }));

    test("a lease not released ends by itself (a killed worker's slots come back)", () =>
      withStore(async (store) => {
        const d = destination();
        const limits = settings({ concurrency: 1 });
        granted(await store.acquire(d, limits, 150));
        refused(await store.acquire(d, limits, 150), "concurrency");
        await sleep(250);
        granted(await store.acquire(d, limits, 150));
      }));

    test("releasing a lease twice, or one that ended, frees nothing more", () =>
      withStore(async (store) => {
        const d = destination();
        const limits = settings({ concurrency: 2 });
        const a = granted(await store.acquire(d, limits, LEASE))!;
        granted(await store.acquire(d, limits, LEASE));
        await store.release(d, a);
        await store.release(d, a);
        await store.release(d, "never-granted");
        granted(await store.acquire(d, limits, LEASE));
        refused(await store.acquire(d, limits, LEASE), "concurrency");
      }));

    test("rate without burst: evenly spaced; the next place is granted one interval ahead, the one after is refused", () =>
      withStore(async (store) => {
        const d = destination();
        const limits = settings({ rateLimit: 10 });
        const first = await store.acquire(d, limits, LEASE);
        assert.equal(granted(first), null, "no slot is taken without a concurrency limit");
        assert.equal(first.granted && first.sendInMs, 0, "the first goes now");
        const second = await store.acquire(d, limits, LEASE);
        granted(second);
        const at = second.granted ? second.sendInMs : -1;
        assert.ok(at > 50 && at <= 100, `its place is about 100 ms ahead at 10/s, got ${at}`);
        const wait = refused(await store.acquire(d, limits, LEASE), "rate");
        assert.ok(wait > 50 && wait <= 100, `asked again once the next place is an interval ahead, got ${wait}`);
        await sleep(wait + 5);
        granted(await store.acquire(d, limits, LEASE));
      }));

    test("rate with burst: that many at once after an idle spell, then the rate", () =>
      withStore(async (store) => {
        const d = destination();
        const limits = settings({ rateLimit: 5, rateLimitBurst: 3 });
        for (let i = 0; i < 3; i++) {
          const a = await store.acquire(d, limits, LEASE);
          assert.ok(a.granted && a.sendInMs === 0, `burst ${i}: ${JSON.stringify(a)}`);
        }
        const fourth = await store.acquire(d, limits, LEASE);
        assert.ok(fourth.granted && fourth.sendInMs > 100 && fourth.sendInMs <= 200, `the 4th 200 ms later at 5/s: ${JSON.stringify(fourth)}`);
        const wait = refused(await store.acquire(d, limits, LEASE), "rate");
        assert.ok(wait > 100 && wait <= 200, `about 200 ms at 5/s, got ${wait}`);
      }));

    test("a refusal takes nothing: full slots spend no token, and a rate refusal holds no slot", () =>
      withStore(async (store) => {
        const d = destination();
        const both = settings({ concurrency: 1, rateLimit: 1, rateLimitBurst: 2 });
        const a = granted(await store.acquire(d, both, LEASE))!;
        refused(await store.acquire(d, both, LEASE), "concurrency");
        refused(await store.acquire(d, both, LEASE), "concurrency");
        await store.release(d, a);
        // The burst's second token is still there (sent now): the refusals above spent none.
        const b = await store.acquire(d, both, LEASE);
        assert.ok(b.granted && b.sendInMs === 0, JSON.stringify(b));
        await store.release(d, b.lease!);
        // The third's place is a second ahead; the fourth's two: refused.
        const c = await store.acquire(d, both, LEASE);
        assert.ok(c.granted && c.sendInMs > 900, JSON.stringify(c));
        await store.release(d, c.lease!);
        refused(await store.acquire(d, both, LEASE), "rate");
        // ... and that refusal took no slot.
        granted(await store.acquire(d, settings({ concurrency: 1 }), LEASE));
      }));

    test("destinations are limited apart", () =>
      withStore(async (store) => {
        const [d1, d2] = [destination(), destination()];
        const limits = settings({ concurrency: 1, rateLimit: 1 });
        granted(await store.acquire(d1, limits, LEASE));
        granted(await store.acquire(d2, limits, LEASE));
        refused(await store.acquire(d1, limits, LEASE), "concurrency");
      }));

    test("two processes share the slots: of many acquires at once, exactly `concurrency` are granted", () =>
      withStore(async (store, opened) => {
        const peer = await opened.peer();
        const d = destination();
        const limits = settings({ concurrency: 3 });
        const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? peer : store).acquire(d, limits, LEASE)));
        assert.equal(answers.filter((a) => a.granted).length, 3);
      }));

    test("two processes share the rate: asking as told for 2 s, they get 2 s worth together", () =>
      withStore(async (store, opened) => {
        const peer = await opened.peer();
        const d = destination();
        const limits = settings({ rateLimit: 20 });
        const end = Date.now() + 2000;
        let grants = 0;
        const ask = async (s: LimitStore) => {
          while (Date.now() < end) {
            const a = await s.acquire(d, limits, LEASE);
            if (!a.granted) {
              await sleep(a.retryInMs);
              continue;
            }
            if (Date.now() + a.sendInMs < end) grants++;
            await sleep(a.sendInMs);
          }
        };
        await Promise.all([ask(store), ask(peer), ask(store), ask(peer)]);
        // 20/s for 2 s, the first at once: 41 at most. Places are kept ahead, so late timers
        // on a loaded machine cost (almost) nothing.
        assert.ok(grants >= 38 && grants <= 41, `${grants} places in 2 s at 20/s`);
      }));
  });
}
