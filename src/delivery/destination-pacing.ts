/**
 * Adaptive pacing per destination (issue 14): the AIMD rule of src/core/aimd.ts, kept per
 * destination id in this worker. Its limit starts at the destination's concurrency (or, when
 * it sets none, FERRY_ORIGIN_CONCURRENCY), is halved by each timeout, connection error, 429
 * or 503, and grows back by one per `limit` successes. Apart from the origin's pacing: several
 * destinations often share one origin (a partner's host), and one of them may be overloaded
 * (a slow account behind it) while the others are fine.
 *
 * A small gate: while a destination is below its full limit and has `limit` requests out, a
 * postback waits (at most LINE_ROUNDS rounds of its limit, and never past its deadline, the
 * latest start its lease allows), and beyond that goes back to the queue for PACED_DELAY (not
 * an attempt). At its full limit it never holds one back: then the destination's own limits
 * and the origin's line decide, as before pacing, so a healthy destination pays nothing. Called by the worker next
 * to the destination limiter (src/delivery/destination-limiter.ts), not inside it: that one
 * holds the owner's settings (cluster-wide), this one what this worker has seen of the partner.
 */
import { BoundedMap } from "../core/bounded-map.js";
import { adapt, aimd, withMax, type Aimd, type Signal } from "../core/aimd.js";
import { SECOND } from "../core/time.js";
import type { Ended } from "./origin-limiter.js";

/** A postback turned away by a paced destination comes back this soon. */
export const PACED_DELAY = 1 * SECOND;
/** Postbacks that may wait at a paced destination: this many rounds of its limit. */
const LINE_ROUNDS = 2;
/** Destinations whose pacing is remembered, and for how long after their last request. */
const REMEMBERED = 20_000;
const REMEMBER_MS = 10 * 60 * SECOND;

interface Waiter {
  admit: (go: boolean) => void;
  timer: NodeJS.Timeout;
}

interface State {
  pace: Aimd;
  inFlight: number;
  line: Waiter[];
}

export interface DestinationPacingOptions {
  /** Told when a destination's limit changes (for the log). */
  onPace?: ((destinationId: string, from: Aimd, to: Aimd, signal: Signal) => void) | undefined;
}

export class DestinationPacing {
  private readonly states = new BoundedMap<string, State>(REMEMBERED, REMEMBER_MS);

  constructor(private readonly o: DestinationPacingOptions = {}) {}

  /**
   * True: send it (and `release` after); false: give it back to the queue for PACED_DELAY.
   * Synchronous unless it waits, at most until `deadline`.
   */
  acquire(id: string, max: number, deadline: number, now: number = Date.now()): boolean | Promise<boolean> {
    let state = this.states.get(id, now);
    if (state) state.pace = withMax(state.pace, max);
    else state = { pace: aimd(max), inFlight: 0, line: [] };
    // Set again on each request: the map's oldest (dropped first) is the one idle longest.
    this.states.set(id, state, now);
    if (!this.full(state)) {
      state.inFlight++;
      return true;
    }
    if (state.line.length >= LINE_ROUNDS * state.pace.limit || deadline <= now) return false;
    const line = state.line;
    return new Promise((admit) => {
      const waiter: Waiter = {
        admit,
        timer: setTimeout(() => {
          const i = line.indexOf(waiter);
          if (i !== -1) line.splice(i, 1);
          admit(false);
        }, deadline - now),
      };
      line.push(waiter);
    });
  }

  /** The request ended (or was not sent: "aborted"); its end adapts the limit. */
  release(id: string, ended: Ended, now: number = Date.now()): void {
    const state = this.states.get(id, now);
    if (!state) return;
    state.inFlight = Math.max(0, state.inFlight - 1);
    if (ended !== "aborted") {
      const from = state.pace;
      const signal: Signal = ended === "answered" ? "success" : ended;
      state.pace = adapt(from, signal);
      if (state.pace.limit !== from.limit) this.o.onPace?.(id, from, state.pace, signal);
    }
    while (state.line.length > 0 && !this.full(state)) {
      const next = state.line.shift()!;
      clearTimeout(next.timer);
      state.inFlight++;
      next.admit(true);
    }
  }

  /** Turns every waiter away (shutdown). */
  rejectWaiting(): void {
    for (const state of this.states.values()) {
      for (const waiter of state.line.splice(0)) {
        clearTimeout(waiter.timer);
        waiter.admit(false);
      }
    }
  }

  /** Whether it is paced below its full limit and has that many requests out. */
  private full(state: State): boolean {
    return state.pace.limit < state.pace.max && state.inFlight >= state.pace.limit;
  }

  /** Requests the destination may have in flight now (`max` if nothing is known against it). */
  limitOf(id: string, max: number, now: number = Date.now()): number {
    return this.states.get(id, now)?.pace.limit ?? max;
  }

  /** Destinations whose limit is below their full concurrency now: for a gauge. */
  belowFull(now: number = Date.now()): number {
    let n = 0;
    for (const state of this.states.values(now)) if (state.pace.limit < state.pace.max) n++;
    return n;
  }
}
