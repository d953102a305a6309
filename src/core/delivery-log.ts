/**
 * The delivery log's rules, shared by both stores and the API: how a time becomes an id bound
 * (ids are ULIDs, so a time range is an id range and stays on an index), the roll-up buckets
 * an attempt counts in, and latency percentiles from a roll-up's fixed histogram.
 */
import type { PostbackState } from "./types.js";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/**
 * The smallest postback id made at `ms` or later: `pb_` + the 10-character ULID time + zeros.
 * Every id made at `ms` sorts at or after it; every one made earlier before it. A postback's id
 * carries its creation time (an event's postback: the event's arrival), so `since`/`until`
 * become id bounds on the same index as the listing's order.
 */
export function postbackIdAt(ms: number): string {
  let t = Math.max(0, Math.min(Math.floor(ms), 2 ** 48 - 1));
  let time = "";
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  return "pb_" + time + "0000000000000000";
}

/** What an attempt (or a settle) counts as in the roll-ups. */
export type Outcome = "delivered" | "retry" | "dead" | "cancelled" | "held";
export const OUTCOMES: readonly Outcome[] = ["delivered", "retry", "dead", "cancelled", "held"];

/** The roll-up outcome of an attempt that left its postback in `state`. */
export function outcomeOf(state: Exclude<PostbackState, "pending">): Outcome {
  return state === "failed" ? "retry" : state;
}

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
/** The start of the roll-up minute holding `ms`. */
export const minuteOf = (ms: number): number => ms - (((ms % MINUTE_MS) + MINUTE_MS) % MINUTE_MS);

/**
 * Upper bounds (ms, inclusive) of the latency histogram's buckets; one more bucket holds what
 * is slower than the last. Fixed, so roll-ups add up by column across minutes and destinations.
 */
export const LATENCY_BOUNDS: readonly number[] = [10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000];
/** What the last (open) bucket reports: the longest timeout Ferry allows (5 min). */
const LAST_BUCKET_MS = 300_000;
export const LATENCY_BUCKETS = LATENCY_BOUNDS.length + 1;

/** The histogram bucket an attempt's duration falls in. */
export function latencyBucket(durationMs: number): number {
  for (let i = 0; i < LATENCY_BOUNDS.length; i++) if (durationMs <= LATENCY_BOUNDS[i]!) return i;
  return LATENCY_BOUNDS.length;
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

/**
 * p50/p95/p99 from bucket counts: the upper bound of the bucket the rank falls in (so a
 * percentile is never reported faster than it was), or null when nothing was counted.
 */
export function percentiles(counts: readonly number[]): Percentiles | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const at = (p: number): number => {
    const rank = Math.ceil(p * total);
    let seen = 0;
    for (let i = 0; i < counts.length; i++) {
      seen += counts[i]!;
      if (seen >= rank) return i < LATENCY_BOUNDS.length ? LATENCY_BOUNDS[i]! : LAST_BUCKET_MS;
    }
    return LAST_BUCKET_MS;
  };
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}

/** One roll-up row's worth of counts, as the stores add them up. */
export interface RollupCounts {
  delivered: number;
  retry: number;
  dead: number;
  cancelled: number;
  held: number;
  /** LATENCY_BUCKETS counts. */
  latency: number[];
}

export const emptyCounts = (): RollupCounts => ({ delivered: 0, retry: 0, dead: 0, cancelled: 0, held: 0, latency: new Array(LATENCY_BUCKETS).fill(0) });

/** A roll-up key: destination ("" for an inline endpoint), its account ("" for none), minute. */
export interface RollupKey {
  destinationId: string;
  accountId: string;
  minute: number;
}

/** A roll-up row to add: its key, counts, and the last error seen in it. */
export interface RollupDelta extends RollupKey, RollupCounts {
  lastError: { at: number; statusCode: number | null; error: string | null } | null;
}

/** Adds records up per (destination, minute), so a batch writes each roll-up row once. */
export class RollupBatch {
  private readonly rows = new Map<string, RollupDelta>();

  add(key: { destinationId: string | undefined; accountId: string | undefined; at: number }, outcome: Outcome, durationMs: number | null, error: { statusCode: number | null; error: string | null } | null): void {
    const minute = minuteOf(key.at);
    const destinationId = key.destinationId ?? "";
    const k = `${destinationId}\n${minute}`;
    let row = this.rows.get(k);
    if (!row) {
      row = { destinationId, accountId: key.accountId ?? "", minute, ...emptyCounts(), lastError: null };
      this.rows.set(k, row);
    }
    row[outcome] += 1;
    if (durationMs !== null) row.latency[latencyBucket(durationMs)]! += 1;
    if (error && (!row.lastError || key.at >= row.lastError.at)) row.lastError = { at: key.at, ...error };
  }

  /** The rows in key order, so concurrent writers lock them in the same order. */
  list(): RollupDelta[] {
    return [...this.rows.values()].sort((a, b) => (a.destinationId < b.destinationId ? -1 : a.destinationId > b.destinationId ? 1 : a.minute - b.minute));
  }
}

/** The minute rows added up per destination and hour: what the hourly roll-ups get. */
export function hourRows(rows: readonly RollupDelta[]): RollupDelta[] {
  const out = new Map<string, RollupDelta>();
  for (const r of rows) {
    const hour = r.minute - (((r.minute % HOUR_MS) + HOUR_MS) % HOUR_MS);
    const k = `${r.destinationId}\n${hour}`;
    let h = out.get(k);
    if (!h) {
      h = { destinationId: r.destinationId, accountId: r.accountId, minute: hour, ...emptyCounts(), lastError: null };
      out.set(k, h);
    }
    for (const o of OUTCOMES) h[o] += r[o];
    r.latency.forEach((n, i) => (h!.latency[i]! += n));
    if (r.lastError && (!h.lastError || r.lastError.at >= h.lastError.at)) h.lastError = r.lastError;
  }
  return [...out.values()];
}
