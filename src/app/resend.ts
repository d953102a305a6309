/**
 * Sending failed postbacks again: one by id (POST /v1/postbacks/{id}/retry, `ferry replay
 * --postback`), or every failed one of a destination in a time range (POST
 * /v1/destinations/{id}/replay and `ferry replay --destination`, which can run from cron). A postback sent again keeps its id — receivers see
 * the same `webhook-id` and can drop a duplicate — and its history: attempt numbers go on from
 * where they stopped, with a fresh allowance of max_attempts.
 */
import type { Queue, QueuedPostback } from "../queue/port.js";
import type { ResendCandidate } from "../store/port.js";
import { endpointId } from "../core/ids.js";
import { orderKeyRule } from "../core/ordering.js";
import type { Destination } from "../core/types.js";
import { inLine } from "./push.js";
import { findPostback } from "./postbacks.js";
import type { Ports } from "./ports.js";

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

/**
 * Puts a settled postback back in the queue, due now. When its destination keeps order it
 * joins the end of its line (as the destination is configured now): it is sent after what
 * is queued already, never ahead of it.
 */
async function requeue(queue: Queue, p: Omit<ResendCandidate, "state">, destination: Destination | undefined): Promise<void> {
  const { id: _old, ...rest } = p.endpoint;
  const endpoint = { ...rest, maxAttempts: p.attempts + p.endpoint.maxAttempts };
  const lineOf = destination && orderKeyRule(destination);
  await queue.enqueue({
    endpoint: { id: endpointId(endpoint), ...endpoint },
    postbacks: [inLine({ id: p.id, data: p.data, attempts: p.attempts }, lineOf, () => JSON.parse(p.data) as Record<string, unknown>)],
    createdAt: p.createdAt,
  });
}

/**
 * Sends one postback again if it is dead or failed. `accountId` limits it to that account's
 * postbacks (others are not_found, so their existence does not leak).
 */
export async function resendPostback(ports: Ports, id: string, accountId: string | undefined, now = Date.now()): Promise<ResendOutcome> {
  const found = await findPostback(ports, id, accountId);
  if (!found) return "not_found";
  const { record, queued } = found;
  if (queued) {
    if (queued.held) return "held";
    if (record?.state === "failed" && (await ports.queue.reschedule(id, now))) return "rescheduled";
    return "pending";
  }
  if (record!.state === "delivered" || record!.state === "cancelled") return record!.state;
  const attempts = record!.attempts.reduce((n, a) => Math.max(n, a.attempt), 0);
  const destinationId = record!.endpoint.destinationId;
  const destination = destinationId === undefined ? undefined : await ports.stores.accounts.getDestination(destinationId);
  await requeue(ports.queue, { id, endpoint: record!.endpoint, data: record!.data, createdAt: record!.createdAt, attempts }, destination);
  return "queued";
}

function settling(queued: QueuedPostback, p: ResendCandidate, now: number): boolean {
  return p.state === "dead" && !queued.held && queued.attempts === p.attempts && queued.dueAt !== null && queued.dueAt > now;
}

export interface ReplayResult {
  /** Queued again or made due now. */
  replayed: number;
  /** Failed in the range but queued or held right now, so not sent again. */
  skipped: number;
}

const REPLAY_PAGE = 500;

export interface ReplayOptions {
  accountId?: string | undefined;
  now?: number;
  /**
   * Called after each postback with how many are done and the total counted at the start (a
   * count costs one query, so only a caller that shows progress asks for it: `ferry replay`).
   */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Sends again every failed or dead postback of the destination created within [from, to).
 * "not_found" when there is no such destination, or (with `accountId`) it is another account's.
 */
export async function replayDestination(
  ports: Ports,
  destinationId: string,
  range: { from: number; to: number },
  options: ReplayOptions = {},
): Promise<ReplayResult | "not_found"> {
  const destination = await ports.stores.accounts.getDestination(destinationId);
  if (!destination || (options.accountId !== undefined && destination.accountId !== options.accountId)) return "not_found";
  const now = options.now ?? Date.now();
  const { onProgress } = options;
  const total = onProgress ? await ports.stores.postbacks.countFailedPostbacks(destinationId, range) : 0;
  const result: ReplayResult = { replayed: 0, skipped: 0 };
  onProgress?.(0, total);
  let after: string | undefined;
  for (;;) {
    const page = await ports.stores.postbacks.listFailedPostbacks(destinationId, range, { after, limit: REPLAY_PAGE });
    for (const p of page) {
      if (await replayOne(ports.queue, p, destination, now)) result.replayed++;
      else result.skipped++;
      // A postback that failed after the count makes done pass total; the display copes.
      onProgress?.(result.replayed + result.skipped, total);
    }
    if (page.length < REPLAY_PAGE) return result;
    after = page[page.length - 1]!.id;
  }
}

/** How long a replay waits for a postback a worker is settling (see replayOne), at the most. */
const SETTLING_WAIT_MS = 2_000;

/** Queues one failed postback again, or makes its retry due now; false when it is queued or held. */
async function replayOne(queue: Queue, p: ResendCandidate, destination: Destination, now: number): Promise<boolean> {
  let queued = await queue.find(p.id);
  // A worker records a postback's last attempt in the store before the queue lets go of it. Dead
  // in the store, still leased for the attempt the store holds: it is leaving the queue right
  // now, and a replay that skipped it would miss it. Wait for that, briefly. (One queued again
  // and not yet attempted is due, not leased, and is skipped at once.)
  for (let waited = 0; waited < SETTLING_WAIT_MS && queued && settling(queued, p, Date.now()); waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    queued = await queue.find(p.id);
  }
  if (!queued) {
    await requeue(queue, p, destination);
    return true;
  }
  return !queued.held && p.state === "failed" && (await queue.reschedule(p.id, now));
}
