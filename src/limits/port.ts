/**
 * The limit store port: where a destination's `concurrency` slots and `rate_limit` tokens are
 * kept, so that they hold across every worker process that shares the store (issue 14).
 * In Ferry's words: a worker asks to *acquire* a slot and a token for a destination; it is
 * *granted* one (with a lease it *releases* after the send), or told to *ask again in N ms*.
 *
 * Adapters: src/limits/memory.ts (the embedded default: one process; its limits are that
 * process's own) and src/limits/redis.ts (every worker on one Redis shares them). The shared
 * conformance suite is test/conformance/limits.ts.
 *
 * Contract:
 * - Rate: GCRA. `rateLimit` requests per second on average, never more over any window; up to
 *   `rateLimitBurst` (null = 1) may go at once after an idle spell, else requests are spaced
 *   1/rateLimit s apart. A grant may be for a moment just ahead (`sendInMs`, at most
 *   `aheadMs`): the store keeps the schedule, so a waiter whose timer fires late delays only
 *   its own request, never the ones after it (strict GCRA would count lateness as lost rate:
 *   at 20/s, 5 ms late per request is 10% less).
 * - Concurrency: at most `concurrency` leases held at once. A lease ends at `release`, or by
 *   itself `leaseMs` after it was granted (a killed worker's slots come back).
 * - A refusal takes nothing: no token is spent when the slots are full, and no slot is held
 *   when the rate says wait.
 * - One round trip per acquire; callers keep their own line of waiters (only its head asks).
 */

/** A destination's limits as its owner set them; at least one is not null when a store is asked. */
export interface LimitSettings {
  /** Requests per second, at least 0.001; null for none. */
  rateLimit: number | null;
  /** Requests at once above the rate; null = 1 (evenly spaced). */
  rateLimitBurst: number | null;
  /** Requests in flight at most; null for none. */
  concurrency: number | null;
}

export type Acquired =
  /**
   * Send in `sendInMs` (0: now), the rate's place kept for it. `lease` names the slot to release
   * after the send; null when no slot was taken (no concurrency limit).
   */
  | { granted: true; lease: string | null; sendInMs: number }
  /** Ask again in `retryInMs`: the slots are full ("concurrency") or the rate says wait ("rate"). */
  | { granted: false; retryInMs: number; reason: "concurrency" | "rate" };

export interface LimitStore {
  /** Takes a slot and a token for `destinationId` if both are free; a slot lasts `leaseMs` at most. */
  acquire(destinationId: string, limits: LimitSettings, leaseMs: number): Promise<Acquired>;
  /** Gives a slot back before its lease ends; a lease already gone changes nothing. */
  release(destinationId: string, lease: string): Promise<void>;
  /** What runs where, for the start-up line. */
  readonly describe: string;
  close(): Promise<void>;
}

/** GCRA's tolerance in ms: how far ahead of the schedule a request may go (the burst). */
export function rateToleranceMs(limits: Pick<LimitSettings, "rateLimit" | "rateLimitBurst">): number {
  return ((limits.rateLimitBurst ?? 1) - 1) * (1000 / (limits.rateLimit ?? Infinity));
}

/**
 * How far ahead a grant may be: one interval between requests, so that the next head asking
 * as soon as the previous grant is handed out gets its place (10 ms at least, for fast rates;
 * 1 s at most: beyond that it is told to ask again).
 */
export function aheadMs(limits: Pick<LimitSettings, "rateLimit">): number {
  return Math.min(1000, Math.max(10, 1000 / (limits.rateLimit ?? Infinity)));
}

/**
 * How long to wait before asking again when the slots are full: a slot is usually freed by a
 * send ending (milliseconds to seconds), which a waiter in another process cannot hear of.
 * Short enough that a freed slot is soon used, long enough that the heads of the lines (one
 * per destination per worker) ask at most 40 times a second each.
 */
export const FULL_RETRY_MS = 25;
