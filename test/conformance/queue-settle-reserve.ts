/**
 * Queue conformance, issue 16: `settleAndReserve` is settle then reserve in one step. Every
 * Queue adapter's test file may call `queueSettleReserveConformance` with the same opener as
 * `queueConformance` (test/conformance/queue.ts); an adapter without a native combined call
 * passes with the settle-then-reserve fallback.
 *
 * Time is moved with the `now` parameter, as in queue.ts.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Endpoint } from "../../src/core/types.js";
import type { EnqueueBatch, NewPostback, Reservation, Settle, Settlement } from "../../src/queue/port.js";
import { endpoint, postbacks, type OpenedQueue } from "./queue.js";

const T0 = Date.UTC(2024, 0, 1);
const LEASE = 30_000;

let counter = 0;
function uniq(prefix: string): string {
  counter++;
  return `${prefix}-${process.pid}-s${counter.toString().padStart(6, "0")}`;
}

function batchOf(pbs: NewPostback[], createdAt = T0, ep: Endpoint = endpoint()): EnqueueBatch {
  return { endpoint: ep, postbacks: pbs, createdAt };
}

function ids(rs: ({ postbackId: string } | NewPostback)[]): string[] {
  return rs.map((r) => ("postbackId" in r ? r.postbackId : r.id));
}

function all(rs: Reservation[], settle: Settle): Settlement[] {
  return rs.map((reservation) => ({ reservation, settle }));
}

export function queueSettleReserveConformance(name: string, open: () => Promise<OpenedQueue>): void {
  async function withQueue(fn: (opened: OpenedQueue) => Promise<void>): Promise<void> {
    const opened = await open();
    try {
      await fn(opened);
    } finally {
      await opened.close();
    }
  }

  describe(`queue conformance: ${name}: settleAndReserve`, () => {
    test("settles the batch done and reserves the next entries due, leased for leaseMs", () =>
      withQueue(async ({ queue }) => {
        const first = batchOf(postbacks(3));
        const next = batchOf(postbacks(4));
        await queue.enqueue([first, next]);
        const rs = await queue.reserve(3, LEASE, T0);
        assert.deepEqual(ids(rs), ids(first.postbacks));
        const { settled, reserved } = await queue.settleAndReserve(all(rs, { kind: "done" }), 10, LEASE, T0 + 1);
        assert.equal(settled, 3);
        assert.deepEqual(ids(reserved), ids(next.postbacks));
        for (const r of reserved) assert.equal(r.attempt, 1);
        for (const p of first.postbacks) assert.equal(await queue.find(p.id), undefined, "done entries leave the queue");
        // Leased until T0 + 1 + LEASE: not due before, due again after.
        assert.deepEqual(await queue.reserve(10, LEASE, T0 + LEASE), []);
        assert.equal((await queue.reserve(10, LEASE, T0 + 1 + LEASE)).length, 4);
      }));

    test("a stale settle changes nothing, and the reservation still happens", () =>
      withQueue(async ({ queue }) => {
        const b = batchOf(postbacks(2));
        await queue.enqueue(b);
        const old = await queue.reserve(10, LEASE, T0);
        // The lease runs out and another worker takes the entries.
        const taken = await queue.reserve(10, LEASE, T0 + LEASE);
        assert.equal(taken.length, 2);
        const other = batchOf(postbacks(1));
        await queue.enqueue(other);
        const { settled, reserved } = await queue.settleAndReserve(all(old, { kind: "done" }), 10, LEASE, T0 + LEASE + 1);
        assert.equal(settled, 0, "the old leases are stale");
        assert.deepEqual(ids(reserved), ids(other.postbacks));
        for (const p of b.postbacks) assert.ok(await queue.find(p.id), "still queued under the newer lease");
        assert.equal(await queue.settle(all(taken, { kind: "done" })), 2, "the current holder settles them");
      }));

    test("max 0 settles and reserves nothing; nothing to settle only reserves", () =>
      withQueue(async ({ queue }) => {
        const b = batchOf(postbacks(3));
        await queue.enqueue(b);
        const rs = await queue.reserve(1, LEASE, T0);
        const none = await queue.settleAndReserve(all(rs, { kind: "done" }), 0, LEASE, T0);
        assert.deepEqual(none, { settled: 1, reserved: [] });
        assert.deepEqual(await queue.stats(T0), { ready: 2, waiting: 0 });
        const only = await queue.settleAndReserve([], 10, LEASE, T0);
        assert.equal(only.settled, 0);
        assert.deepEqual(ids(only.reserved), ids(b.postbacks.slice(1)));
        assert.deepEqual(await queue.settleAndReserve([], 0, LEASE, T0), { settled: 0, reserved: [] });
      }));

    test("the settle comes first: a retry due at now is reserved again by the same call, as attempt 2", () =>
      withQueue(async ({ queue }) => {
        const b = batchOf(postbacks(2));
        await queue.enqueue(b);
        const rs = await queue.reserve(10, LEASE, T0);
        const { settled, reserved } = await queue.settleAndReserve(
          [
            { reservation: rs[0]!, settle: { kind: "retry", at: T0 + 5 } },
            { reservation: rs[1]!, settle: { kind: "release", at: T0 + 5 } },
          ],
          10,
          LEASE,
          T0 + 5,
        );
        assert.equal(settled, 2);
        assert.deepEqual(ids(reserved), ids(b.postbacks));
        assert.deepEqual(reserved.map((r) => r.attempt), [2, 1], "a release gives its attempt back");
      }));

    test("a hold parks the entry; unhold brings it back", () =>
      withQueue(async ({ queue }) => {
        const destinationId = uniq("dst");
        const b = batchOf(postbacks(1), T0, endpoint({ accountId: uniq("acct"), destinationId }));
        await queue.enqueue(b);
        const rs = await queue.reserve(10, LEASE, T0);
        assert.deepEqual(await queue.settleAndReserve(all(rs, { kind: "hold" }), 10, LEASE, T0 + 1), { settled: 1, reserved: [] });
        assert.equal((await queue.find(b.postbacks[0]!.id))?.held, true);
        assert.equal(await queue.unhold(destinationId), 1);
        assert.deepEqual(ids(await queue.reserve(10, LEASE)), ids(b.postbacks));
      }));

    test("the reservation is shared fairly among accounts, as reserve's", () =>
      withQueue(async ({ queue }) => {
        const busy = endpoint({ accountId: uniq("acct") });
        const quiet = endpoint({ accountId: uniq("acct") });
        await queue.enqueue(batchOf(postbacks(50), T0, busy));
        const rs = await queue.reserve(4, LEASE, T0);
        const fresh = batchOf(postbacks(2), T0 + 10, quiet);
        await queue.enqueue(fresh);
        const { reserved } = await queue.settleAndReserve(all(rs, { kind: "done" }), 4, LEASE, T0 + 10);
        assert.equal(reserved.length, 4);
        const quietOnes = reserved.filter((r) => r.endpoint.accountId === quiet.accountId);
        assert.deepEqual(ids(quietOnes), ids(fresh.postbacks), "the quiet account gets its share despite the busy one's backlog");
      }));

    test("settling a line's head done makes the next one reservable in the same call", () =>
      withQueue(async ({ queue }) => {
        const key = uniq("line");
        const line = postbacks(3).map((p) => ({ ...p, orderKey: key }));
        await queue.enqueue(batchOf(line));
        const head = await queue.reserve(10, LEASE, T0);
        assert.deepEqual(ids(head), [line[0]!.id]);
        const second = await queue.settleAndReserve(all(head, { kind: "done" }), 10, LEASE, T0 + 1);
        assert.deepEqual(ids(second.reserved), [line[1]!.id]);
        // A retried head keeps the line waiting.
        const retried = await queue.settleAndReserve(all(second.reserved, { kind: "retry", at: T0 + 1000 }), 10, LEASE, T0 + 2);
        assert.deepEqual(retried, { settled: 1, reserved: [] });
      }));
  });
}
