/**
 * Bounds the requests in flight to one origin, so a slow or dead partner holds at most its own
 * share of a worker's slots. A postback that finds its origin full waits in that origin's line.
 * The limiter turns a postback away (the caller gives it back to the queue, not an attempt)
 * when waiting would not pay off:
 *
 * - Its lease: a postback must start early enough that its attempt ends before its lease does,
 *   or another worker may reserve and send it too. So it may only join a line it can get
 *   through in time even if every request ahead takes the full timeout, and it leaves the line
 *   at its deadline.
 * - Struggling origins: one whose last request timed out, or that has requests out and has not
 *   answered for `stallMs`, keeps no line, and all struggling origins together hold at most
 *   `STRUGGLING_SHARE` of the worker's slots, so healthy origins always keep the rest however
 *   many partners hang.
 */
import { BoundedMap } from "../core/bounded-map.js";
import { SECOND } from "../core/time.js";

/** Of the worker's slots, the most all struggling origins together may hold. */
export const STRUGGLING_SHARE = 0.5;
/** Turned away because the line is full or too long for the lease: back to the queue for this long. */
export const BUSY_ORIGIN_DELAY = 1 * SECOND;
/** How many origins whose last request timed out are remembered once idle (and for how long). */
const REMEMBERED = 10_000;
const REMEMBER_MS = 10 * 60 * SECOND;

export interface OriginLimiterOptions {
  /** Requests in flight to one origin. */
  perOrigin: number;
  /** The worker's slots (postbacks it has at once). */
  slots: number;
  /** An origin with requests out and no answer for this long is struggling. */
  stallMs: number;
}

/** 0: the slot is taken (give it back with `release`); else give the postback back to the queue for that many ms. */
export type Admission = number;

/** How a request ended, for the origin's health. */
export type Ended = "answered" | "timeout" | "aborted";

interface Waiter {
  admit: (admission: Admission) => void;
  /** Latest time the postback may start. */
  deadline: number;
  timer: NodeJS.Timeout;
}

interface Origin {
  active: number;
  line: Waiter[];
  /** When it last answered, or went from idle to busy. */
  progressAt: number;
  /** Its last request timed out, and none answered since. */
  timedOut: boolean;
}

export class OriginLimiter {
  /** Origins with requests in flight or waiting: at most one per slot. */
  private readonly origins = new Map<string, Origin>();
  /** Idle origins whose last request timed out: they are struggling when they come back. */
  private readonly timedOut = new BoundedMap<string, true>(REMEMBERED, REMEMBER_MS);
  private readonly strugglingCap: number;

  constructor(private readonly o: OriginLimiterOptions) {
    this.strugglingCap = Math.max(1, Math.floor(o.slots * STRUGGLING_SHARE));
  }

  /** Origins with requests in flight or waiting. */
  get size(): number {
    return this.origins.size;
  }

  /**
   * Asks for a slot to `origin` for a postback that must start by `deadline` and may take
   * `timeoutMs`. Synchronous unless it waits in the line.
   */
  acquire(origin: string, deadline: number, timeoutMs: number, now: number = Date.now()): Admission | Promise<Admission> {
    let state = this.origins.get(origin);
    if (!state) {
      state = { active: 0, line: [], progressAt: now, timedOut: this.timedOut.has(origin, now) };
      this.origins.set(origin, state);
    }
    if (now > deadline) return this.refuse(origin, state, BUSY_ORIGIN_DELAY);
    if (this.struggling(state, now)) {
      // Come back once the requests out there have likely ended.
      if (state.active >= this.o.perOrigin || this.strugglingHeld(now) >= this.strugglingCap) return this.refuse(origin, state, timeoutMs);
      state.active++;
      return 0;
    }
    if (state.active < this.o.perOrigin) {
      state.active++;
      return 0;
    }
    if (!this.fitsInLine(state, deadline, timeoutMs, now)) return BUSY_ORIGIN_DELAY;
    return this.wait(state, deadline, now);
  }

  /** Gives the slot back; the next in line that can still start in time gets it. */
  release(origin: string, ended: Ended, now: number = Date.now()): void {
    const state = this.origins.get(origin);
    if (!state) return;
    if (ended === "answered") {
      state.progressAt = now;
      state.timedOut = false;
    } else if (ended === "timeout") {
      state.timedOut = true;
    }
    // A struggling origin keeps no line: those waiting would most likely time out as well.
    if (this.struggling(state, now)) this.turnAway(state, BUSY_ORIGIN_DELAY);
    for (let next = state.line.shift(); next; next = state.line.shift()) {
      clearTimeout(next.timer);
      if (now <= next.deadline) {
        next.admit(0); // the slot passes straight to the next in line
        return;
      }
      next.admit(BUSY_ORIGIN_DELAY);
    }
    state.active--;
    if (state.active === 0) this.forget(origin, state, now);
  }

  /** Turns every waiter away (shutdown). */
  rejectWaiting(): void {
    for (const state of this.origins.values()) this.turnAway(state, BUSY_ORIGIN_DELAY);
  }

  /** Whether postbacks to this origin now count against the struggling origins' share. */
  isStruggling(origin: string, now: number = Date.now()): boolean {
    const state = this.origins.get(origin);
    return state ? this.struggling(state, now) : this.timedOut.has(origin, now);
  }

  private struggling(state: Origin, now: number): boolean {
    return state.timedOut || (state.active > 0 && now - state.progressAt > this.o.stallMs);
  }

  /** In flight and waiting, all struggling origins together. At most one origin per slot. */
  private strugglingHeld(now: number): number {
    let held = 0;
    for (const state of this.origins.values()) if (this.struggling(state, now)) held += state.active + state.line.length;
    return held;
  }

  /**
   * Whether a postback joining the line would still start by its deadline if every request
   * ahead took the full timeout, and the line is within the origin's fair share of slots (at
   * least two rounds of its own concurrency: one busy partner alone can use them all).
   */
  private fitsInLine(state: Origin, deadline: number, timeoutMs: number, now: number): boolean {
    const perOrigin = this.o.perOrigin;
    const share = Math.floor(this.o.slots / Math.max(1, this.origins.size));
    if (state.line.length >= Math.max(perOrigin, share - perOrigin)) return false;
    const rounds = Math.ceil((state.line.length + 1) / perOrigin);
    return now + rounds * timeoutMs <= deadline;
  }

  private wait(state: Origin, deadline: number, now: number): Promise<Admission> {
    return new Promise((admit) => {
      const waiter: Waiter = {
        admit,
        deadline,
        // Leave the line at the deadline, so the postback goes back while its lease still holds.
        timer: setTimeout(() => {
          const i = state.line.indexOf(waiter);
          if (i !== -1) state.line.splice(i, 1);
          admit(BUSY_ORIGIN_DELAY);
        }, deadline - now),
      };
      state.line.push(waiter);
    });
  }

  private refuse(origin: string, state: Origin, delay: number): Admission {
    if (state.active === 0 && state.line.length === 0) this.origins.delete(origin);
    return delay;
  }

  private turnAway(state: Origin, delay: number): void {
    for (const waiter of state.line.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.admit(delay);
    }
  }

  private forget(origin: string, state: Origin, now: number): void {
    this.origins.delete(origin);
    if (state.timedOut) this.timedOut.set(origin, true, now);
    else this.timedOut.delete(origin);
  }
}
