/**
 * The in-process limit store: the embedded default (`ferry start` on SQLite), where one worker
 * process delivers everything, so its memory is the whole truth. Several worker processes on
 * one SQLite file would each keep their own, so each would send up to the limit: see
 * docs/operations.md ("Destination limits across workers"). Same contract and algorithm as the
 * Redis store (src/limits/port.ts): GCRA for the rate, leases that end by themselves for slots.
 */
import { BoundedMap } from "../core/bounded-map.js";
import { FULL_RETRY_MS, aheadMs, rateToleranceMs, type Acquired, type LimitSettings, type LimitStore } from "./port.js";

/** Destinations whose state is kept: far more than a worker has slots. */
const MAX_STATES = 20_000;

interface State {
  /** lease → when it ends by itself (ms since the epoch). */
  slots: Map<string, number>;
  /** GCRA's theoretical arrival time of the next request (ms since the epoch); 0 when unknown. */
  tat: number;
}

export class MemoryLimitStore implements LimitStore {
  readonly describe = "destination limits in this process";
  private readonly states = new BoundedMap<string, State>(MAX_STATES);
  private leases = 0;

  async acquire(destinationId: string, limits: LimitSettings, leaseMs: number): Promise<Acquired> {
    const now = Date.now();
    let state = this.states.get(destinationId);
    if (!state) {
      state = { slots: new Map(), tat: 0 };
      this.states.set(destinationId, state);
    }
    if (limits.concurrency !== null) {
      let earliest = Infinity;
      for (const [lease, ends] of state.slots) {
        if (ends <= now) state.slots.delete(lease);
        else earliest = Math.min(earliest, ends);
      }
      if (state.slots.size >= limits.concurrency) {
        return { granted: false, retryInMs: Math.max(1, Math.min(FULL_RETRY_MS, Math.ceil(earliest - now))), reason: "concurrency" };
      }
    }
    let sendInMs = 0;
    if (limits.rateLimit !== null) {
      const tat = Math.max(state.tat, now);
      const wait = tat - rateToleranceMs(limits) - now;
      const ahead = aheadMs(limits);
      if (wait > ahead) return { granted: false, retryInMs: Math.max(1, Math.ceil(wait - ahead)), reason: "rate" };
      state.tat = tat + 1000 / limits.rateLimit;
      sendInMs = Math.max(0, Math.ceil(wait));
    }
    if (limits.concurrency === null) return { granted: true, lease: null, sendInMs };
    const lease = String(++this.leases);
    state.slots.set(lease, now + sendInMs + leaseMs);
    return { granted: true, lease, sendInMs };
  }

  async release(destinationId: string, lease: string): Promise<void> {
    const state = this.states.get(destinationId);
    if (!state) return;
    state.slots.delete(lease);
    // Nothing to remember of an idle destination whose rate has caught up.
    if (state.slots.size === 0 && state.tat <= Date.now()) this.states.delete(destinationId);
  }

  async close(): Promise<void> {}
}
