/**
 * Rate-limits a log line per key (an origin, a destination): what a partner does on every
 * attempt (a garbage Retry-After, a limit that keeps dropping) is logged once per period,
 * with how many times it happened meanwhile, not once per attempt. Bounded: at most `max` keys.
 */
import { BoundedMap } from "../core/bounded-map.js";

export class LogEvery {
  /** Per key: when it was last logged, and times it happened since. */
  private readonly seen: BoundedMap<string, { at: number; count: number }>;

  constructor(
    private readonly periodMs: number,
    max = 10_000,
  ) {
    this.seen = new BoundedMap(max);
  }

  /**
   * Undefined when `key` was logged within the period (counted); else how many times it
   * happened since it was last logged, this one included: log it now.
   */
  due(key: string, now: number = Date.now()): number | undefined {
    const entry = this.seen.get(key, now);
    if (entry && now - entry.at < this.periodMs) {
      entry.count++;
      return undefined;
    }
    this.seen.set(key, { at: now, count: 0 }, now);
    return (entry?.count ?? 0) + 1;
  }
}
