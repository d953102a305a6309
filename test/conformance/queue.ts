/**
 * The queue conformance suite: what every Queue adapter must do, written against the port
 * only. An adapter's test file calls `queueConformance` with a function that opens a fresh,
 * empty queue; each test opens its own.
 *
 * Time is moved with the `now` parameter of reserve and stats, never with sleeps: tests
 * enqueue at a fixed instant T0 in the past and reserve "at" T0 + x. Only the waitForWork
 * tests use the wall clock, with loose bounds.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Endpoint } from "../../src/core/types.js";
import type { EnqueueBatch, NewPostback, Queue, Reservation, Settle } from "../../src/queue/port.js";
import { DuplicateIdError, QueueUnavailableError } from "../../src/core/port-errors.js";
import { MINUTE } from "../../src/core/time.js";

export interface OpenedQueue {
  queue: Queue;
  /**
   * Optional: opens another Queue on the same data, as another process (`ferry api` next to
   * `ferry worker`) would. Tests that need it are skipped without it. Closed by `close`.
   */
  peer?(): Promise<Queue>;
  /**
   * Optional: makes the queue's backend unreachable, as an outage or a shutdown would (the
   * SQLite file closed, the Redis connection gone). Tests that need it are skipped without it.
   */
  cutOff?(): Promise<void>;
  /** Closes the queue (and any peers) and removes its data. */
  close(): Promise<void>;
}

export interface QueueCapabilities {
  /** Postbacks in the large-batch round trip; 1000 unless set. */
  largeBatch?: number;
  /** How long waitForWork may overrun what it promises before a test fails; 1000 ms unless set. */
  timingSlackMs?: number;
}

/** A fixed instant well in the past, so that the wall clock never gets in the way of `now`. */
const T0 = Date.UTC(2024, 0, 1);
const LEASE = 30_000;

let counter = 0;
function uniq(prefix: string): string {
  counter++;
  return `${prefix}-${process.pid}-${counter.toString().padStart(6, "0")}`;
}

export function endpoint(overrides: Partial<Endpoint> = {}): Endpoint {
  return {
    id: uniq("ep"),
    method: "GET",
    url: "http://partner.example/data?title={mascot}&n={n}",
    defaultValue: "",
    maxAttempts: 5,
    ...overrides,
  };
}

export function postbacks(n: number, prefix = "pb"): NewPostback[] {
  return Array.from({ length: n }, (_, i) => ({ id: uniq(prefix), data: JSON.stringify({ mascot: "Gopher", n: i }) }));
}

function batch(n: number, createdAt = T0, ep: Endpoint = endpoint()): EnqueueBatch {
  return { endpoint: ep, postbacks: postbacks(n), createdAt };
}

/** An endpoint of data pushed to a destination (which can be held), owned by an account. */
function destinationEndpoint(destinationId = uniq("dst")): Endpoint {
  return endpoint({ accountId: uniq("acct"), destinationId });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The postback ids of reservations, or of postbacks as enqueued. */
function ids(rs: ({ postbackId: string } | NewPostback)[]): string[] {
  return rs.map((r) => ("postbackId" in r ? r.postbackId : r.id));
}

/** An assert.rejects check: the port's DuplicateIdError for the queue, naming `id`. */
function duplicateOf(id: string) {
  return (err: unknown) => {
    assert.ok(err instanceof DuplicateIdError, `expected DuplicateIdError, got ${String(err)}`);
    assert.equal(err.backend, "queue");
    assert.equal(err.id, id);
    return true;
  };
}

/** An assert.rejects check: the port's QueueUnavailableError, keeping what the driver threw. */
function unavailable(what: string) {
  return (err: unknown) => {
    assert.ok(err instanceof QueueUnavailableError, `${what}: expected QueueUnavailableError, got ${String(err)}`);
    assert.equal(err.backend, "queue");
    assert.ok(err.cause !== undefined, `${what}: the driver's error is its cause`);
    return true;
  };
}

function sorted(xs: string[]): string[] {
  return [...xs].sort();
}

async function settleAll(queue: Queue, rs: Reservation[], settle: Settle): Promise<number> {
  return queue.settle(rs.map((reservation) => ({ reservation, settle })));
}

/** Resolves to how long `p` took, or rejects if it takes longer than `limitMs`. */
async function within<T>(limitMs: number, p: Promise<T>, what: string): Promise<number> {
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not resolve within ${limitMs} ms`)), limitMs);
  });
  try {
    await Promise.race([p, timeout]);
    return performance.now() - t0;
  } finally {
    clearTimeout(timer);
  }
}

export function queueConformance(
  name: string,
  open: () => Promise<OpenedQueue>,
  capabilities: QueueCapabilities = {},
): void {
  const largeBatch = capabilities.largeBatch ?? 1000;
  const slack = capabilities.timingSlackMs ?? 1000;

  /** Runs `fn` with a freshly opened, empty queue, closing it whatever happens. */
  async function withQueue(fn: (queue: Queue, opened: OpenedQueue) => Promise<void>): Promise<void> {
    const opened = await open();
    try {
      await fn(opened.queue, opened);
    } finally {
      await opened.close();
    }
  }

  describe(`queue conformance: ${name}`, () => {
    describe("enqueue and reserve", () => {
      test("reserve returns enqueued postbacks with their endpoint, data, attempt 1 and createdAt", () =>
        withQueue(async (queue) => {
          const ep = endpoint({ method: "POST", url: "https://partner.example/hook/{id}", defaultValue: "none", maxAttempts: 7 });
          const b = batch(3, T0 + 5, ep);
          await queue.enqueue(b);
          const got = await queue.reserve(10, LEASE, T0 + 5);
          assert.deepEqual(ids(got), ids(b.postbacks));
          for (const [i, r] of got.entries()) {
            assert.deepEqual(r.endpoint, ep);
            assert.equal(r.data, b.postbacks[i]!.data);
            assert.equal(r.attempt, 1);
            assert.equal(r.createdAt, T0 + 5);
            assert.equal(typeof r.lease, "string");
            assert.ok(r.lease.length > 0, "a reservation names its lease");
          }
        }));

      test("an empty queue reserves nothing", () =>
        withQueue(async (queue) => {
          assert.deepEqual(await queue.reserve(10, LEASE, T0), []);
          assert.deepEqual(await queue.stats(T0), { ready: 0, waiting: 0 });
        }));

      test("a postback is not reserved before its createdAt", () =>
        withQueue(async (queue) => {
          const b = batch(1, T0 + 1000);
          await queue.enqueue(b);
          assert.deepEqual(await queue.reserve(10, LEASE, T0 + 999), []);
          assert.deepEqual(ids(await queue.reserve(10, LEASE, T0 + 1000)), ids(b.postbacks));
        }));

      test("reserve takes at most max entries", () =>
        withQueue(async (queue) => {
          const b = batch(5);
          await queue.enqueue(b);
          const first = await queue.reserve(2, LEASE, T0);
          assert.equal(first.length, 2);
          const second = await queue.reserve(2, LEASE, T0);
          assert.equal(second.length, 2);
          const third = await queue.reserve(2, LEASE, T0);
          assert.equal(third.length, 1);
          assert.deepEqual(sorted([...ids(first), ...ids(second), ...ids(third)]), sorted(ids(b.postbacks)));
          assert.deepEqual(await queue.reserve(2, LEASE, T0), []);
        }));

      test("reserve picks the oldest due first, then in insertion order", () =>
        withQueue(async (queue) => {
          const late = batch(2, T0 + 300);
          const early = batch(2, T0 + 100);
          const middle = batch(2, T0 + 200);
          const alsoEarly = batch(1, T0 + 100);
          for (const b of [late, early, middle, alsoEarly]) await queue.enqueue(b);
          const expected = ids([...early.postbacks, ...alsoEarly.postbacks, ...middle.postbacks, ...late.postbacks]);

          // One at a time: the choice is in due order.
          const oneByOne: string[] = [];
          for (let i = 0; i < 7; i++) {
            const got = await queue.reserve(1, LEASE, T0 + 1000);
            assert.equal(got.length, 1);
            oneByOne.push(got[0]!.postbackId);
          }
          assert.deepEqual(oneByOne, expected);
        }));

      test("a batch reservation lists its entries oldest due first", () =>
        withQueue(async (queue) => {
          const late = batch(2, T0 + 300);
          const early = batch(2, T0 + 100);
          const middle = batch(2, T0 + 200);
          for (const b of [late, early, middle]) await queue.enqueue(b);
          const got = await queue.reserve(5, LEASE, T0 + 1000);
          assert.deepEqual(ids(got), [...early.postbacks, ...middle.postbacks, late.postbacks[0]!].map((p) => p.id));
        }));

      test("retried entries take their place in due order among new ones", () =>
        withQueue(async (queue) => {
          const a = batch(1, T0);
          await queue.enqueue(a);
          const [r] = await queue.reserve(1, LEASE, T0);
          await settleAll(queue, [r!], { kind: "retry", at: T0 + 50 });
          const b = batch(1, T0 + 100);
          const c = batch(1, T0 + 10);
          await queue.enqueue(b);
          await queue.enqueue(c);
          const got = await queue.reserve(10, LEASE, T0 + 1000);
          assert.deepEqual(ids(got), [c.postbacks[0]!.id, a.postbacks[0]!.id, b.postbacks[0]!.id]);
        }));

      test("unicode and large data objects round-trip", () =>
        withQueue(async (queue) => {
          const big = JSON.stringify({ text: "é😀中\u0000".repeat(20_000) });
          const data = [JSON.stringify({ name: "Gøpher 🐹", city: "東京", rtl: "שלום" }), big, "{}"];
          const ep = endpoint({ url: "http://partner.example/ünïcode/{name}?q=😀", defaultValue: "—" });
          const b: EnqueueBatch = { endpoint: ep, postbacks: data.map((d) => ({ id: uniq("pb"), data: d })), createdAt: T0 };
          await queue.enqueue(b);
          const got = await queue.reserve(10, LEASE, T0);
          assert.deepEqual(got.map((r) => r.data), data);
          assert.deepEqual(got[0]!.endpoint, ep);
          assert.equal((await queue.find(b.postbacks[1]!.id))?.data, big);
        }));
    });

    describe("leases", () => {
      test("an entry is not reserved again while its lease runs", () =>
        withQueue(async (queue) => {
          await queue.enqueue(batch(3));
          const first = await queue.reserve(10, LEASE, T0);
          assert.equal(first.length, 3);
          assert.deepEqual(await queue.reserve(10, LEASE, T0), []);
          assert.deepEqual(await queue.reserve(10, LEASE, T0 + LEASE - 1), []);
        }));

      test("an entry whose lease ended is reserved again, as attempt 2 with a new lease", () =>
        withQueue(async (queue) => {
          const b = batch(1);
          await queue.enqueue(b);
          const [first] = await queue.reserve(1, 1000, T0);
          assert.equal(first!.attempt, 1);
          assert.deepEqual(await queue.reserve(1, 1000, T0 + 999), []);
          const [second] = await queue.reserve(1, 1000, T0 + 1000);
          assert.ok(second, "reserved again when the lease ends");
          assert.equal(second.postbackId, b.postbacks[0]!.id);
          assert.equal(second.attempt, 2);
          assert.notEqual(second.lease, first!.lease);
          assert.deepEqual(second.endpoint, b.endpoint);
          assert.equal(second.data, b.postbacks[0]!.data);
          assert.equal(second.createdAt, T0);
        }));

      test("entries are delivered at least once: a worker that dies holding them loses none", () =>
        withQueue(async (queue, opened) => {
          const b = batch(50);
          await queue.enqueue(b);
          // Worker A reserves 20 and dies: it never settles.
          const dead = await queue.reserve(20, 1000, T0);
          assert.equal(dead.length, 20);
          // Worker B (another process when the adapter can open one) takes the rest and delivers them.
          const other = opened.peer ? await opened.peer() : queue;
          const rest = await other.reserve(100, 1000, T0 + 10);
          assert.equal(rest.length, 30);
          assert.deepEqual(new Set([...ids(dead), ...ids(rest)]).size, 50);
          assert.equal(await settleAll(other, rest, { kind: "done" }), 30);
          // Nothing is due until A's lease ends; then every one of A's entries comes back.
          assert.deepEqual(await other.reserve(100, 1000, T0 + 999), []);
          const recovered = await other.reserve(100, 1000, T0 + 1000);
          assert.deepEqual(sorted(ids(recovered)), sorted(ids(dead)));
          assert.ok(recovered.every((r) => r.attempt === 2));
          assert.ok(recovered.every((r) => r.endpoint.id === b.endpoint.id));
          assert.equal(await settleAll(other, recovered, { kind: "done" }), 20);
          assert.deepEqual(await queue.stats(T0 + 5000), { ready: 0, waiting: 0 });
        }));

      test("a stale settle, after a later reservation took the entry over, is ignored", () =>
        withQueue(async (queue) => {
          const b = batch(1);
          await queue.enqueue(b);
          const [stale] = await queue.reserve(1, 1000, T0);
          const [current] = await queue.reserve(1, 1000, T0 + 1000);
          assert.ok(stale && current);

          for (const settle of [{ kind: "done" }, { kind: "retry", at: T0 + 1 }, { kind: "release", at: T0 + 1 }] as Settle[]) {
            assert.equal(await queue.settle([{ reservation: stale, settle }]), 0, `stale ${settle.kind} ignored`);
          }
          const found = await queue.find(b.postbacks[0]!.id);
          assert.ok(found, "still queued");
          assert.equal(found.attempts, 2);
          assert.equal(found.dueAt, T0 + 2000, "still leased to the current holder");
          assert.deepEqual(await queue.reserve(1, 1000, T0 + 1500), []);

          assert.equal(await queue.settle([{ reservation: current, settle: { kind: "done" } }]), 1);
          assert.equal(await queue.find(b.postbacks[0]!.id), undefined);
        }));

      test("settle counts only the entries that still held their lease", () =>
        withQueue(async (queue) => {
          await queue.enqueue(batch(3));
          const first = await queue.reserve(3, 1000, T0);
          const retaken = await queue.reserve(1, 1000, T0 + 1000);
          assert.equal(retaken.length, 1);
          const held = await settleAll(queue, first, { kind: "done" });
          assert.equal(held, 2);
          assert.equal(await settleAll(queue, retaken, { kind: "done" }), 1);
          assert.deepEqual(await queue.stats(T0 + 5000), { ready: 0, waiting: 0 });
        }));

      test("settling an entry twice counts it once", () =>
        withQueue(async (queue) => {
          await queue.enqueue(batch(1));
          const rs = await queue.reserve(1, LEASE, T0);
          assert.equal(await settleAll(queue, rs, { kind: "done" }), 1);
          assert.equal(await settleAll(queue, rs, { kind: "done" }), 0);
          assert.equal(await queue.settle([]), 0);
        }));
    });

    describe("oldestDueAt", () => {
      test("is the due time of the entry ready longest; leased, held and future entries are not ready", () =>
        withQueue(async (queue) => {
          assert.equal(await queue.oldestDueAt(T0), null, "an empty queue");
          const held = batch(1, T0 + 5, destinationEndpoint());
          await queue.enqueue([batch(1, T0 + 20), held, batch(1, T0 + 1000)]);
          assert.equal(await queue.oldestDueAt(T0), null, "nothing is due yet");
          assert.equal(await queue.oldestDueAt(T0 + 30), T0 + 5);
          const [first] = await queue.reserve(1, LEASE, T0 + 30);
          assert.equal(first!.postbackId, held.postbacks[0]!.id);
          assert.equal(await queue.oldestDueAt(T0 + 30), T0 + 20, "a leased entry is not ready");
          assert.equal(await settleAll(queue, [first!], { kind: "hold" }), 1);
          assert.equal(await queue.oldestDueAt(T0 + 10 * LEASE), T0 + 20, "a held entry is never ready");
          const rest = await queue.reserve(10, LEASE, T0 + 2000);
          assert.equal(rest.length, 2);
          assert.equal(await queue.oldestDueAt(T0 + 2000), null);
          assert.equal(await settleAll(queue, rest, { kind: "retry", at: T0 + 3000 }), 2);
          assert.equal(await queue.oldestDueAt(T0 + 2500), null, "a retry is ready only at its time");
          assert.equal(await queue.oldestDueAt(T0 + 4000), T0 + 3000);
        }));
    });

    describe("settle", () => {
      test("done removes the entry: find gives undefined and stats count nothing", () =>
        withQueue(async (queue) => {
          const b = batch(2);
          await queue.enqueue(b);
          const rs = await queue.reserve(10, LEASE, T0);
          assert.equal(await settleAll(queue, rs, { kind: "done" }), 2);
          for (const p of b.postbacks) assert.equal(await queue.find(p.id), undefined);
          assert.deepEqual(await queue.stats(T0), { ready: 0, waiting: 0 });
          assert.deepEqual(await queue.stats(T0 + 10 * LEASE), { ready: 0, waiting: 0 });
          assert.deepEqual(await queue.reserve(10, LEASE, T0 + 10 * LEASE), []);
        }));

      test("retry schedules the entry at `at`: not reservable before, reservable at and after, attempt counted", () =>
        withQueue(async (queue) => {
          const b = batch(1);
          await queue.enqueue(b);
          let [r] = await queue.reserve(1, LEASE, T0);
          for (let attempt = 1; attempt <= 3; attempt++) {
            assert.equal(r!.attempt, attempt);
            const at = T0 + attempt * 10_000;
            assert.equal(await settleAll(queue, [r!], { kind: "retry", at }), 1);
            const found = await queue.find(b.postbacks[0]!.id);
            assert.equal(found?.dueAt, at);
            assert.equal(found?.attempts, attempt);
            assert.deepEqual(await queue.reserve(1, LEASE, at - 1), [], "not before at");
            [r] = await queue.reserve(1, LEASE, at);
            assert.ok(r, "reservable at `at`");
            assert.deepEqual(r.endpoint, b.endpoint);
            assert.equal(r.data, b.postbacks[0]!.data);
          }
          assert.equal(r!.attempt, 4);
        }));

      test("retry and release end the lease: settling the same reservation again changes nothing", () =>
        withQueue(async (queue) => {
          const b = batch(2);
          await queue.enqueue(b);
          const [r1, r2] = await queue.reserve(2, LEASE, T0);
          assert.equal(await settleAll(queue, [r1!], { kind: "retry", at: T0 + 100 }), 1);
          assert.equal(await settleAll(queue, [r2!], { kind: "release", at: T0 + 100 }), 1);
          assert.equal(await settleAll(queue, [r1!, r2!], { kind: "done" }), 0, "a stale done after retry/release");
          assert.equal(await settleAll(queue, [r2!], { kind: "release", at: T0 + 100 }), 0, "a second release");
          const again = await queue.reserve(2, LEASE, T0 + 100);
          assert.deepEqual(sorted(ids(again)), sorted(ids(b.postbacks)), "both still queued");
          assert.deepEqual(
            again.map((r) => [r.postbackId, r.attempt]).sort(),
            [[r1!.postbackId, 2], [r2!.postbackId, 1]].sort(),
            "the released one's attempt was given back once",
          );
        }));

      test("a retry due before the lease would have ended is reservable at once", () =>
        withQueue(async (queue) => {
          await queue.enqueue(batch(1));
          const rs = await queue.reserve(1, LEASE, T0);
          await settleAll(queue, rs, { kind: "retry", at: T0 + 10 });
          const [again] = await queue.reserve(1, LEASE, T0 + 10);
          assert.equal(again?.attempt, 2);
        }));

      test("release gives the entry back at `at` without counting an attempt", () =>
        withQueue(async (queue) => {
          const b = batch(1);
          await queue.enqueue(b);
          const [r1] = await queue.reserve(1, LEASE, T0);
          assert.equal(r1!.attempt, 1);
          assert.equal(await settleAll(queue, [r1!], { kind: "release", at: T0 + 500 }), 1);
          const found = await queue.find(b.postbacks[0]!.id);
          assert.equal(found?.attempts, 0, "a released reservation is not an attempt");
          assert.equal(found?.dueAt, T0 + 500);
          assert.deepEqual(await queue.reserve(1, LEASE, T0 + 499), []);
          const [r2] = await queue.reserve(1, LEASE, T0 + 500);
          assert.equal(r2!.attempt, 1, "the same attempt again");
          // A retry after that counts; a release after that does not.
          await settleAll(queue, [r2!], { kind: "retry", at: T0 + 600 });
          const [r3] = await queue.reserve(1, LEASE, T0 + 600);
          assert.equal(r3!.attempt, 2);
          await settleAll(queue, [r3!], { kind: "release", at: T0 + 700 });
          const [r4] = await queue.reserve(1, LEASE, T0 + 700);
          assert.equal(r4!.attempt, 2);
        }));

      test("one settle call can mix done, retry and release", () =>
        withQueue(async (queue) => {
          const b = batch(3);
          await queue.enqueue(b);
          const [a, r, l] = await queue.reserve(3, LEASE, T0);
          const held = await queue.settle([
            { reservation: a!, settle: { kind: "done" } },
            { reservation: r!, settle: { kind: "retry", at: T0 + 100 } },
            { reservation: l!, settle: { kind: "release", at: T0 + 200 } },
          ]);
          assert.equal(held, 3);
          assert.equal(await queue.find(a!.postbackId), undefined);
          assert.deepEqual(
            [await queue.find(r!.postbackId), await queue.find(l!.postbackId)].map((f) => [f?.attempts, f?.dueAt]),
            [
              [1, T0 + 100],
              [0, T0 + 200],
            ],
          );
        }));
    });

    describe("settleAndReserve (settle, then reserve, in one step)", () => {
      const done: Settle = { kind: "done" };

      test("settles the finished entries and reserves the next ones in the same call", () =>
        withQueue(async (queue) => {
          const b = batch(5);
          await queue.enqueue(b);
          const first = await queue.reserve(2, LEASE, T0);
          const { settled, reserved } = await queue.settleAndReserve(first.map((reservation) => ({ reservation, settle: done })), 10, LEASE, T0 + 1);
          assert.equal(settled, 2);
          assert.deepEqual(ids(reserved), ids(b.postbacks.slice(2)), "the rest, oldest first");
          assert.ok(reserved.every((r) => r.attempt === 1 && r.endpoint.id === b.endpoint.id));
          for (const r of first) assert.equal(await queue.find(r.postbackId), undefined, "settled done: gone");
          // Reserved with a lease like reserve's: not again before it ends, again once it has.
          assert.deepEqual(await queue.reserve(10, LEASE, T0 + LEASE), []);
          assert.deepEqual(sorted(ids(await queue.reserve(10, LEASE, T0 + 1 + LEASE))), sorted(ids(reserved)));
        }));

      test("with nothing to settle it is a reserve; with nothing due it is a settle", () =>
        withQueue(async (queue) => {
          const b = batch(2);
          await queue.enqueue(b);
          const { settled, reserved } = await queue.settleAndReserve([], 1, LEASE, T0);
          assert.equal(settled, 0);
          assert.deepEqual(ids(reserved), ids(b.postbacks.slice(0, 1)));
          const after = await queue.settleAndReserve(reserved.map((reservation) => ({ reservation, settle: done })), 10, LEASE, T0 - 1);
          assert.deepEqual(after, { settled: 1, reserved: [] }, "the other is not due before T0");
        }));

      test("max 0 settles and reserves nothing", () =>
        withQueue(async (queue) => {
          await queue.enqueue(batch(3));
          const [r] = await queue.reserve(1, LEASE, T0);
          assert.deepEqual(await queue.settleAndReserve([{ reservation: r!, settle: done }], 0, LEASE, T0), { settled: 1, reserved: [] });
          assert.deepEqual(await queue.stats(T0), { ready: 2, waiting: 0 });
        }));

      test("a stale lease settles nothing, and the entry stays with its current holder", () =>
        withQueue(async (queue) => {
          const b = batch(1);
          await queue.enqueue(b);
          const [stale] = await queue.reserve(1, 1000, T0);
          const [current] = await queue.reserve(1, LEASE, T0 + 1000);
          assert.equal(current!.attempt, 2);
          const { settled, reserved } = await queue.settleAndReserve([{ reservation: stale!, settle: done }], 10, LEASE, T0 + 1001);
          assert.equal(settled, 0, "the stale settle is ignored");
          assert.deepEqual(reserved, [], "still leased by the current holder");
          assert.equal((await queue.find(b.postbacks[0]!.id))?.attempts, 2);
          assert.equal(await settleAll(queue, [current!], done), 1);
        }));

      test("an entry just settled for a retry or release later is not reserved again by the same call", () =>
        withQueue(async (queue) => {
          const b = batch(3);
          await queue.enqueue(b);
          const [r1, r2, r3] = await queue.reserve(3, LEASE, T0);
          const { settled, reserved } = await queue.settleAndReserve(
            [
              { reservation: r1!, settle: { kind: "retry", at: T0 + 5000 } },
              { reservation: r2!, settle: { kind: "release", at: T0 + 5000 } },
              { reservation: r3!, settle: done },
            ],
            10,
            LEASE,
            T0 + 10,
          );
          assert.equal(settled, 3);
          assert.deepEqual(reserved, []);
          assert.deepEqual(await queue.stats(T0 + 10), { ready: 0, waiting: 2 });
          const later = await queue.reserve(10, LEASE, T0 + 5000);
          assert.deepEqual(sorted(ids(later)), sorted([r1!.postbackId, r2!.postbackId]));
          assert.equal(later.find((r) => r.postbackId === r1!.postbackId)?.attempt, 2, "a retry counts its attempt");
          assert.equal(later.find((r) => r.postbackId === r2!.postbackId)?.attempt, 1, "a release does not");
        }));

      test("a line's head settled done lets its next entry be reserved in the same call", () =>
        withQueue(async (queue) => {
          const key = uniq("line");
          const b = batch(3);
          b.postbacks = b.postbacks.map((p) => ({ ...p, orderKey: key }));
          await queue.enqueue(b);
          const [head] = await queue.reserve(10, LEASE, T0);
          assert.equal(head!.postbackId, b.postbacks[0]!.id);
          const { reserved } = await queue.settleAndReserve([{ reservation: head!, settle: done }], 10, LEASE, T0 + 1);
          assert.deepEqual(ids(reserved), [b.postbacks[1]!.id], "only the new head");
          const retried = await queue.settleAndReserve([{ reservation: reserved[0]!, settle: { kind: "retry", at: T0 + 5000 } }], 10, LEASE, T0 + 2);
          assert.deepEqual(retried.reserved, [], "a head waiting for its retry blocks its line");
        }));

      test("its reservation is shared fairly among accounts, as reserve's is", () =>
        withQueue(async (queue) => {
          const a = destinationEndpoint();
          const c = destinationEndpoint();
          const backlog = batch(50, T0, a);
          await queue.enqueue(backlog);
          const first = await queue.reserve(4, LEASE, T0);
          const fresh = batch(3, T0 + 100, c);
          await queue.enqueue(fresh);
          const { reserved } = await queue.settleAndReserve(first.map((reservation) => ({ reservation, settle: done })), 10, LEASE, T0 + 100);
          assert.equal(reserved.length, 10);
          const got = ids(reserved);
          for (const id of ids(fresh.postbacks)) assert.ok(got.includes(id), `the other account's ${id} is reserved`);
          assert.deepEqual(ids(reserved.filter((r) => r.endpoint.accountId === a.accountId)), ids(backlog.postbacks.slice(4, 11)));
        }));
    });

    describe("withdraw", () => {
      test("withdraw says queued for a call's first postback while it is queued, withdrawn once it is done or never was", () =>
        withQueue(async (queue) => {
          const b = batch(3);
          await queue.enqueue(b);
          const first = b.postbacks[0]!.id;
          assert.equal(await queue.withdraw(first, MINUTE), "queued");
          assert.ok(await queue.find(first), "withdrawing a queued call leaves it queued");
          const reserved = await queue.reserve(3, LEASE, T0);
          assert.equal(await queue.withdraw(first, MINUTE), "queued", "a leased entry is still queued");
          await queue.settle(reserved.map((r) => ({ reservation: r, settle: { kind: "done" as const } })));
          assert.equal(await queue.withdraw(first, MINUTE), "withdrawn", "done and gone: the store knows the rest");
          assert.equal(await queue.withdraw(postbacks(1)[0]!.id, MINUTE), "withdrawn", "never queued");
        }));
    });

    describe("enqueue", () => {
      test("a batch with a duplicate postback id rejects and queues nothing", () =>
        withQueue(async (queue) => {
          const pbs = postbacks(3);
          const dup: EnqueueBatch = { endpoint: endpoint(), postbacks: [...pbs, { id: pbs[1]!.id, data: "{}" }], createdAt: T0 };
          await assert.rejects(queue.enqueue(dup), duplicateOf(pbs[1]!.id));
          for (const p of pbs) assert.equal(await queue.find(p.id), undefined);
          assert.deepEqual(await queue.stats(T0), { ready: 0, waiting: 0 });
          assert.deepEqual(await queue.reserve(10, LEASE, T0), []);
          // Nothing was left behind: the same endpoint and ids enqueue cleanly afterwards.
          await queue.enqueue({ ...dup, postbacks: pbs });
          const got = await queue.reserve(10, LEASE, T0);
          assert.deepEqual(ids(got), pbs.map((p) => p.id));
          assert.ok(got.every((r) => r.attempt === 1));
        }));

      test("a batch naming a postback id already queued rejects and queues none of its postbacks", () =>
        withQueue(async (queue) => {
          const first = batch(2);
          await queue.enqueue(first);
          const second: EnqueueBatch = { endpoint: endpoint(), postbacks: [...postbacks(2), first.postbacks[0]!], createdAt: T0 };
          await assert.rejects(queue.enqueue(second), duplicateOf(first.postbacks[0]!.id));
          for (const p of second.postbacks.slice(0, 2)) assert.equal(await queue.find(p.id), undefined);
          const got = await queue.reserve(10, LEASE, T0);
          assert.deepEqual(ids(got), first.postbacks.map((p) => p.id));
          assert.ok(got.every((r) => r.endpoint.id === first.endpoint.id), "the queued entry keeps its own endpoint");
        }));

      test("several batches in one call go in together, each delivering with its endpoint and createdAt", () =>
        withQueue(async (queue) => {
          const shared = endpoint({ url: "http://shared.example/{n}" });
          const batches = [batch(2, T0 + 20, shared), batch(3, T0 + 10, destinationEndpoint()), batch(1, T0 + 30, shared)];
          await queue.enqueue(batches);
          assert.deepEqual(await queue.stats(T0 + 30), { ready: 6, waiting: 0 });
          const got = await queue.reserve(10, LEASE, T0 + 30);
          assert.deepEqual(ids(got), ids([...batches[1]!.postbacks, ...batches[0]!.postbacks, ...batches[2]!.postbacks]), "in due order");
          for (const b of batches) {
            for (const p of b.postbacks) {
              const r = got.find((x) => x.postbackId === p.id)!;
              assert.deepEqual(r.endpoint, b.endpoint);
              assert.equal(r.createdAt, b.createdAt);
              assert.equal(r.data, p.data);
              assert.equal(r.attempt, 1);
            }
          }
          assert.equal(await settleAll(queue, got, { kind: "done" }), 6);
          assert.deepEqual(await queue.stats(T0 + 30), { ready: 0, waiting: 0 });
        }));

      test("a call of several batches with an id repeated across them, or already queued, fails whole: nothing queued", () =>
        withQueue(async (queue) => {
          const queued = batch(1);
          await queue.enqueue(queued);
          const a = batch(2);
          const b = batch(2, T0, destinationEndpoint());
          const repeated: EnqueueBatch = { ...batch(1), postbacks: [{ id: a.postbacks[1]!.id, data: "{}" }] };
          const already: EnqueueBatch = { ...batch(1), postbacks: [...postbacks(1), queued.postbacks[0]!] };
          await assert.rejects(queue.enqueue([a, b, repeated]), duplicateOf(a.postbacks[1]!.id));
          await assert.rejects(queue.enqueue([a, b, already]), duplicateOf(queued.postbacks[0]!.id));
          for (const p of [...a.postbacks, ...b.postbacks, already.postbacks[0]!]) assert.equal(await queue.find(p.id), undefined, `${p.id} not queued`);
          assert.deepEqual(await queue.stats(T0), { ready: 1, waiting: 0 }, "only the entry queued before");
          // Nothing was left behind: the same batches, without the bad one, go in cleanly.
          await queue.enqueue([a, b]);
          const got = await queue.reserve(10, LEASE, T0);
          assert.deepEqual(sorted(ids(got)), sorted(ids([...queued.postbacks, ...a.postbacks, ...b.postbacks])));
          for (const r of got) assert.equal(r.attempt, 1);
          assert.equal(await settleAll(queue, got, { kind: "done" }), 5);
        }));

      test("an empty list, or empty batches in a list, queue nothing and do not fail", () =>
        withQueue(async (queue) => {
          await queue.enqueue([]);
          const b = batch(2);
          await queue.enqueue([{ ...batch(0), postbacks: [] }, b]);
          assert.deepEqual(ids(await queue.reserve(10, LEASE, T0)), ids(b.postbacks));
        }));

      test("many batches, with their own endpoints or sharing one, each deliver with theirs", () =>
        withQueue(async (queue) => {
          const shared = endpoint({ method: "PUT", url: "http://shared.example/{n}" });
          const batches: EnqueueBatch[] = [];
          for (let i = 0; i < 20; i++) {
            const ep = i % 2 === 0 ? shared : endpoint({ url: `http://own-${i}.example/{n}`, maxAttempts: 1 + i });
            batches.push({ endpoint: ep, postbacks: postbacks(1 + (i % 4)), createdAt: T0 + i });
          }
          for (const b of batches) await queue.enqueue(b);
          const expected = new Map(batches.flatMap((b) => b.postbacks.map((p) => [p.id, { endpoint: b.endpoint, data: p.data }] as const)));

          // Settle them a few at a time, so that shared endpoints lose entries before others.
          let total = 0;
          for (;;) {
            const got = await queue.reserve(7, LEASE, T0 + 100);
            if (got.length === 0) break;
            for (const r of got) {
              const want = expected.get(r.postbackId);
              assert.ok(want, `unexpected ${r.postbackId}`);
              assert.deepEqual(r.endpoint, want.endpoint);
              assert.equal(r.data, want.data);
            }
            total += got.length;
            assert.equal(await settleAll(queue, got, { kind: "done" }), got.length);
          }
          assert.equal(total, expected.size);
          assert.deepEqual(await queue.stats(T0 + 100), { ready: 0, waiting: 0 });

          // The shared endpoint is usable again after all its entries are gone.
          const again: EnqueueBatch = { endpoint: shared, postbacks: postbacks(2), createdAt: T0 };
          await queue.enqueue(again);
          const got = await queue.reserve(10, LEASE, T0 + 100);
          assert.deepEqual(ids(got), again.postbacks.map((p) => p.id));
          for (const r of got) assert.deepEqual(r.endpoint, shared);
        }));

      test(`a batch of ${largeBatch} postbacks round-trips`, () =>
        withQueue(async (queue) => {
          const b = batch(largeBatch);
          await queue.enqueue(b);
          assert.deepEqual(await queue.stats(T0), { ready: largeBatch, waiting: 0 });
          const got = await queue.reserve(largeBatch, LEASE, T0);
          assert.equal(got.length, largeBatch);
          assert.deepEqual(ids(got), b.postbacks.map((p) => p.id), "insertion order within one batch");
          assert.deepEqual(got.map((r) => r.data), b.postbacks.map((p) => p.data));
          assert.ok(got.every((r) => r.attempt === 1 && r.endpoint.id === b.endpoint.id));
          assert.deepEqual(await queue.stats(T0), { ready: 0, waiting: largeBatch });
          assert.equal(await settleAll(queue, got, { kind: "done" }), largeBatch);
          assert.deepEqual(await queue.stats(T0), { ready: 0, waiting: 0 });
        }));
    });

    describe("endpoints", () => {
      test("the endpoint outlives settled entries until its last entry settles, across retries", () =>
        withQueue(async (queue, opened) => {
          const ep = endpoint({ method: "PATCH", url: "http://partner.example/p/{n}", defaultValue: "x", maxAttempts: 9 });
          const b = batch(3, T0, ep);
          await queue.enqueue(b);
          // Another process reading the queue sees the endpoint from the shared data, not a cache.
          const reader = opened.peer ? await opened.peer() : queue;

          const [a, r, c] = await queue.reserve(3, LEASE, T0);
          assert.equal(await settleAll(queue, [a!], { kind: "done" }), 1);
          assert.equal(await settleAll(queue, [r!], { kind: "retry", at: T0 + 100 }), 1);
          assert.equal(await settleAll(queue, [c!], { kind: "retry", at: T0 + 200 }), 1);

          assert.deepEqual((await reader.find(r!.postbackId))?.endpoint, ep);
          const [r2] = await reader.reserve(1, LEASE, T0 + 100);
          assert.equal(r2?.postbackId, r!.postbackId);
          assert.deepEqual(r2.endpoint, ep);
          assert.equal(await settleAll(reader, [r2], { kind: "done" }), 1);

          // One entry left, retried twice more.
          const [c2] = await queue.reserve(1, LEASE, T0 + 200);
          assert.deepEqual(c2?.endpoint, ep);
          await settleAll(queue, [c2!], { kind: "retry", at: T0 + 300 });
          const [c3] = await reader.reserve(1, LEASE, T0 + 300);
          assert.deepEqual(c3?.endpoint, ep);
          assert.equal(c3!.attempt, 3);
          assert.deepEqual((await queue.find(c3!.postbackId))?.endpoint, ep);
          assert.equal(await settleAll(reader, [c3!], { kind: "done" }), 1);
          assert.deepEqual(await queue.stats(T0 + 1000), { ready: 0, waiting: 0 });
        }));
    });

    describe("listing (the delivery log's pending and held)", () => {
      test("listQueued lists held or not-held entries newest first, by destination, in pages; countQueued counts a destination's", () =>
        withQueue(async (queue) => {
          const epA = destinationEndpoint();
          const epB = destinationEndpoint();
          const a = batch(3, T0, epA);
          const b = batch(2, T0 + 1, epB);
          await queue.enqueue(a);
          await queue.enqueue(b);
          // Hold the first of A's: reserve everything, hold one, give the rest back.
          const rs = await queue.reserve(10, LEASE, T0 + 5);
          const first = rs.find((r) => r.postbackId === a.postbacks[0]!.id)!;
          await settleAll(queue, [first], { kind: "hold" });
          await settleAll(queue, rs.filter((r) => r !== first), { kind: "release", at: T0 + 10 });
          const listed = async (held: boolean, destinationIds?: string[], beforeId?: string, limit = 10) =>
            ids(await queue.listQueued({ held, destinationIds, beforeId, limit }));
          const newestFirst = (xs: string[]) => [...xs].sort().reverse();

          assert.deepEqual(await listed(true), [a.postbacks[0]!.id]);
          assert.deepEqual(await listed(true, [epA.destinationId!]), [a.postbacks[0]!.id]);
          assert.deepEqual(await listed(true, [epB.destinationId!]), []);
          const due = newestFirst([...ids(a.postbacks.slice(1)), ...ids(b.postbacks)]);
          assert.deepEqual(await listed(false), due);
          assert.deepEqual(await listed(false, [epA.destinationId!]), newestFirst(ids(a.postbacks.slice(1))));
          assert.deepEqual(await listed(false, [epA.destinationId!, epB.destinationId!]), due);
          // Pages: two, then the rest before the last id shown.
          const page1 = await listed(false, undefined, undefined, 2);
          assert.deepEqual(page1, due.slice(0, 2));
          assert.deepEqual(await listed(false, undefined, page1[1], 10), due.slice(2));
          const found = (await queue.listQueued({ held: true, limit: 1 }))[0]!;
          assert.equal(found.held, true);
          assert.deepEqual(found.endpoint, epA);
          assert.equal(found.createdAt, T0);

          assert.equal(await queue.countQueued([epA.destinationId!]), 3);
          assert.equal(await queue.countQueued([epB.destinationId!]), 2);
          assert.equal(await queue.countQueued([epA.destinationId!, epB.destinationId!]), 5);
          assert.equal(await queue.countQueued([uniq("dst")]), 0);
          assert.equal(await queue.countQueued([]), 0);
        }));
    });

    describe("holds (a disabled destination)", () => {
      test("an endpoint's account and destination travel with its entries", () =>
        withQueue(async (queue, opened) => {
          const ep = destinationEndpoint();
          const b = batch(2, T0, ep);
          await queue.enqueue(b);
          // Another process reads the endpoint from the shared data, not from a cache.
          const reader = opened.peer ? await opened.peer() : queue;
          assert.deepEqual((await reader.find(b.postbacks[0]!.id))?.endpoint, ep);
          const got = await reader.reserve(10, LEASE, T0);
          assert.equal(got.length, 2);
          for (const r of got) assert.deepEqual(r.endpoint, ep);
        }));

      test("a held entry is not reserved until its destination is unheld", () =>
        withQueue(async (queue) => {
          const ep = destinationEndpoint();
          const held = batch(2, T0, ep);
          const other = batch(1, T0 + 1, destinationEndpoint());
          await queue.enqueue(held);
          await queue.enqueue(other);
          const rs = await queue.reserve(2, LEASE, T0);
          assert.deepEqual(ids(rs), ids(held.postbacks));
          assert.equal(await settleAll(queue, rs, { kind: "hold" }), 2, "a hold counts as settled");

          // Never due: not when the lease would have ended, not much later, not now.
          const others = await queue.reserve(10, LEASE, T0 + 10 * LEASE);
          assert.deepEqual(ids(others), ids(other.postbacks));
          assert.equal(await settleAll(queue, others, { kind: "done" }), 1);
          assert.deepEqual(await queue.reserve(10, LEASE, Date.now() + 365 * 86_400_000), []);
          // Unholding another destination leaves them be.
          assert.equal(await queue.unhold(other.endpoint.destinationId!), 0);
          assert.equal(await queue.unhold(uniq("dst")), 0);
          assert.deepEqual(await queue.reserve(10, LEASE), []);

          const before = Date.now();
          assert.equal(await queue.unhold(ep.destinationId!), 2);
          const back = await queue.reserve(10, LEASE);
          assert.deepEqual(ids(back), ids(held.postbacks), "due now, in their order");
          for (const [i, r] of back.entries()) {
            assert.deepEqual(r.endpoint, ep);
            assert.equal(r.data, held.postbacks[i]!.data);
            assert.equal(r.createdAt, T0);
            assert.equal(r.attempt, 1);
          }
          assert.deepEqual(await queue.reserve(10, LEASE, before - 1), [], "made due now, not earlier");
          assert.equal(await queue.unhold(ep.destinationId!), 0, "nothing is held any more");
          assert.equal(await settleAll(queue, back, { kind: "done" }), 2);
        }));

      test("hold does not count an attempt", () =>
        withQueue(async (queue) => {
          const b = batch(1, T0, destinationEndpoint());
          await queue.enqueue(b);
          const id = b.postbacks[0]!.id;
          const [r1] = await queue.reserve(1, LEASE, T0);
          await settleAll(queue, [r1!], { kind: "retry", at: T0 + 100 });
          const [r2] = await queue.reserve(1, LEASE, T0 + 100);
          assert.equal(r2!.attempt, 2);
          assert.equal(await settleAll(queue, [r2!], { kind: "hold" }), 1);
          assert.equal((await queue.find(id))?.attempts, 1, "the held reservation is not an attempt");
          await queue.unhold(b.endpoint.destinationId!);
          const [r3] = await queue.reserve(1, LEASE);
          assert.equal(r3!.attempt, 2, "the same attempt again");
        }));

      test("hold ends the lease: settling the same reservation again changes nothing", () =>
        withQueue(async (queue) => {
          const b = batch(1, T0, destinationEndpoint());
          await queue.enqueue(b);
          const [r] = await queue.reserve(1, LEASE, T0);
          assert.equal(await settleAll(queue, [r!], { kind: "hold" }), 1);
          for (const settle of [{ kind: "done" }, { kind: "retry", at: T0 }, { kind: "release", at: T0 }, { kind: "hold" }] as Settle[]) {
            assert.equal(await queue.settle([{ reservation: r!, settle }]), 0, `${settle.kind} after hold ignored`);
          }
          const found = await queue.find(b.postbacks[0]!.id);
          assert.equal(found?.held, true);
          assert.equal(found?.attempts, 0);
        }));

      test("a stale hold, after a later reservation took the entry over, is ignored", () =>
        withQueue(async (queue) => {
          const b = batch(1, T0, destinationEndpoint());
          await queue.enqueue(b);
          const [stale] = await queue.reserve(1, 1000, T0);
          const [current] = await queue.reserve(1, 1000, T0 + 1000);
          assert.equal(await settleAll(queue, [stale!], { kind: "hold" }), 0);
          assert.deepEqual(await queue.heldDestinations(), []);
          const found = await queue.find(b.postbacks[0]!.id);
          assert.equal(found?.held, false);
          assert.equal(found?.dueAt, T0 + 2000, "still leased to the current holder");
          assert.equal(await settleAll(queue, [current!], { kind: "done" }), 1);
        }));

      test("holding an entry whose endpoint names no destination is refused and changes nothing", () =>
        withQueue(async (queue) => {
          const plain = batch(1);
          const pushed = batch(1, T0, destinationEndpoint());
          await queue.enqueue(plain);
          await queue.enqueue(pushed);
          const [p, d] = await queue.reserve(2, LEASE, T0);
          await assert.rejects(
            queue.settle([
              { reservation: d!, settle: { kind: "hold" } },
              { reservation: p!, settle: { kind: "hold" } },
            ]),
          );
          assert.deepEqual(await queue.heldDestinations(), []);
          assert.deepEqual(
            [await queue.find(p!.postbackId), await queue.find(d!.postbackId)].map((f) => [f?.held, f?.dueAt]),
            [
              [false, T0 + LEASE],
              [false, T0 + LEASE],
            ],
          );
          assert.equal(await settleAll(queue, [p!, d!], { kind: "done" }), 2, "both still hold their lease");
        }));

      test("find reports held entries", () =>
        withQueue(async (queue) => {
          const ep = destinationEndpoint();
          const b = batch(1, T0 + 3, ep);
          await queue.enqueue(b);
          const id = b.postbacks[0]!.id;
          const [r] = await queue.reserve(1, LEASE, T0 + 3);
          await settleAll(queue, [r!], { kind: "hold" });
          assert.deepEqual(await queue.find(id), {
            postbackId: id,
            endpoint: ep,
            data: b.postbacks[0]!.data,
            attempts: 0,
            dueAt: null,
            held: true,
            createdAt: T0 + 3,
          });
          const before = Date.now();
          await queue.unhold(ep.destinationId!);
          const after = Date.now();
          const found = await queue.find(id);
          assert.equal(found?.held, false);
          assert.ok(found.dueAt !== null && found.dueAt >= before && found.dueAt <= after, `due when unheld, not ${found.dueAt}`);
        }));

      test("heldDestinations lists destinations with holds", () =>
        withQueue(async (queue, opened) => {
          assert.deepEqual(await queue.heldDestinations(), []);
          const d1 = destinationEndpoint();
          const d2 = destinationEndpoint();
          const notHeld = destinationEndpoint();
          await queue.enqueue(batch(2, T0, d1));
          await queue.enqueue(batch(1, T0, d2));
          await queue.enqueue(batch(1, T0, notHeld));
          // One of d1's is held by one settle, the other by a later one.
          const rs = await queue.reserve(10, LEASE, T0);
          assert.equal(rs.length, 4);
          const byDestination = (ep: Endpoint) => rs.filter((r) => r.endpoint.destinationId === ep.destinationId);
          const [first, second] = byDestination(d1);
          await settleAll(queue, [first!, ...byDestination(d2)], { kind: "hold" });
          await settleAll(queue, [second!], { kind: "hold" });
          await settleAll(queue, byDestination(notHeld), { kind: "retry", at: T0 + 100 });

          const reader = opened.peer ? await opened.peer() : queue;
          assert.deepEqual(sorted(await reader.heldDestinations()), sorted([d1.destinationId!, d2.destinationId!]));
          assert.equal(await queue.unhold(d1.destinationId!), 2);
          assert.deepEqual(await reader.heldDestinations(), [d2.destinationId!]);
          assert.equal(await reader.unhold(d2.destinationId!), 1, "unheld through another instance");
          assert.deepEqual(await queue.heldDestinations(), []);
        }));

      test("stats count a held entry neither ready nor waiting", () =>
        withQueue(async (queue) => {
          const ep = destinationEndpoint();
          await queue.enqueue(batch(3, T0, ep));
          const [held, leased] = await queue.reserve(2, LEASE, T0);
          await settleAll(queue, [held!], { kind: "hold" });
          assert.ok(leased);
          assert.deepEqual(await queue.stats(T0), { ready: 1, waiting: 1 });
          assert.deepEqual(await queue.stats(T0 + 10 * LEASE), { ready: 2, waiting: 0 });
          await queue.unhold(ep.destinationId!);
          assert.deepEqual(await queue.stats(), { ready: 3, waiting: 0 }, "counted again once unheld");
        }));

      test("a held entry does not make waitForWork resolve", () =>
        withQueue(async (queue) => {
          await queue.enqueue(batch(1, Date.now(), destinationEndpoint()));
          const rs = await queue.reserve(1, LEASE);
          await settleAll(queue, rs, { kind: "hold" });
          const took = await within(100 + slack, queue.waitForWork(100), "waitForWork(100) with only a held entry");
          assert.ok(took >= 80, `resolved after ${took.toFixed(0)} ms, as if the held entry were due`);
        }));

      test("unhold wakes waitForWork", () =>
        withQueue(async (queue) => {
          const ep = destinationEndpoint();
          await queue.enqueue(batch(1, Date.now(), ep));
          await settleAll(queue, await queue.reserve(1, LEASE), { kind: "hold" });
          const waiting = queue.waitForWork(60_000);
          await sleep(20);
          assert.equal(await queue.unhold(ep.destinationId!), 1);
          await within(slack, waiting, "waitForWork after unhold");
          assert.equal((await queue.reserve(1, LEASE)).length, 1, "the entry is due when waitForWork resolves");
        }));
    });

    describe("reschedule", () => {
      test("reschedule makes a waiting retry due", () =>
        withQueue(async (queue) => {
          const b = batch(1);
          await queue.enqueue(b);
          const id = b.postbacks[0]!.id;
          const [r1] = await queue.reserve(1, LEASE, T0);
          await settleAll(queue, [r1!], { kind: "retry", at: T0 + 86_400_000 });
          assert.equal(await queue.reschedule(id, T0 + 500), true);
          const found = await queue.find(id);
          assert.equal(found?.dueAt, T0 + 500);
          assert.equal(found?.attempts, 1, "rescheduling is not an attempt");
          assert.deepEqual(await queue.reserve(1, LEASE, T0 + 499), []);
          const [r2] = await queue.reserve(1, LEASE, T0 + 500);
          assert.equal(r2?.postbackId, id);
          assert.equal(r2.attempt, 2);
          assert.deepEqual(r2.endpoint, b.endpoint);
          assert.equal(await settleAll(queue, [r2], { kind: "done" }), 1);
        }));

      test("reschedule can also make a waiting entry due later", () =>
        withQueue(async (queue) => {
          const b = batch(1);
          await queue.enqueue(b);
          const id = b.postbacks[0]!.id;
          assert.equal(await queue.reschedule(id, T0 + 1000), true);
          assert.deepEqual(await queue.reserve(1, LEASE, T0 + 999), []);
          assert.deepEqual(ids(await queue.reserve(1, LEASE, T0 + 1000)), [id]);
        }));

      test("reschedule refuses a leased entry", () =>
        withQueue(async (queue) => {
          const b = batch(1);
          await queue.enqueue(b);
          const id = b.postbacks[0]!.id;
          const [r] = await queue.reserve(1, LEASE); // leased until LEASE from the real now
          const dueAt = (await queue.find(id))?.dueAt;
          assert.equal(await queue.reschedule(id, T0), false);
          assert.equal((await queue.find(id))?.dueAt, dueAt, "the lease still runs");
          assert.deepEqual(await queue.reserve(1, LEASE), []);
          assert.equal(await settleAll(queue, [r!], { kind: "done" }), 1, "the holder keeps its lease");
        }));

      test("reschedule takes an entry whose lease ran out", () =>
        withQueue(async (queue) => {
          const b = batch(1);
          await queue.enqueue(b);
          const id = b.postbacks[0]!.id;
          await queue.reserve(1, 1000, T0); // its holder died long ago
          assert.equal(await queue.reschedule(id, T0 + 5000), true);
          assert.equal((await queue.find(id))?.dueAt, T0 + 5000);
          assert.deepEqual(await queue.reserve(1, LEASE, T0 + 4999), []);
          const [r] = await queue.reserve(1, LEASE, T0 + 5000);
          assert.equal(r?.attempt, 2);
        }));

      test("reschedule refuses a held entry", () =>
        withQueue(async (queue) => {
          const ep = destinationEndpoint();
          const b = batch(1, T0, ep);
          await queue.enqueue(b);
          const id = b.postbacks[0]!.id;
          await settleAll(queue, await queue.reserve(1, LEASE, T0), { kind: "hold" });
          assert.equal(await queue.reschedule(id, T0), false);
          const found = await queue.find(id);
          assert.equal(found?.held, true);
          assert.equal(found?.dueAt, null);
          assert.deepEqual(await queue.reserve(1, LEASE), [], "still held");
          assert.equal(await queue.unhold(ep.destinationId!), 1);
        }));

      test("reschedule refuses a postback that is not queued", () =>
        withQueue(async (queue) => {
          assert.equal(await queue.reschedule("no-such-postback", T0), false);
          const b = batch(1);
          await queue.enqueue(b);
          await settleAll(queue, await queue.reserve(1, LEASE, T0), { kind: "done" });
          assert.equal(await queue.reschedule(b.postbacks[0]!.id, T0), false);
          assert.equal(await queue.find(b.postbacks[0]!.id), undefined, "rescheduling brings nothing back");
          assert.deepEqual(await queue.stats(T0), { ready: 0, waiting: 0 });
        }));

      test("reschedule wakes waitForWork", () =>
        withQueue(async (queue) => {
          const b = batch(1, Date.now());
          await queue.enqueue(b);
          await settleAll(queue, await queue.reserve(1, LEASE), { kind: "retry", at: Date.now() + 60_000 });
          const waiting = queue.waitForWork(60_000);
          await sleep(20);
          assert.equal(await queue.reschedule(b.postbacks[0]!.id, Date.now()), true);
          await within(slack, waiting, "waitForWork after reschedule");
          assert.equal((await queue.reserve(1, LEASE)).length, 1);
        }));
    });

    describe("resends", () => {
      test("a resend continues attempt numbering", () =>
        withQueue(async (queue) => {
          const [resent, fresh] = postbacks(2);
          const b: EnqueueBatch = { endpoint: endpoint(), postbacks: [{ ...resent!, attempts: 3 }, fresh!], createdAt: T0 };
          await queue.enqueue(b);
          assert.equal((await queue.find(resent!.id))?.attempts, 3);
          assert.equal((await queue.find(fresh!.id))?.attempts, 0, "attempts default to 0");
          const [r1, f1] = await queue.reserve(2, LEASE, T0);
          assert.deepEqual([r1!.postbackId, r1!.attempt], [resent!.id, 4]);
          assert.deepEqual([f1!.postbackId, f1!.attempt], [fresh!.id, 1]);
          // A release does not count; a retry does; numbering goes on from there.
          await settleAll(queue, [r1!], { kind: "release", at: T0 + 10 });
          const [r2] = await queue.reserve(1, LEASE, T0 + 10);
          assert.equal(r2!.attempt, 4);
          await settleAll(queue, [r2!], { kind: "retry", at: T0 + 20 });
          const [r3] = await queue.reserve(1, LEASE, T0 + 20);
          assert.equal(r3!.attempt, 5);
        }));

      test("a resend alone in its batch continues attempt numbering", () =>
        withQueue(async (queue) => {
          const [p] = postbacks(1);
          await queue.enqueue({ endpoint: endpoint(), postbacks: [{ ...p!, attempts: 12 }], createdAt: T0 });
          const [r] = await queue.reserve(1, LEASE, T0);
          assert.equal(r!.attempt, 13);
          assert.equal(r!.createdAt, T0);
        }));
    });

    describe("find and stats", () => {
      test("find shows the data, endpoint, attempts and when the entry is next due", () =>
        withQueue(async (queue) => {
          const b = batch(1, T0 + 7);
          await queue.enqueue(b);
          const id = b.postbacks[0]!.id;
          assert.deepEqual(await queue.find(id), {
            postbackId: id,
            endpoint: b.endpoint,
            data: b.postbacks[0]!.data,
            attempts: 0,
            dueAt: T0 + 7,
            held: false,
            createdAt: T0 + 7,
          });
          await queue.reserve(1, 1000, T0 + 10);
          const leased = await queue.find(id);
          assert.equal(leased?.attempts, 1, "the attempt in flight counts");
          assert.equal(leased?.dueAt, T0 + 1010, "while leased, due when the lease ends");
          assert.equal(leased?.createdAt, T0 + 7);
          assert.equal(await queue.find("no-such-postback"), undefined);
        }));

      test("stats counts ready entries apart from those waiting for a later time or leased", () =>
        withQueue(async (queue) => {
          await queue.enqueue(batch(4, T0));
          await queue.enqueue(batch(2, T0 + 1000));
          assert.deepEqual(await queue.stats(T0), { ready: 4, waiting: 2 });
          assert.deepEqual(await queue.stats(T0 + 1000), { ready: 6, waiting: 0 });

          const [leased, retried, released] = await queue.reserve(3, 500, T0);
          assert.deepEqual(await queue.stats(T0), { ready: 1, waiting: 5 });
          await queue.settle([
            { reservation: retried!, settle: { kind: "retry", at: T0 + 2000 } },
            { reservation: released!, settle: { kind: "release", at: T0 + 100 } },
          ]);
          assert.deepEqual(await queue.stats(T0), { ready: 1, waiting: 5 });
          assert.deepEqual(await queue.stats(T0 + 100), { ready: 2, waiting: 4 });
          assert.deepEqual(await queue.stats(T0 + 500), { ready: 3, waiting: 3 }, "the lease has ended");
          assert.deepEqual(await queue.stats(T0 + 2000), { ready: 6, waiting: 0 });
          await queue.settle([{ reservation: leased!, settle: { kind: "done" } }]);
          assert.deepEqual(await queue.stats(T0 + 2000), { ready: 5, waiting: 0 });
        }));
    });

    describe("waitForWork", () => {
      test("resolves by maxWaitMs when there is no work", () =>
        withQueue(async (queue) => {
          await within(50 + slack, queue.waitForWork(50), "waitForWork(50) on an empty queue");
        }));

      test("resolves at once when work is due", () =>
        withQueue(async (queue) => {
          await queue.enqueue(batch(1, Date.now() - 1));
          await within(slack, queue.waitForWork(60_000), "waitForWork with work due");
        }));

      test("resolves promptly after an enqueue in the same process", () =>
        withQueue(async (queue) => {
          const waiting = queue.waitForWork(60_000);
          await new Promise((resolve) => setTimeout(resolve, 20));
          await queue.enqueue(batch(1, Date.now()));
          await within(slack, waiting, "waitForWork after an enqueue");
        }));

      test("resolves at once on notify, as when another connection of the process queued work", () =>
        withQueue(async (queue) => {
          const waiting = queue.waitForWork(60_000);
          queue.notify();
          await within(slack, waiting, "waitForWork after notify");
        }));

      test("resolves by maxWaitMs when every entry is leased or scheduled later", () =>
        withQueue(async (queue) => {
          await queue.enqueue(batch(2, Date.now()));
          const [leased, later] = await queue.reserve(2, 60_000);
          await queue.settle([{ reservation: later!, settle: { kind: "retry", at: Date.now() + 60_000 } }]);
          assert.ok(leased);
          await within(50 + slack, queue.waitForWork(50), "waitForWork(50) with nothing due");
        }));

      test("resolves when a scheduled entry falls due, before maxWaitMs", () =>
        withQueue(async (queue) => {
          await queue.enqueue(batch(1, Date.now()));
          const rs = await queue.reserve(1, 60_000);
          await settleAll(queue, rs, { kind: "retry", at: Date.now() + 50 });
          const took = await within(50 + slack, queue.waitForWork(60_000), "waitForWork with a retry due in 50 ms");
          assert.ok(took < 50 + slack);
          assert.equal((await queue.reserve(1, 60_000)).length, 1, "the retry is due when waitForWork resolves");
        }));
    });

    describe("health", () => {
      test("ping resolves on an open queue", () =>
        withQueue(async (queue) => {
          await queue.ping();
        }));

      test("an unreachable queue rejects every call with QueueUnavailableError, wrapping the driver's error", (t) =>
        withQueue(async (queue, opened) => {
          if (!opened.cutOff) {
            t.skip("the adapter cannot cut its backend off");
            return;
          }
          const b = batch(2, T0, destinationEndpoint());
          await queue.enqueue(b);
          const rs = await queue.reserve(1, LEASE, T0);
          await opened.cutOff();
          await assert.rejects(queue.enqueue(batch(1)), unavailable("enqueue"));
          await assert.rejects(queue.reserve(10, LEASE, T0), unavailable("reserve"));
          await assert.rejects(settleAll(queue, rs, { kind: "done" }), unavailable("settle"));
          await assert.rejects(queue.find(b.postbacks[0]!.id), unavailable("find"));
          await assert.rejects(queue.stats(T0), unavailable("stats"));
          await assert.rejects(queue.unhold(b.endpoint.destinationId!), unavailable("unhold"));
          await assert.rejects(queue.heldDestinations(), unavailable("heldDestinations"));
          await assert.rejects(queue.reschedule(b.postbacks[1]!.id, T0), unavailable("reschedule"));
          await assert.rejects(queue.ping(), unavailable("ping"));
        }));
    });

    describe("another instance on the same data", () => {
      test("two instances never reserve the same entry while it is leased", async (t) => {
        const opened = await open();
        try {
          if (!opened.peer) {
            t.skip("the adapter opens no peer");
            return;
          }
          const a = opened.queue;
          const b = await opened.peer();
          const batches = [batch(40), batch(40)];
          await a.enqueue(batches[0]!);
          await b.enqueue(batches[1]!);
          const seen = new Map<string, number>();
          for (let round = 0; ; round++) {
            const qa = await a.reserve(7, LEASE, T0);
            const qb = await b.reserve(5, LEASE, T0);
            if (qa.length === 0 && qb.length === 0) break;
            for (const r of [...qa, ...qb]) seen.set(r.postbackId, (seen.get(r.postbackId) ?? 0) + 1);
            // Settle some through the other instance, to mix things up.
            if (round % 2 === 0) await settleAll(b, qa, { kind: "done" });
          }
          assert.equal(seen.size, 80);
          assert.ok([...seen.values()].every((n) => n === 1), "no entry reserved twice");
          assert.deepEqual(await a.stats(T0), await b.stats(T0));
        } finally {
          await opened.close();
        }
      });

      test("a settle through another instance honours the lease", async (t) => {
        const opened = await open();
        try {
          if (!opened.peer) {
            t.skip("the adapter opens no peer");
            return;
          }
          const a = opened.queue;
          const b = await opened.peer();
          await a.enqueue(batch(1));
          const [stale] = await a.reserve(1, 1000, T0);
          const [current] = await b.reserve(1, 1000, T0 + 1000);
          assert.equal(await settleAll(a, [stale!], { kind: "done" }), 0);
          assert.equal(await settleAll(a, [current!], { kind: "done" }), 1);
          assert.deepEqual(await b.stats(T0 + 5000), { ready: 0, waiting: 0 });
        } finally {
          await opened.close();
        }
      });
    });
  });
}
