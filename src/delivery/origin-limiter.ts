/**
 * Bounds the requests in flight to one origin, so a slow or dead partner holds at most its own
 * share of a worker's slots. A postback that finds its origin full waits in that origin's line;
 * when the line is full too, the caller gives it back to the queue for later instead of
 * holding a slot another origin could use.
 */
export class OriginLimiter {
  private readonly origins = new Map<string, { active: number; line: Array<(ok: boolean) => void> }>();

  constructor(private readonly perOrigin: number) {}

  /** Origins with requests in flight or waiting. */
  get size(): number {
    return this.origins.size;
  }

  /**
   * Resolves true when a slot is taken (give it back with `release`), false when more than
   * `maxWaiting` already wait for this origin, or when waiting was cut short by `rejectWaiting`.
   */
  acquire(origin: string, maxWaiting: number): Promise<boolean> | boolean {
    let state = this.origins.get(origin);
    if (!state) {
      state = { active: 0, line: [] };
      this.origins.set(origin, state);
    }
    if (state.active < this.perOrigin) {
      state.active++;
      return true;
    }
    if (state.line.length >= maxWaiting) return false;
    const line = state.line;
    return new Promise((resolve) => line.push(resolve));
  }

  release(origin: string): void {
    const state = this.origins.get(origin);
    if (!state) return;
    const next = state.line.shift();
    if (next) {
      next(true); // the slot passes straight to the next in line
      return;
    }
    state.active--;
    if (state.active === 0) this.origins.delete(origin);
  }

  /** Turns every waiter away (shutdown). */
  rejectWaiting(): void {
    for (const state of this.origins.values()) {
      for (const waiter of state.line.splice(0)) waiter(false);
    }
  }
}
