/**
 * Endpoint health: how failed attempts to a destination count towards disabling it. Both SQL
 * stores read a destination's state under its row lock (or a write transaction), count each
 * failure here, and write the result back, so every backend disables at the same failure.
 */

/** A failed attempt to a destination, counted towards disabling it. */
export interface DestinationFailure {
  destinationId: string;
  /** ms since the epoch */
  at: number;
  /** Failures within the window that disable the destination; 0 = never. */
  threshold: number;
  /** 0 = failures count forever. */
  windowMs: number;
}

/** What one destination's endpoint health holds: whether it is enabled, and its counted failures. */
export interface HealthState {
  enabled: boolean;
  /** Times of the failures counted, oldest first; at most `threshold` of them. */
  failures: number[];
}

/**
 * Counts one failure. Failures older than the window (measured back from the newest one) stop
 * counting; reaching the threshold disables an enabled destination and clears its count.
 * Returns the new state and, when this failure disabled it, the reason to record. When the
 * failure is not counted at all, the state returned is the one passed in (the same object).
 */
export function countFailure(state: HealthState, failure: DestinationFailure): { state: HealthState; disabledReason?: string } {
  // A disabled destination, or one that is never disabled, counts nothing: enabling clears
  // the count anyway.
  if (!state.enabled || failure.threshold <= 0) return { state };
  let failures = [...state.failures, failure.at].sort((a, b) => a - b);
  if (failure.windowMs > 0) {
    const since = failures[failures.length - 1]! - failure.windowMs;
    failures = failures.filter((at) => at >= since);
  }
  failures = failures.slice(-failure.threshold);
  if (failures.length < failure.threshold) return { state: { enabled: true, failures } };
  return { state: { enabled: false, failures: [] }, disabledReason: failureReason(failure.threshold, failure.windowMs) };
}

/** Why endpoint health disabled a destination, e.g. "3 failed attempts within 1h". */
export function failureReason(threshold: number, windowMs: number): string {
  const attempts = `${threshold} failed attempt${threshold === 1 ? "" : "s"}`;
  return windowMs > 0 ? `${attempts} within ${duration(windowMs)}` : attempts;
}

const UNITS: [string, number][] = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1_000],
];

/** 3600000 → "1h", 5400000 → "90m", 1500 → "1500ms": the largest unit that divides it. */
export function duration(ms: number): string {
  for (const [unit, size] of UNITS) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
