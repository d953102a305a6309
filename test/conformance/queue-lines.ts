/**
 * Queue conformance, issue 14: ordered lines (NewPostback.orderKey) and fairness among
 * accounts (Queue.reserve). Every Queue adapter's test file calls `queueLinesConformance` with
 * the same opener as `queueConformance` (test/conformance/queue.ts).
 *
 * What a blocked entry (one behind the head of its line) looks like from outside, as every
 * adapter must show it:
 * - reserve never returns it, and it does not make waitForWork resolve;
 * - find shows it not held, with dueAt null (it has no time of its own: it waits for the entry
 *   ahead of it) and its attempts so far;
 * - listQueued lists it among the not-held entries; countQueued counts it;
 * - stats counts it as waiting, not ready; oldestDueAt passes it by;
 * - reschedule refuses it (making it due would let it overtake its head).
 *
 * Time is moved with the `now` parameter, as in queue.ts; only the waitForWork tests use the
 * wall clock, with loose bounds.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Endpoint } from "../../src/core/types.js";
import type { EnqueueBatch, NewPostback, Queue, Reservation, Settle } from "../../src/queue/port.js";
import { endpoint, postbacks, type OpenedQueue, type QueueCapabilities } from "./queue.js";

/** A fixed instant well in the past, so that the wall clock never gets in the way of `now`. */
const T0 = Date.UTC(2024, 0, 1);
const LEASE = 30_000;

let counter = 0;
function uniq(prefix: string): string {
  counter++;
  return `${prefix}-${process.pid}-l${counter.toString().padStart(6, "0")}`;
}

/** `n` postbacks in the line `key`. */
function lined(n: number, key: string): NewPostback[] {
  return postbacks(n).map((p) => ({ ...p, orderKey: key }));
}

function batchOf(pbs: NewPostback[], createdAt = T0, ep: Endpoint = endpoint()): EnqueueBatch {
  return { endpoint: ep, postbacks: pbs, createdAt };
}

/** An endpoint of an account's destination (which can be held). */
function accountEndpoint(accountId = uniq("acct")): Endpoint {
  return endpoint({ accountId, destinationId: uniq("dst") });
}

function ids(rs: ({ postbackId: string } | NewPostback)[]): string[] {
  return rs.map((r) => ("postbackId" in r ? r.postbackId : r.id));
}

async function settleAll(queue: Queue, rs: Reservation[], settle: Settle): Promise<number> {
  return queue.settle(rs.map((reservation) => ({ reservation, settle })));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves to whether `p` settled within `ms`. */
async function settlesWithin(ms: number, p: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

export function queueLinesConformance(
  name: string,
  open: () => Promise<OpenedQueue>,
  capabilities: QueueCapabilities = {},
): void {
  const slack = capabilities.timingSlackMs ?? 1000;

  /** Runs `fn` with a freshly opened, empty queue, closing it whatever happens. */
  const withQueue = (fn: (queue: Queue, opened: OpenedQueue) => Promise<void>): Promise<void> =>
    open().then((opened) => fn(opened.queue, opened).finally(() => opened.close()));

  /** Reserves one at a time until nothing more is due at `now`, settling each done: the order reserved. */
  async function drainInOrder(queue: Queue, now: number): Promise<string[]> {
    const order: string[] = [];
    for (;;) {
      const got = await queue.reserve(10, LEASE, now);
      if (got.length === 0) return order;
      order.push(...ids(got));
      assert.equal(await settleAll(queue, got, { kind: "done" }), got.length);
    }
  }

  describe(`queue conformance, ordered lines and fairness: ${name}`, () => {
    describe("ordered lines", () => {
      test("entries with the same orderKey are reserved one at a time, in the order they were enqueued", () =>
        withQueue(async (queue) => {
          const key = uniq("line");
          const first = batchOf(lined(3, key), T0);
          // A later call, through another endpoint, joins the same line behind them.
          const second = batchOf(lined(2, key), T0, endpoint());
          await queue.enqueue(first);
          await queue.enqueue(second);
          const expected = ids([...first.postbacks, ...second.postbacks]);
          const seen: string[] = [];
          for (const id of expected) {
            const got = await queue.reserve(10, LEASE, T0);
            assert.deepEqual(ids(got), [id], "only the head of the line is reserved");
            assert.deepEqual(await queue.reserve(10, LEASE, T0), [], "nothing else while the head is leased");
            seen.push(id);
            assert.equal(await settleAll(queue, got, { kind: "done" }), 1);
          }
          assert.deepEqual(seen, expected);
          assert.deepEqual(await queue.stats(T0), { ready: 0, waiting: 0 });
        }));

      test("a line keeps enqueue order even when a later entry is due earlier", () =>
        withQueue(async (queue) => {
          const key = uniq("line");
          const late = batchOf(lined(1, key), T0 + 500);
          const early = batchOf(lined(1, key), T0);
          await queue.enqueue(late);
          await queue.enqueue(early);
          assert.deepEqual(await queue.reserve(10, LEASE, T0 + 499), [], "the head is not due yet, and the entry behind it waits");
          assert.deepEqual(await drainInOrder(queue, T0 + 500), ids([...late.postbacks, ...early.postbacks]));
        }));

      test("a leased head blocks its line; when its lease ends the head is reserved again, not the next", () =>
        withQueue(async (queue) => {
          const b = batchOf(lined(2, uniq("line")));
          await queue.enqueue(b);
          const [head] = await queue.reserve(10, 1000, T0);
          assert.equal(head?.postbackId, b.postbacks[0]!.id);
          assert.deepEqual(await queue.reserve(10, 1000, T0 + 999), []);
          const again = await queue.reserve(10, 1000, T0 + 1000);
          assert.deepEqual(again.map((r) => [r.postbackId, r.attempt]), [[b.postbacks[0]!.id, 2]]);
          assert.equal(await settleAll(queue, [head!], { kind: "done" }), 0, "a stale settle does not move the line");
          assert.deepEqual(await queue.reserve(10, 1000, T0 + 1500), [], "the entry behind stays blocked");
          assert.equal(await settleAll(queue, again, { kind: "done" }), 1);
          assert.deepEqual(ids(await queue.reserve(10, 1000, T0 + 1500)), [b.postbacks[1]!.id]);
        }));

      test("a head waiting for a retry blocks its line until it is done", () =>
        withQueue(async (queue) => {
          const b = batchOf(lined(3, uniq("line")));
          await queue.enqueue(b);
          const [h1] = await queue.reserve(10, LEASE, T0);
          await settleAll(queue, [h1!], { kind: "retry", at: T0 + 1000 });
          assert.deepEqual(await queue.reserve(10, LEASE, T0 + 999), [], "however due the others are, they wait");
          const [h2] = await queue.reserve(10, LEASE, T0 + 1000);
          assert.deepEqual([h2?.postbackId, h2?.attempt], [b.postbacks[0]!.id, 2]);
          await settleAll(queue, [h2!], { kind: "retry", at: T0 + 2000 });
          assert.deepEqual(await queue.reserve(10, LEASE, T0 + 1500), []);
          assert.deepEqual(await drainInOrder(queue, T0 + 2000), ids(b.postbacks));
        }));

      test("a released head blocks its line, and keeps its place", () =>
        withQueue(async (queue) => {
          const b = batchOf(lined(2, uniq("line")));
          await queue.enqueue(b);
          const [h1] = await queue.reserve(10, LEASE, T0);
          await settleAll(queue, [h1!], { kind: "release", at: T0 + 100 });
          assert.deepEqual(await queue.reserve(10, LEASE, T0 + 99), []);
          const [h2] = await queue.reserve(10, LEASE, T0 + 100);
          assert.deepEqual([h2?.postbackId, h2?.attempt], [b.postbacks[0]!.id, 1], "a release is not an attempt");
          await settleAll(queue, [h2!], { kind: "done" });
          assert.deepEqual(ids(await queue.reserve(10, LEASE, T0 + 100)), [b.postbacks[1]!.id]);
        }));

      test("a held head blocks its line until its destination is unheld and the head is done", () =>
        withQueue(async (queue) => {
          const ep = accountEndpoint();
          const b = batchOf(lined(2, uniq("line")), T0, ep);
          await queue.enqueue(b);
          await settleAll(queue, await queue.reserve(10, LEASE, T0), { kind: "hold" });
          assert.deepEqual(await queue.reserve(10, LEASE, T0 + 10 * LEASE), []);
          assert.deepEqual(ids(await queue.listQueued({ held: true, limit: 10 })), [b.postbacks[0]!.id], "only the head is held");
          assert.deepEqual(await queue.heldDestinations(), [ep.destinationId]);
          assert.equal(await queue.unhold(ep.destinationId!), 1);
          const now = Date.now();
          assert.deepEqual(ids(await queue.reserve(10, LEASE, now)), [b.postbacks[0]!.id], "the head first, the next still waits");
        }));

      test("done makes the next due at once, or at its own due time when that is later", () =>
        withQueue(async (queue) => {
          const key = uniq("line");
          const head = batchOf(lined(1, key), T0);
          const next = batchOf(lined(1, key), T0 + 5000);
          await queue.enqueue(head);
          await queue.enqueue(next);
          await settleAll(queue, await queue.reserve(10, LEASE, T0), { kind: "done" });
          assert.deepEqual(await queue.reserve(10, LEASE, T0 + 4999), []);
          assert.equal((await queue.find(next.postbacks[0]!.id))?.dueAt, T0 + 5000, "the head now, due at its own time");
          assert.deepEqual(ids(await queue.reserve(10, LEASE, T0 + 5000)), ids(next.postbacks));
        }));

      test("a dead head (settled done after its last attempt) lets the next go", () =>
        withQueue(async (queue) => {
          const ep = endpoint({ maxAttempts: 2 });
          const b = batchOf(lined(2, uniq("line")), T0, ep);
          await queue.enqueue(b);
          const [a1] = await queue.reserve(10, LEASE, T0);
          await settleAll(queue, [a1!], { kind: "retry", at: T0 + 10 });
          const [a2] = await queue.reserve(10, LEASE, T0 + 10);
          assert.equal(a2?.attempt, 2);
          await settleAll(queue, [a2!], { kind: "done" }); // the worker gives up: dead
          const [n] = await queue.reserve(10, LEASE, T0 + 10);
          assert.deepEqual([n?.postbackId, n?.attempt], [b.postbacks[1]!.id, 1]);
        }));

      test("other keys and entries without a key are not slowed by a blocked line", () =>
        withQueue(async (queue) => {
          const slow = uniq("line");
          const fast = uniq("line");
          const blocked = batchOf(lined(3, slow), T0);
          await queue.enqueue(blocked);
          const [head] = await queue.reserve(10, LEASE, T0);
          await settleAll(queue, [head!], { kind: "retry", at: T0 + 86_400_000 });
          const other = batchOf(lined(2, fast), T0 + 1);
          const free = batchOf(postbacks(4), T0 + 2);
          await queue.enqueue([other, free]);
          const got = await queue.reserve(10, LEASE, T0 + 10);
          assert.deepEqual(ids(got), [other.postbacks[0]!.id, ...ids(free.postbacks)], "the other line's head and every free entry");
          await settleAll(queue, got, { kind: "done" });
          assert.deepEqual(ids(await queue.reserve(10, LEASE, T0 + 10)), [other.postbacks[1]!.id]);
        }));

      test("entries of one batch can belong to several lines and to none", () =>
        withQueue(async (queue) => {
          const a = uniq("line");
          const c = uniq("line");
          const [p1, p2, p3, p4, p5] = postbacks(5);
          const b = batchOf([{ ...p1!, orderKey: a }, { ...p2!, orderKey: c }, { ...p3!, orderKey: a }, p4!, { ...p5!, orderKey: c }]);
          await queue.enqueue(b);
          const first = await queue.reserve(10, LEASE, T0);
          assert.deepEqual(ids(first), [p1!.id, p2!.id, p4!.id]);
          await settleAll(queue, first, { kind: "done" });
          assert.deepEqual(ids(await queue.reserve(10, LEASE, T0)), [p3!.id, p5!.id]);
        }));

      test("a resend with an orderKey joins the end of its line and continues attempt numbering", () =>
        withQueue(async (queue) => {
          const key = uniq("line");
          const queued = batchOf(lined(1, key), T0 + 100);
          await queue.enqueue(queued);
          const [resent] = postbacks(1);
          // A resend keeps its old createdAt (earlier than the entry queued), yet comes after it.
          await queue.enqueue(batchOf([{ ...resent!, attempts: 3, orderKey: key }], T0));
          const got: Reservation[] = [];
          for (;;) {
            const rs = await queue.reserve(10, LEASE, T0 + 100);
            if (rs.length === 0) break;
            got.push(...rs);
            await settleAll(queue, rs, { kind: "done" });
          }
          assert.deepEqual(got.map((r) => [r.postbackId, r.attempt]), [[queued.postbacks[0]!.id, 1], [resent!.id, 4]]);
        }));

      test("a line frees itself: once emptied, a new entry with its key is due at once", () =>
        withQueue(async (queue) => {
          const key = uniq("line");
          await queue.enqueue(batchOf(lined(1, key)));
          await settleAll(queue, await queue.reserve(10, LEASE, T0), { kind: "done" });
          const again = batchOf(lined(1, key), T0 + 1);
          await queue.enqueue(again);
          assert.deepEqual(ids(await queue.reserve(10, LEASE, T0 + 1)), ids(again.postbacks));
        }));

      test("a blocked entry: find, listQueued, countQueued, stats, oldestDueAt and reschedule", () =>
        withQueue(async (queue) => {
          const ep = accountEndpoint();
          const b = batchOf(lined(2, uniq("line")), T0 + 5, ep);
          await queue.enqueue(b);
          const [head, behind] = b.postbacks;
          assert.deepEqual(await queue.find(behind!.id), {
            postbackId: behind!.id,
            endpoint: ep,
            data: behind!.data,
            attempts: 0,
            dueAt: null,
            held: false,
            createdAt: T0 + 5,
          });
          assert.equal((await queue.find(head!.id))?.dueAt, T0 + 5);
          assert.deepEqual(await queue.stats(T0 + 5), { ready: 1, waiting: 1 }, "blocked: waiting, not ready");
          assert.equal(await queue.oldestDueAt(T0 + 5), T0 + 5);
          assert.deepEqual(ids(await queue.listQueued({ held: false, limit: 10 })), [behind!.id, head!.id]);
          assert.deepEqual(await queue.listQueued({ held: true, limit: 10 }), []);
          assert.equal(await queue.countQueued([ep.destinationId!]), 2);
          assert.equal(await queue.reschedule(behind!.id, T0), false, "rescheduling it would overtake its head");
          assert.equal((await queue.find(behind!.id))?.dueAt, null);

          const [r] = await queue.reserve(10, 1000, T0 + 5);
          assert.equal(r?.postbackId, head!.id);
          assert.deepEqual(await queue.stats(T0 + 5), { ready: 0, waiting: 2 });
          assert.equal(await queue.oldestDueAt(T0 + 5), null, "a blocked entry is not ready, however old");
          await settleAll(queue, [r!], { kind: "retry", at: T0 + 86_400_000 });
          assert.equal(await queue.reschedule(head!.id, T0 + 10), true, "its head can be resent at once");
          assert.equal(await queue.reschedule(behind!.id, T0 + 10), false);
          assert.deepEqual(ids(await queue.reserve(10, LEASE, T0 + 10)), [head!.id]);
        }));

      test("a blocked entry does not make waitForWork resolve; its head's done does", () =>
        withQueue(async (queue) => {
          const b = batchOf(lined(2, uniq("line")), Date.now());
          await queue.enqueue(b);
          const [head] = await queue.reserve(10, 60_000);
          assert.equal(await settlesWithin(150, queue.waitForWork(60_000)), false, "only a blocked entry and a lease");
          const waiting = queue.waitForWork(60_000);
          await sleep(20);
          await settleAll(queue, [head!], { kind: "done" });
          assert.equal(await settlesWithin(slack, waiting), true, "waitForWork resolves when the next becomes due");
          assert.deepEqual(ids(await queue.reserve(10, LEASE)), [b.postbacks[1]!.id]);
        }));

      test("another instance on the same data sees the line", async (t) => {
        const opened = await open();
        try {
          if (!opened.peer) return t.skip("no peer");
          const peer = await opened.peer();
          const b = batchOf(lined(2, uniq("line")));
          await opened.queue.enqueue(b);
          const [head] = await peer.reserve(10, LEASE, T0);
          assert.equal(head?.postbackId, b.postbacks[0]!.id);
          assert.deepEqual(await opened.queue.reserve(10, LEASE, T0), []);
          await settleAll(peer, [head!], { kind: "done" });
          assert.deepEqual(ids(await opened.queue.reserve(10, LEASE, T0)), [b.postbacks[1]!.id]);
        } finally {
          await opened.close();
        }
      });
    });

    describe("fairness among accounts", () => {
      // The reservation still lists what it took oldest due first (queue.ts): fairness is in
      // what it takes, not in the order it lists them.
      test("one account's 5,000 older entries do not keep another's few waiting: one reserve takes both", () =>
        withQueue(async (queue) => {
          const a = accountEndpoint();
          const b = accountEndpoint();
          const backlog = batchOf(postbacks(5000), T0, a);
          await queue.enqueue(backlog);
          const fresh = batchOf(postbacks(3), T0 + 60_000, b);
          await queue.enqueue(fresh);
          const got = await queue.reserve(10, LEASE, T0 + 60_000);
          assert.equal(got.length, 10);
          const gotIds = ids(got);
          for (const id of ids(fresh.postbacks)) assert.ok(gotIds.includes(id), `B's ${id} is reserved`);
          const ofA = got.filter((r) => r.endpoint.accountId === a.accountId);
          assert.deepEqual(ids(ofA), ids(backlog.postbacks.slice(0, 7)), "A's part is A's oldest, in order");
          const ofB = got.filter((r) => r.endpoint.accountId === b.accountId);
          assert.deepEqual(ids(ofB), ids(fresh.postbacks), "B's part is in B's order");
        }));

      test("entries without an account form a share of their own", () =>
        withQueue(async (queue) => {
          const a = accountEndpoint();
          const backlog = batchOf(postbacks(5000), T0, a);
          await queue.enqueue(backlog);
          const b = accountEndpoint();
          const ofB = batchOf(postbacks(5), T0 + 1000, b);
          const free = batchOf(postbacks(5), T0 + 1000, endpoint());
          await queue.enqueue([ofB, free]);
          const got = await queue.reserve(9, LEASE, T0 + 1000);
          const count = (pred: (r: Reservation) => boolean) => got.filter(pred).length;
          assert.equal(count((r) => r.endpoint.accountId === a.accountId), 3);
          assert.equal(count((r) => r.endpoint.accountId === b.accountId), 3);
          assert.equal(count((r) => r.endpoint.accountId === undefined), 3);
          assert.deepEqual(ids(got.filter((r) => r.endpoint.accountId === undefined)), ids(free.postbacks.slice(0, 3)));
        }));

      test("a share an account cannot use goes to the others", () =>
        withQueue(async (queue) => {
          const a = accountEndpoint();
          const b = accountEndpoint();
          const many = batchOf(postbacks(20), T0, a);
          const few = batchOf(postbacks(2), T0 + 1, b);
          await queue.enqueue([many, few]);
          const got = await queue.reserve(10, LEASE, T0 + 1);
          assert.equal(got.length, 10);
          assert.deepEqual(ids(got.filter((r) => r.endpoint.accountId === b.accountId)), ids(few.postbacks));
          assert.deepEqual(ids(got.filter((r) => r.endpoint.accountId === a.accountId)), ids(many.postbacks.slice(0, 8)));
        }));

      test("an account whose entries are all blocked, leased or later gives its share to the others", () =>
        withQueue(async (queue) => {
          const a = accountEndpoint();
          const b = accountEndpoint();
          const line = batchOf(lined(5, uniq("line")), T0, a);
          await queue.enqueue(line);
          const [head] = await queue.reserve(10, LEASE, T0);
          assert.equal(head?.postbackId, line.postbacks[0]!.id);
          const other = batchOf(postbacks(6), T0 + 1, b);
          await queue.enqueue(other);
          assert.deepEqual(ids(await queue.reserve(6, LEASE, T0 + 1)), ids(other.postbacks));
        }));

      test("with more accounts than max, successive reserves serve every account", () =>
        withQueue(async (queue) => {
          const accounts = Array.from({ length: 6 }, () => accountEndpoint());
          // The first account's entries are the oldest by far.
          for (const [i, ep] of accounts.entries()) await queue.enqueue(batchOf(postbacks(i === 0 ? 200 : 5), T0 + i * 1000, ep));
          const served = new Set<string>();
          for (let i = 0; i < 4; i++) {
            const got = await queue.reserve(2, LEASE, T0 + 10_000);
            assert.equal(got.length, 2);
            assert.equal(new Set(got.map((r) => r.endpoint.accountId)).size, 2, "two accounts in each reservation of two");
            for (const r of got) served.add(r.endpoint.accountId!);
          }
          assert.equal(served.size, 6, "every account served within four reservations of two");
        }));

      test("a single account reserves as before: oldest due first, up to max", () =>
        withQueue(async (queue) => {
          const a = accountEndpoint();
          const late = batchOf(postbacks(3), T0 + 300, a);
          const early = batchOf(postbacks(3), T0 + 100, endpoint({ accountId: a.accountId!, destinationId: uniq("dst") }));
          await queue.enqueue(late);
          await queue.enqueue(early);
          assert.deepEqual(ids(await queue.reserve(5, LEASE, T0 + 1000)), ids([...early.postbacks, ...late.postbacks.slice(0, 2)]));
        }));
    });
  });
}
