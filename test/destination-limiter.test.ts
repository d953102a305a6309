/**
 * DestinationLimiter: the local line in front of a limit store. Only the head of a
 * destination's line asks the store; the others wait; the lease deadline gives a postback back.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { DestinationLimiter, type LimitEvent, type Slot } from "../src/delivery/destination-limiter.js";
import { MemoryLimitStore } from "../src/limits/memory.js";
import type { Acquired, LimitSettings, LimitStore } from "../src/limits/port.js";

const LEASE = 30_000;
const limits = (s: Partial<LimitSettings>): LimitSettings => ({ rateLimit: null, rateLimitBurst: null, concurrency: null, ...s });

/** The memory store, counting the questions asked of it. */
class Counting implements LimitStore {
  readonly describe = "counting";
  asked = 0;
  constructor(private readonly inner: LimitStore = new MemoryLimitStore()) {}
  acquire(id: string, l: LimitSettings, leaseMs: number): Promise<Acquired> {
    this.asked++;
    return this.inner.acquire(id, l, leaseMs);
  }
  release(id: string, lease: string): Promise<void> {
    return this.inner.release(id, lease);
  }
  async close() {}
}

test("concurrency 1: the second waits for the first's release", async () => {
  const l = new DestinationLimiter({ store: new MemoryLimitStore() });
  const c1 = limits({ concurrency: 1 });
  const first = await l.acquire("d", c1, Infinity, LEASE);
  assert.equal(typeof first, "object");
  let second: Slot | number | undefined;
  const waiting = l.acquire("d", c1, Infinity, LEASE).then((w) => (second = w));
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(second, undefined, "waits while the first is in flight");
  const t0 = Date.now();
  l.release("d", first as Slot);
  assert.equal(typeof (await waiting), "object");
  assert.ok(Date.now() - t0 < 20, "a release in this process wakes the head at once");
});

test("a waiter goes back to the queue at its deadline, before its lease could end", async () => {
  const l = new DestinationLimiter({ store: new MemoryLimitStore() });
  const c1 = limits({ concurrency: 1 });
  assert.equal(typeof (await l.acquire("d", c1, Infinity, LEASE)), "object");
  const t0 = Date.now();
  const wait = await l.acquire("d", c1, t0 + 50, LEASE);
  assert.ok(typeof wait === "number" && wait > 0, "given back, not sent");
  assert.ok(Date.now() - t0 >= 45, "waited until its deadline");
  const late = await l.acquire("d", c1, Date.now() - 1, LEASE);
  assert.ok(typeof late === "number" && late > 0, "past its deadline already: given back at once");
});

test("only the head of a line asks the store: 10 waiting at 20/s cost about one question per grant", async () => {
  const store = new Counting();
  const events: LimitEvent[] = [];
  const l = new DestinationLimiter({ store, observe: (e) => events.push(e) });
  const r20 = limits({ rateLimit: 20 });
  const t0 = Date.now();
  const got = await Promise.all(Array.from({ length: 10 }, () => l.acquire("d", r20, Infinity, LEASE)));
  const elapsed = Date.now() - t0;
  assert.ok(got.every((g) => typeof g === "object"), "all sent");
  assert.ok(elapsed >= 430, `evenly spaced at 50 ms: 10 took ${elapsed} ms`);
  // 10 grants and about one refusal before each of the later ones; a late timer adds few.
  assert.ok(store.asked <= 22, `${store.asked} questions for 10 grants`);
  assert.ok(events.some((e) => e.kind === "wait" && e.reason === "rate"));
});

test("more than MAX_WAITING in line: the rest go back to the queue for about the line's time", async () => {
  const events: LimitEvent[] = [];
  const l = new DestinationLimiter({ store: new MemoryLimitStore(), observe: (e) => events.push(e) });
  const slow = limits({ rateLimit: 1 });
  const waiting = Array.from({ length: 17 }, () => l.acquire("d", slow, Date.now() + 300, LEASE));
  const extra = await l.acquire("d", slow, Date.now() + 300, LEASE);
  assert.ok(typeof extra === "number" && extra >= 1000, `given back for about the line's time: ${String(extra)}`);
  assert.ok(events.some((e) => e.kind === "given_back" && e.reason === "line_full"));
  await Promise.all(waiting);
});

test("a store that cannot be asked sends the line back to the queue, nobody is sent", async () => {
  const broken: LimitStore = {
    describe: "broken",
    acquire: () => Promise.reject(new Error("Redis is away")),
    release: () => Promise.resolve(),
    close: async () => {},
  };
  const l = new DestinationLimiter({ store: broken });
  const got = await Promise.all([1, 2, 3].map(() => l.acquire("d", limits({ concurrency: 5 }), Infinity, LEASE)));
  assert.ok(got.every((g) => typeof g === "number" && g > 0), JSON.stringify(got));
});

test("on shutdown every waiter goes back to the queue at once, not at its deadline", async () => {
  const l = new DestinationLimiter({ store: new MemoryLimitStore() });
  const slow = limits({ rateLimit: 0.001 });
  assert.equal(typeof (await l.acquire("d", slow, Infinity, LEASE)), "object");
  const waiting = Promise.all([1, 2].map(() => l.acquire("d", slow, Date.now() + 60_000, LEASE)));
  await new Promise((r) => setTimeout(r, 20));
  const t0 = Date.now();
  l.rejectWaiting();
  assert.deepEqual(await waiting, [0, 0]);
  assert.ok(Date.now() - t0 < 100);
});

test("a place granted ahead is waited for out of the line; one after the waiter's deadline is not taken", async () => {
  const store = new Counting();
  const l = new DestinationLimiter({ store });
  const r10 = limits({ rateLimit: 10, concurrency: 5 });
  assert.equal(typeof (await l.acquire("d", r10, Infinity, LEASE)), "object");
  // The next place is ~100 ms ahead: granted at once, sent then.
  const t0 = Date.now();
  const second = await l.acquire("d", r10, Infinity, LEASE);
  assert.equal(typeof second, "object");
  assert.ok(Date.now() - t0 >= 80, `sent at its place, ${Date.now() - t0} ms later`);
  // A waiter whose deadline comes before its place goes back to the queue, its slot released.
  const late = await l.acquire("d", r10, Date.now() + 20, LEASE);
  assert.ok(typeof late === "number" && late > 0);
  await new Promise((r) => setTimeout(r, 150));
  const slots = await Promise.all([1, 2, 3].map(() => store.acquire("other", limits({ concurrency: 1 }), LEASE)));
  assert.equal(slots.filter((s) => s.granted).length, 1, "stores are per destination (sanity)");
  const left = await store.acquire("d", limits({ concurrency: 3 }), LEASE);
  assert.ok(left.granted, "the late waiter's slot was released: 2 held of 3");
});
