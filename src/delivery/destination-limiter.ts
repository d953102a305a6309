/**
 * Per-destination limits a destination's owner sets: requests in flight (`concurrency`) and
 * requests per second (`rate_limit`, a token bucket holding one second's worth). Limits are
 * per worker process. A postback over the limit waits here, holding its worker slot, but only
 * up to `MAX_WAITING` per destination: the rest go back to the queue for about as long as the
 * line ahead of them takes, so a slow destination cannot take the slots the others need.
 */
const MAX_WAITING = 16;

interface State {
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
  private readonly states = new Map<string, State>();

  /** 0 when the postback may be sent now (release it after); else ms to give it back to the queue for. */
  async acquire(id: string, limits: Limits): Promise<number> {
    if (limits.concurrency === null && limits.rateLimit === null) return 0;
    const state = this.state(id, limits);
    for (;;) {
      const wait = this.take(state, limits);
      if (wait === 0) return 0;
      if (state.waiting.length >= MAX_WAITING) {
        // Come back once the line ahead has likely gone through.
        const perSecond = Math.min(limits.rateLimit ?? Infinity, (limits.concurrency ?? Infinity) * 10);
        return Math.max(100, Math.ceil(((state.waiting.length + 1) / perSecond) * 1000));
      }
      await new Promise<void>((resolve) => {
        const timer = wait === Infinity ? undefined : setTimeout(wake, wait);
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
    if (state.inFlight === 0 && state.waiting.length === 0 && this.states.size > 1000) this.states.delete(id);
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
    state.inFlight++;
    return 0;
  }

  private state(id: string, limits: Limits): State {
    let state = this.states.get(id);
    if (!state) {
      state = { inFlight: 0, tokens: Math.max(1, limits.rateLimit ?? 1), refilledAt: Date.now(), waiting: [] };
      this.states.set(id, state);
    }
    return state;
  }
}
