/**
 * `ferry.eventSender()`: many small `send(event)` calls become few `POST /v1/events` batches.
 *
 * Invariants:
 * - Every event gets a client `id` before it is buffered (unless it has one): Ferry stores an id
 *   once per account and answers a repeat with the first event's id and `created: false`, so a
 *   batch resent after a lost answer (Ferry killed mid-request) is never stored twice.
 * - One batch is in flight at a time, in the order sent; the memory bound counts it too.
 * - Every event ends in exactly one of: acknowledged (stored or a repeat), rejected (Ferry's
 *   per-event errors), failed (a final error or attempts used up), dropped (buffer full in
 *   "drop" mode). Rejected and failed ones go to `onRejected`; all four are counted in stats().
 * - Only answers that say "try again" are retried: network errors, 408, 429, 502–504 and 409
 *   idempotency_key_in_use; any other 4xx is final for the batch.
 */
import { FerryError, FerryNetworkError } from "./errors.js";
import type { Events } from "./client.js";
import type { EventError, EventInput, EventOutcome } from "./types.js";

export interface EventSenderOptions {
  /** Events per request, at most Ferry's FERRY_MAX_BATCH (1000 by default). Default 100. */
  maxBatch?: number;
  /** The longest an event waits in the buffer before its batch goes out. Default 200 ms. */
  maxDelayMs?: number;
  /** Events held at once (buffered and in flight). Default 10,000. */
  maxBuffered?: number;
  /** When the buffer is full: "block" makes send() wait for room, "drop" refuses the event (counted). Default "block". */
  onFull?: "block" | "drop";
  /** Told of every event Ferry refused or that could not be sent; without it, each is logged by console.warn. */
  onRejected?: (rejection: Rejection) => void;
  /** Attempts per batch before its events fail. Default 10. */
  maxAttempts?: number;
  /** First backoff step; each retry waits a random time up to base × 2^(attempt-1), at least Retry-After. Default 100 ms. */
  backoffBaseMs?: number;
  /** The longest random backoff (a longer Retry-After is still honoured). Default 10 s. */
  backoffMaxMs?: number;
  /** The admin token names the account the events belong to. */
  accountId?: string;
}

/** An event Ferry refused (`errors`, from its 202/422 answer) or that could not be sent (`error`). */
export interface Rejection {
  event: EventInput & { id: string };
  /** Ferry's per-event errors: the event is invalid and resending it will not help. */
  errors?: EventError[];
  /** The final error of its batch (a 4xx other than 408/409/429, or the last one after maxAttempts). */
  error?: FerryError;
}

export interface EventSenderStats {
  /** Waiting for their batch. */
  buffered: number;
  /** In the batch being sent. */
  inFlight: number;
  /** Answered with an id: stored now, or a repeat of an id stored before. */
  acknowledged: number;
  /** Of the acknowledged, those stored by this sender's request (`created: true`). */
  created: number;
  /** Of the acknowledged, repeats of an id already stored (`created: false`): a resent batch, or the caller's own repeat. */
  duplicates: number;
  /** Refused by Ferry, each with its errors. */
  rejected: number;
  /** Not sent: a final error or maxAttempts used up. */
  failed: number;
  /** Refused by send() because the buffer was full ("drop"). */
  dropped: number;
  /** Batches sent again after a retryable answer. */
  retries: number;
  /** Requests sent, retries included. */
  requests: number;
}

interface Item {
  event: EventInput & { id: string };
  /** When it was buffered (ms). */
  at: number;
}

export class EventSenderClosedError extends Error {
  constructor() {
    super("The event sender is closed; create another with ferry.eventSender().");
    this.name = "EventSenderClosedError";
  }
}

export class EventSender {
  readonly #events: Events;
  readonly #maxBatch: number;
  readonly #maxDelayMs: number;
  readonly #maxBuffered: number;
  readonly #onFull: "block" | "drop";
  readonly #onRejected: ((r: Rejection) => void) | undefined;
  readonly #maxAttempts: number;
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #accountId: string | undefined;

  #buffer: Item[] = [];
  #inFlight = 0;
  #closed = false;
  #running = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Events buffered so far, and settled so far (in order: one batch at a time). */
  #enqueued = 0;
  #taken = 0;
  #settled = 0;
  /** Every event enqueued before this count must go out now (flush or close). */
  #flushUntil = 0;
  #settleWaiters: Array<{ target: number; resolve: () => void }> = [];
  #roomWaiters: Array<() => void> = [];
  #stats = { acknowledged: 0, created: 0, duplicates: 0, rejected: 0, failed: 0, dropped: 0, retries: 0, requests: 0 };

  constructor(events: Events, options: EventSenderOptions = {}) {
    this.#events = events;
    this.#maxBatch = positive(options.maxBatch, 100, "maxBatch");
    this.#maxDelayMs = options.maxDelayMs ?? 200;
    this.#maxBuffered = positive(options.maxBuffered, 10_000, "maxBuffered");
    this.#onFull = options.onFull ?? "block";
    this.#onRejected = options.onRejected;
    this.#maxAttempts = positive(options.maxAttempts, 10, "maxAttempts");
    this.#baseMs = options.backoffBaseMs ?? 100;
    this.#capMs = options.backoffMaxMs ?? 10_000;
    this.#accountId = options.accountId;
  }

  /**
   * Buffers the event; resolves true once it is buffered (not yet sent: flush() or close() waits
   * for that), false when it was dropped because the buffer is full in "drop" mode. In "block"
   * mode it waits for room. Rejects with EventSenderClosedError after close().
   */
  async send(event: EventInput): Promise<boolean> {
    if (this.#closed) throw new EventSenderClosedError();
    while (this.#buffer.length + this.#inFlight >= this.#maxBuffered) {
      if (this.#onFull === "drop") {
        this.#stats.dropped++;
        return false;
      }
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
      if (this.#closed) throw new EventSenderClosedError();
    }
    const id = event.id ?? crypto.randomUUID();
    this.#buffer.push({ event: { ...event, id }, at: Date.now() });
    this.#enqueued++;
    this.#kick();
    return true;
  }

  /** Sends everything buffered now; resolves once each of those events is acknowledged, rejected or failed. */
  async flush(): Promise<EventSenderStats> {
    const target = this.#enqueued;
    this.#flushUntil = Math.max(this.#flushUntil, target);
    this.#kick();
    if (this.#settled < target) await new Promise<void>((resolve) => this.#settleWaiters.push({ target, resolve }));
    return this.stats();
  }

  /** Refuses further sends, sends what is buffered, and resolves with the final stats. */
  async close(): Promise<EventSenderStats> {
    this.#closed = true;
    // Senders blocked for room are refused (their send() rejects): nothing of theirs was buffered.
    for (const wake of this.#roomWaiters.splice(0)) wake();
    const stats = await this.flush();
    clearTimeout(this.#timer);
    return stats;
  }

  stats(): EventSenderStats {
    return { buffered: this.#buffer.length, inFlight: this.#inFlight, ...this.#stats };
  }

  /** Starts the send loop unless it runs; arms the timer for the oldest buffered event. */
  #kick(): void {
    if (this.#running) return;
    if (this.#due()) {
      this.#running = true;
      void this.#loop();
      return;
    }
    const oldest = this.#buffer[0];
    if (oldest && this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#kick();
      }, Math.max(0, oldest.at + this.#maxDelayMs - Date.now()));
    }
  }

  #due(): boolean {
    const oldest = this.#buffer[0];
    if (!oldest) return false;
    return this.#buffer.length >= this.#maxBatch || this.#flushUntil > this.#taken || Date.now() - oldest.at >= this.#maxDelayMs;
  }

  async #loop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    try {
      while (this.#due()) {
        const batch = this.#buffer.splice(0, this.#maxBatch);
        this.#taken += batch.length;
        this.#inFlight = batch.length;
        await this.#sendBatch(batch);
        this.#inFlight = 0;
        this.#settle(batch.length);
      }
    } finally {
      this.#running = false;
    }
    this.#kick();
  }

  #settle(count: number): void {
    this.#settled += count;
    for (const wake of this.#roomWaiters.splice(0, count)) wake();
    this.#settleWaiters = this.#settleWaiters.filter((w) => (w.target <= this.#settled ? (w.resolve(), false) : true));
  }

  /** One batch until it is answered, or fails for good. Never throws: every event is accounted for. */
  async #sendBatch(batch: Item[]): Promise<void> {
    const events = batch.map((item) => item.event);
    for (let attempt = 1; ; attempt++) {
      try {
        this.#stats.requests++;
        const result = await this.#events.send(events, this.#accountId === undefined ? {} : { accountId: this.#accountId });
        this.#outcomes(events, result.events);
        return;
      } catch (err) {
        const error = err instanceof FerryError ? err : new FerryNetworkError(String(err), err);
        const perEvent = error.status === 422 && error.code === "invalid_events" ? error.problem["events"] : undefined;
        if (Array.isArray(perEvent)) {
          this.#outcomes(events, perEvent as EventOutcome[]);
          return;
        }
        if (!retryable(error) || attempt >= this.#maxAttempts) {
          for (const event of events) this.#reject({ event, error }, "failed");
          return;
        }
        this.#stats.retries++;
        await sleep(this.#backoff(attempt, error.retryAfterMs));
      }
    }
  }

  #outcomes(events: Array<EventInput & { id: string }>, outcomes: EventOutcome[]): void {
    events.forEach((event, index) => {
      const o = outcomes.find((x) => x.index === index);
      if (o && "id" in o) {
        this.#stats.acknowledged++;
        if (o.created) this.#stats.created++;
        else this.#stats.duplicates++;
      } else if (o && "errors" in o) {
        this.#reject({ event, errors: o.errors }, "rejected");
      } else {
        // Valid but not stored (an atomic batch), or no answer for it: not stored, so say so.
        this.#reject({ event, error: new FerryError(0, { code: "not_stored", detail: "Ferry did not store this event and named no error for it." }) }, "failed");
      }
    });
  }

  #reject(rejection: Rejection, kind: "rejected" | "failed"): void {
    this.#stats[kind]++;
    if (!this.#onRejected) {
      console.warn(`@ferry/client event sender: event ${rejection.event.id} ${kind}: ${rejection.error?.message ?? JSON.stringify(rejection.errors)}`);
      return;
    }
    try {
      this.#onRejected(rejection);
    } catch {
      // The callback's own failure must not stop the sender or the other events' reports.
    }
  }

  /** Full jitter (a random wait up to base × 2^(attempt-1), capped), but never less than Retry-After. */
  #backoff(attempt: number, retryAfterMs: number | undefined): number {
    const jitter = Math.random() * Math.min(this.#capMs, this.#baseMs * 2 ** (attempt - 1));
    return Math.max(jitter, retryAfterMs ?? 0);
  }
}

/** Answers that say the same request may succeed later. */
export function retryable(error: FerryError): boolean {
  if (error instanceof FerryNetworkError) return true;
  if (error.status === 409) return error.code === "idempotency_key_in_use";
  return error.status === 408 || error.status === 429 || error.status === 502 || error.status === 503 || error.status === 504;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!(value >= 1)) throw new RangeError(`${name} must be 1 or more; got ${value}.`);
  return value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
