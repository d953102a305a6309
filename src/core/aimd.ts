/**
 * Adaptive pacing (issue 14): how many requests a partner gets at once, as AIMD (additive
 * increase, multiplicative decrease, TCP's rule). A sign of overload (a timeout, a connection
 * error, 429 or 503) halves the limit, down to 1; successes grow it back by one per `limit`
 * successes (about one per round of requests), up to `max`. So a partner that is down soon
 * holds one slot, not `max`, and one that recovers is given more a little at a time instead
 * of being stampeded. Pure: the limiters keep one state per origin or destination and feed it
 * what each request's end says.
 */
import type { AttemptResult } from "./retry.js";

export interface Aimd {
  /** Requests allowed at once now: 1 ≤ limit ≤ max. */
  readonly limit: number;
  /** The configured concurrency it grows back to. */
  readonly max: number;
  /** Successes counted towards the next increase. */
  readonly successes: number;
}

/** What a request's end says about its partner's load; "success" grows the limit, the rest shrink it. */
export type Signal = "success" | Congestion;
/** The signs of overload, as the metrics and the logs name them. */
export type Congestion = "timeout" | "connection_error" | "throttled";
export const CONGESTION: readonly Congestion[] = ["timeout", "connection_error", "throttled"];

/** A partner with nothing known against it: its full concurrency. */
export function aimd(max: number): Aimd {
  const m = Math.max(1, Math.floor(max));
  return { limit: m, max: m, successes: 0 };
}

/** The state after one request's end. Returns `a` itself when nothing changed. */
export function adapt(a: Aimd, signal: Signal): Aimd {
  if (signal !== "success") {
    const limit = Math.max(1, Math.floor(a.limit / 2));
    return limit === a.limit && a.successes === 0 ? a : { limit, max: a.max, successes: 0 };
  }
  if (a.limit >= a.max) return a;
  const successes = a.successes + 1;
  return successes >= a.limit ? { limit: a.limit + 1, max: a.max, successes: 0 } : { limit: a.limit, max: a.max, successes };
}

/** The same state under a new `max` (its concurrency setting changed): the limit never above it. */
export function withMax(a: Aimd, max: number): Aimd {
  const m = Math.max(1, Math.floor(max));
  if (m === a.max) return a;
  // Raised: keep the reduced limit if reduced (it grows back), else take the new max at once.
  const limit = a.limit >= a.max ? m : Math.min(a.limit, m);
  return { limit, max: m, successes: 0 };
}

/** Connection errors that say the partner cannot take the request now (not a bad URL or certificate). */
const CONNECTION_ERRORS: ReadonlySet<string> = new Set(["connection_refused", "connection_reset", "network_error"]);

/**
 * The overload an attempt's result shows, if any: a timeout, a connection refused or reset,
 * or an answer 429 Too Many Requests or 503 Service Unavailable. Anything else (a 2xx, but also
 * a 4xx or a 500 answered in time) shows a partner that keeps up.
 */
export function congestionOf(result: AttemptResult): Congestion | undefined {
  if (result.kind === "error") {
    if (result.code === "timeout") return "timeout";
    return CONNECTION_ERRORS.has(result.code) ? "connection_error" : undefined;
  }
  return result.status === 429 || result.status === 503 ? "throttled" : undefined;
}
