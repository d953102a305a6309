/**
 * Sending failed postbacks again (seed 004's "resend"): one by id (POST /v1/postbacks/{id}/retry),
 * or every failed one of a destination in a time range (POST /v1/destinations/{id}/replay and
 * `ferry replay`, which can run from cron). A postback sent again keeps its id — receivers see
 * the same `webhook-id` and can drop a duplicate — and its history: attempt numbers go on from
 * where they stopped, with a fresh allowance of max_attempts.
 */
import type { Queue } from "./queue/port.js";
import type { ResendCandidate, Stores } from "./store/port.js";
import { endpointId } from "./core/ids.js";

export type ResendOutcome =
  /** Queued again after it was dead. */
  | "queued"
  /** It waited for a retry; now it is due at once. */
  | "rescheduled"
  /** Not sent again: it is queued or being attempted right now. */
  | "pending"
  /** Not sent again: its destination is disabled; enable it and the postback goes. */
  | "held"
  | "delivered"
  | "cancelled"
  | "not_found";

/** Puts a settled postback back in the queue, due now. */
async function requeue(queue: Queue, p: Omit<ResendCandidate, "state">, now: number): Promise<void> {
  const { id: _old, ...rest } = p.endpoint;
  const endpoint = { ...rest, maxAttempts: p.attempts + p.endpoint.maxAttempts };
  await queue.enqueue({
    endpoint: { id: endpointId(endpoint), ...endpoint },
    postbacks: [{ id: p.id, data: p.data, attempts: p.attempts }],
    createdAt: p.createdAt,
  });
}

/**
 * Sends one postback again if it is dead or failed. `accountId` limits it to that account's
 * postbacks (others are not_found, so their existence does not leak).
 */
export async function resendPostback(deps: { queue: Queue; stores: Stores }, id: string, accountId: string | undefined, now = Date.now()): Promise<ResendOutcome> {
  const [record, queued] = await Promise.all([deps.stores.postbacks.getPostback(id), deps.queue.find(id)]);
  const found = record ?? queued;
  if (!found || (accountId !== undefined && found.endpoint.accountId !== accountId)) return "not_found";
  if (queued) {
    if (queued.held) return "held";
    if (record?.state === "failed" && (await deps.queue.reschedule(id, now))) return "rescheduled";
    return "pending";
  }
  if (record!.state === "delivered" || record!.state === "cancelled") return record!.state;
  const attempts = record!.attempts.reduce((n, a) => Math.max(n, a.attempt), 0);
  await requeue(deps.queue, { id, endpoint: record!.endpoint, data: record!.data, createdAt: record!.createdAt, attempts }, now);
  return "queued";
}

export interface ReplayResult {
  /** Queued again or made due now. */
  replayed: number;
  /** Failed in the range but queued or held right now, so not sent again. */
  skipped: number;
}

/** Sends again every failed or dead postback of the destination created within [from, to). */
export async function replayDestination(
  deps: { queue: Queue; stores: Stores },
  destinationId: string,
  range: { from: number; to: number },
  now = Date.now(),
): Promise<ReplayResult> {
  const result: ReplayResult = { replayed: 0, skipped: 0 };
  let after: string | undefined;
  for (;;) {
    const page = await deps.stores.postbacks.listFailedPostbacks(destinationId, range, { after, limit: 500 });
    for (const p of page) {
      const queued = await deps.queue.find(p.id);
      if (!queued) {
        await requeue(deps.queue, p, now);
        result.replayed++;
      } else if (!queued.held && p.state === "failed" && (await deps.queue.reschedule(p.id, now))) {
        result.replayed++;
      } else {
        result.skipped++;
      }
    }
    if (page.length < 500) return result;
    after = page[page.length - 1]!.id;
  }
}
