/**
 * Bounds the requests in flight to one origin, so a slow or dead partner takes at most its own
 * share of a worker's slots. A postback that finds its origin full waits in that origin's line.
 * The limiter turns a postback away (the caller gives it back to the queue, not an attempt)
 * when waiting would not pay off:
 *
 * - Its lease: a postback must start early enough that its attempt ends before its lease does,
 *   or another worker may reserve and send it too. So it leaves the line at its deadline (that
 *   alone keeps it from being sent twice), and it only joins a line it would likely get through
 *   in time: each request ahead counted at twice the origin's recent answer time (the full
 *   timeout until it has answered). Counting the full timeout for a partner that answers in
 *   milliseconds turned away most of a busy worker's line, and the churn of giving postbacks
 *   back and reserving them again cost a third of the throughput.
 * - Health. An origin is `unproven` until it first answers: it gets one request at a time (a
 *   probe), and all probes together at most `PROBE_SHARE` of the slots. It is `struggling` when
 *   its last request timed out, or when it has requests out and has not answered for `stallMs`:
 *   it keeps no line, and all struggling origins together take at most `STRUGGLING_SHARE` of the
 *   slots. So however many partners hang, healthy origins keep the rest of the slots, and a new
 *   origin still gets its first request through.
 * - Pacing (issue 14, src/core/aimd.ts): an origin's requests in flight are bounded by its own
 *   limit, `perOrigin` at first, halved (down to 1) by each timeout, connection error, 429 or
 *   503, and grown back by one per `limit` successes. A partner that is down holds one slot,
 *   not `perOrigin`; one that recovers is not stampeded. The limit is remembered while the
 *   origin is idle, as its health is. What an origin holds (in flight and waiting) is bounded
 *   by its fair share of the slots (at least two rounds of its own limit).
 */
import { BoundedMap } from "../core/bounded-map.js";
import { adapt, aimd, type Aimd, type Congestion, type Signal } from "../core/aimd.js";
import { SECOND } from "../core/time.js";

/** Of the worker's slots, the most all struggling origins together may take. */
export const STRUGGLING_SHARE = 0.25;
/** Of the worker's slots, the most all unproven origins (none has answered yet) together may take. */
export const UNPROVEN_SHARE = 0.25;
/** Turned away because the line is full or too long for the lease: back to the queue for this long. */
export const BUSY_ORIGIN_DELAY = 1 * SECOND;
/**
 * A postback to a new origin over the unproven share comes back this soon: a healthy origin
 * answers its first requests within milliseconds, a hung one is known to hang after one timeout.
 */
export const UNPROVEN_DELAY = 250;
/** Idle origins remembered (answered, or timed out last), and for how long. */
const REMEMBERED = 10_000;
const REMEMBER_MS = 10 * 60 * SECOND;

export interface OriginLimiterOptions {
  /** Requests in flight to one healthy origin. */
  perOrigin: number;
  /** The worker's slots (postbacks it has at once). */
  slots: number;
  /** A proven origin with requests out and no answer for this long is struggling. */
  stallMs: number;
  /** Told when an origin's limit changes (for the log); not called when it stays the same. */
  onPace?: ((origin: string, from: Aimd, to: Aimd, signal: Signal) => void) | undefined;
}

/** 0: the slot is taken (give it back with `release`); else give the postback back to the queue for that many ms. */
export type Admission = number;

/**
 * How a request ended, for the origin's health and its pacing: "answered" (a response that
 * shows no overload), one of the signs of overload (Congestion: "timeout", "connection_error",
 * "throttled" = 429 or 503), or "aborted" (shutdown; says nothing of the origin).
 */
export type Ended = "answered" | Congestion | "aborted";

export type Health = "healthy" | "unproven" | "struggling";

interface Waiter {
  admit: (admission: Admission) => void;
  /** Latest time the postback may start. */
  deadline: number;
  timer: NodeJS.Timeout | undefined;
}

interface Origin {
  active: number;
  line: Waiter[];
  /** It has answered (since it was last forgotten). */
  answered: boolean;
  /** Its last request timed out, and none answered since. */
  timedOut: boolean;
  /** When it last answered, or went from idle to busy. */
  progressAt: number;
  /** Its recent answer time in ms (rises at once, falls slowly); undefined until it answers. */
  answerMs: number | undefined;
  /** Requests it may have in flight now (AIMD). */
  pace: Aimd;
}

/** What is remembered of an idle origin. */
interface Known {
  last: "answered" | "timedOut";
  answerMs: number | undefined;
  pace: Aimd;
}

export class OriginLimiter {
  /** Origins with requests in flight or waiting: at most one per slot. */
  private readonly origins = new Map<string, Origin>();
  /** What is known of idle origins. */
  private readonly known = new BoundedMap<string, Known>(REMEMBERED, REMEMBER_MS);
  private readonly strugglingCap: number;
  private readonly unprovenCap: number;

  constructor(private readonly o: OriginLimiterOptions) {
    this.strugglingCap = Math.max(1, Math.floor(o.slots * STRUGGLING_SHARE));
    this.unprovenCap = Math.max(1, Math.floor(o.slots * UNPROVEN_SHARE));
  }

  /** Origins with requests in flight or waiting. */
  get size(): number {
    return this.origins.size;
  }

  /** Origins (busy, or idle and remembered) whose limit is below `perOrigin` now: for a gauge. */
  belowFull(now: number = Date.now()): number {
    let n = 0;
    for (const state of this.origins.values()) if (state.pace.limit < state.pace.max) n++;
    for (const known of this.known.values(now)) if (known.pace.limit < known.pace.max) n++;
    return n;
  }

  /** Requests the origin may have in flight now. */
  limitOf(origin: string, now: number = Date.now()): number {
    return (this.origins.get(origin) ?? this.known.get(origin, now))?.pace.limit ?? this.o.perOrigin;
  }

  /**
   * Asks for a slot to `origin` for a postback that must start by `deadline` and may take
   * `timeoutMs`. Synchronous unless it waits in the line.
   */
  acquire(origin: string, deadline: number, timeoutMs: number, now: number = Date.now()): Admission | Promise<Admission> {
    const state = this.origins.get(origin) ?? this.create(origin, now);
    if (now > deadline) return this.refuse(origin, state, BUSY_ORIGIN_DELAY);
    const health = this.health(state, now);
    const limit = state.pace.limit;
    if (health === "struggling") {
      // Come back once the requests out there have likely ended.
      if (state.active >= limit || this.occupiedBy("struggling", now) >= this.strugglingCap) return this.refuse(origin, state, timeoutMs);
    } else {
      if (health === "unproven" && this.occupiedBy("unproven", now) >= this.unprovenCap) return this.refuse(origin, state, UNPROVEN_DELAY);
      if (state.active >= limit) return this.fitsInLine(state, deadline, timeoutMs, now) ? this.wait(state, deadline, now) : BUSY_ORIGIN_DELAY;
    }
    state.active++;
    return 0;
  }

  /**
   * Gives the slot back; those next in line that can still start in time get the free slots.
   * `durationMs`: how long the request took, when it was answered.
   */
  release(origin: string, ended: Ended, now: number = Date.now(), durationMs?: number): void {
    const state = this.origins.get(origin);
    if (!state) return;
    if (ended !== "timeout" && ended !== "aborted") {
      // It ended in time (an answer, even 429 or 503, or a quick connection error): not hung.
      state.answered = true;
      state.timedOut = false;
      state.progressAt = now;
      if (durationMs !== undefined) {
        const was = state.answerMs;
        state.answerMs = was === undefined || durationMs > was ? durationMs : was * 0.9 + durationMs * 0.1;
      }
    } else if (ended === "timeout") {
      state.timedOut = true;
    }
    if (ended !== "aborted") this.adapt(origin, state, ended === "answered" ? "success" : ended);
    state.active--;
    const health = this.health(state, now);
    // A struggling origin keeps no line: those waiting would most likely time out as well.
    if (health === "struggling") this.turnAway(state);
    const limit = health === "struggling" ? 0 : state.pace.limit;
    while (state.active < limit && state.line.length > 0) {
      const next = state.line.shift()!;
      clearTimeout(next.timer);
      if (now > next.deadline) {
        next.admit(BUSY_ORIGIN_DELAY);
        continue;
      }
      state.active++;
      next.admit(0);
    }
    if (state.active === 0 && state.line.length === 0) this.forget(origin, state, now);
  }

  /** Turns every waiter away (shutdown). */
  rejectWaiting(): void {
    for (const state of this.origins.values()) this.turnAway(state);
  }

  /** The origin's health as the limiter sees it now. */
  healthOf(origin: string, now: number = Date.now()): Health {
    const state = this.origins.get(origin);
    if (state) return this.health(state, now);
    const known = this.known.get(origin, now)?.last;
    return known === "timedOut" ? "struggling" : known === "answered" ? "healthy" : "unproven";
  }

  private adapt(origin: string, state: Origin, signal: Signal): void {
    const from = state.pace;
    state.pace = adapt(from, signal);
    if (state.pace.limit !== from.limit) this.o.onPace?.(origin, from, state.pace, signal);
  }

  private create(origin: string, now: number): Origin {
    const known = this.known.get(origin, now);
    // Kept in `origins` while busy, in `known` once idle: never in both (belowFull counts each once).
    if (known) this.known.delete(origin);
    const state: Origin = {
      active: 0,
      line: [],
      answered: known?.last === "answered",
      timedOut: known?.last === "timedOut",
      progressAt: now,
      answerMs: known?.answerMs,
      pace: known?.pace ?? aimd(this.o.perOrigin),
    };
    this.origins.set(origin, state);
    return state;
  }

  private health(state: Origin, now: number): Health {
    if (state.timedOut) return "struggling";
    if (!state.answered) return "unproven";
    return state.active > 0 && now - state.progressAt > this.o.stallMs ? "struggling" : "healthy";
  }

  /** Slots taken (in flight and waiting) by all origins of this health. At most one origin per slot. */
  private occupiedBy(health: Health, now: number): number {
    let taken = 0;
    for (const state of this.origins.values()) if (this.health(state, now) === health) taken += state.active + state.line.length;
    return taken;
  }

  /**
   * Whether a postback joining the line would likely still start by its deadline (each round of
   * requests ahead counted at twice the origin's recent answer time, at most the timeout), and
   * what the origin holds (in flight and waiting) stays within its fair share of the slots
   * struggling origins leave (at least two rounds of its own limit: one busy partner alone can
   * use them all).
   */
  private fitsInLine(state: Origin, deadline: number, timeoutMs: number, now: number): boolean {
    const limit = state.pace.limit;
    const rounds = Math.ceil((state.line.length + 1) / limit);
    const roundMs = state.answerMs === undefined ? timeoutMs : Math.min(timeoutMs, 2 * state.answerMs);
    if (now + rounds * roundMs > deadline) return false;
    if (state.line.length < limit) return true;
    let others = 0;
    for (const s of this.origins.values()) if (this.health(s, now) !== "struggling") others++;
    const share = Math.floor(this.o.slots / Math.max(1, others));
    return state.active + state.line.length < share;
  }

  private wait(state: Origin, deadline: number, now: number): Promise<Admission> {
    return new Promise((admit) => {
      const waiter: Waiter = { admit, deadline, timer: undefined };
      state.line.push(waiter);
      this.watch(state, waiter, now);
    });
  }

  /**
   * Checks on a waiter at its deadline, or sooner (every `stallMs`) in case its origin stops
   * answering: it leaves the line then, while its lease still holds, rather than keep a slot.
   */
  private watch(state: Origin, waiter: Waiter, now: number): void {
    waiter.timer = setTimeout(() => {
      const at = Date.now();
      // No answer for stallMs while the waiter's origin has requests out: it is struggling.
      if (at < waiter.deadline && at - state.progressAt <= this.o.stallMs) {
        this.watch(state, waiter, at);
        return;
      }
      const i = state.line.indexOf(waiter);
      if (i !== -1) state.line.splice(i, 1);
      waiter.admit(BUSY_ORIGIN_DELAY);
    }, Math.max(0, Math.min(waiter.deadline - now, this.o.stallMs)));
  }

  private refuse(origin: string, state: Origin, delay: number): Admission {
    if (state.active === 0 && state.line.length === 0) this.forget(origin, state);
    return delay;
  }

  private turnAway(state: Origin): void {
    for (const waiter of state.line.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.admit(BUSY_ORIGIN_DELAY);
    }
  }

  private forget(origin: string, state: Origin, now: number = Date.now()): void {
    this.origins.delete(origin);
    if (state.timedOut) this.known.set(origin, { last: "timedOut", answerMs: state.answerMs, pace: state.pace }, now);
    else if (state.answered) this.known.set(origin, { last: "answered", answerMs: state.answerMs, pace: state.pace }, now);
  }
}
