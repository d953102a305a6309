/**
 * Per-destination limits a destination's owner sets: requests in flight (`concurrency`) and
 * requests per second (`rate_limit`, a token bucket holding one second's worth). Limits are
 * per worker process. A postback over the limit waits here, in its worker slot, but only
 * up to `MAX_WAITING` per destination: the rest go back to the queue for about as long as the
 * line ahead of them takes, so a slow destination cannot take the slots the others need. Nor
 * does a postback wait past its deadline (the latest start that ends its attempt within its
 * lease): it goes back to the queue then, while its lease still holds, rather than be sent
 * after another worker may have reserved it again.
 */
import { BoundedMap } from "../core/bounded-map.js";

const MAX_WAITING = 16;
/** setTimeout's longest delay. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Destinations whose state (in flight, tokens) is kept: far more than a worker has slots. */
const MAX_STATES = 20_000;
/** A postback that reached its deadline waiting goes back to the queue for this long. */
const DEADLINE_DELAY = 100;

interface State {
  id: string;
  inFlight: number;
  tokens: number;
  refilledAt: number;
  /** Postbacks waiting here, woken by a release or a timer. */
  waiting: Array<() => void>;
}

export interface Limits {
  concurrency: number | null;
  rateLimit: number | null;
}

export class DestinationLimiter {
  private readonly states = new BoundedMap<string, State>(MAX_STATES);

  /**
   * 0 when the postback may be sent now (release it after); else ms to give it back to the
   * queue for. It waits here at most until `deadline`.
   */
  async acquire(id: string, limits: Limits, deadline: number = Infinity): Promise<number> {
    if (limits.concurrency === null && limits.rateLimit === null) return 0;
    const state = this.state(id, limits);
    for (;;) {
      const left = deadline - Date.now();
      if (left < 0) return DEADLINE_DELAY;
      const wait = this.take(state, limits);
      if (wait === 0) return 0;
      if (state.waiting.length >= MAX_WAITING) {
        // Come back once the line ahead has likely gone through.
        const perSecond = Math.min(limits.rateLimit ?? Infinity, (limits.concurrency ?? Infinity) * 10);
        return Math.max(100, Math.ceil(((state.waiting.length + 1) / perSecond) * 1000));
      }
      await new Promise<void>((resolve) => {
        const ms = Math.min(wait, left);
        // Infinity: only a release wakes it (setTimeout would read Infinity as 1 ms).
        const timer = ms === Infinity ? undefined : setTimeout(wake, Math.min(ms, MAX_TIMER_MS));
        function wake() {
          clearTimeout(timer);
          const i = state.waiting.indexOf(wake);
          if (i !== -1) state.waiting.splice(i, 1);
          resolve();
        }
        state.waiting.push(wake);
      });
    }
  }

  release(id: string): void {
    const state = this.states.get(id);
    if (!state) return;
    state.inFlight = Math.max(0, state.inFlight - 1);
    state.waiting[0]?.();
    // Nothing to remember of an idle destination without a rate limit (a bucket refills).
    if (state.inFlight === 0 && state.waiting.length === 0 && state.tokens === Infinity) this.states.delete(id);
  }

  /** Takes a slot and a token if both are free: 0; else how long until one might be (Infinity: a release). */
  private take(state: State, limits: Limits): number {
    const now = Date.now();
    if (limits.rateLimit !== null) {
      const capacity = Math.max(1, limits.rateLimit);
      state.tokens = Math.min(capacity, state.tokens + ((now - state.refilledAt) / 1000) * limits.rateLimit);
      state.refilledAt = now;
    }
    if (limits.concurrency !== null && state.inFlight >= limits.concurrency) return Infinity;
    if (limits.rateLimit !== null) {
      if (state.tokens < 1) return Math.max(1, Math.ceil(((1 - state.tokens) / limits.rateLimit) * 1000));
      state.tokens -= 1;
    }
    // Set again when it becomes busy, so the map's oldest (dropped first) is an idle one.
    if (state.inFlight++ === 0) this.states.set(state.id, state);
    return 0;
  }

  private state(id: string, limits: Limits): State {
    let state = this.states.get(id);
    if (!state) {
      state = { id, inFlight: 0, tokens: limits.rateLimit === null ? Infinity : Math.max(1, limits.rateLimit), refilledAt: Date.now(), waiting: [] };
      this.states.set(id, state);
    }
    return state;
  }
}
